"""The dashboard's detector-training wizards: Train a Model > Object detector (YOLO) and No-label bootstrap.

They need the ultralytics extra, which lives in its own environment (``.venv-yolo``, .ci/run step 3): there
the wizards are driven by clicking and typing, train a tiny model each and the job ends done with the
model in the workspace; in the core environment the cards are shown disabled, saying why.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from selftrack.pipeline import Pipeline
from selftrack.synth import generate_scene, render_scene_video
from selftrack.workspace import DataType, Workspace, import_videos

HAVE_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
LONG = 600_000  # ms: a CPU training job on a busy 2-core machine
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_app(browser, server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_selector("[data-testid=qs-bootstrap]")
    return page, errors


def road_workspace(root: Path) -> Workspace:
    """A fixed camera over a road (generated, with its ground truth as labels) in a fresh workspace."""
    road = generate_scene(width=192, height=108, num_frames=120, num_objects=5, seed=4, fps=10)
    render_scene_video(road, root.parent / "cam.mp4")
    ws = Workspace.init(root)
    import_videos(ws, "videos", [root.parent / "cam.mp4"])
    ws.create_dataset("boxes", DataType.TRACKS)
    ws.put_detections("boxes", "cam", road.ground_truth)
    return ws


def fill(page, values: dict[str, str]) -> None:
    """Set parameters by their path, opening "All parameters" for those not shown first."""
    for path, value in values.items():
        el = page.locator(f"[data-testid=wizard] [data-path='{path}']")
        if not el.is_visible():
            page.click("[data-testid=wizard] summary >> text=All parameters")
        if el.evaluate("e => e.tagName") == "SELECT":
            el.select_option(value)
        else:
            el.fill(value)


def choose_input(page, port: str, value: str) -> None:
    ctl = page.locator(f"[data-testid=wizard-input-{port}]")
    if ctl.evaluate("e => e.tagName") == "SELECT":
        ctl.select_option(value)
    else:  # a variable port: one checkbox per source
        ctl.locator(f"input[value='{value}']").check()


def run_and_wait(page) -> None:
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    page.wait_for_function(
        "() => { const el = document.querySelector('[data-testid=job-state]');"
        " return el && ['done', 'failed'].includes(el.textContent.trim()); }",
        timeout=LONG,
    )


@pytest.mark.skipif(HAVE_ULTRALYTICS, reason="checks the cards shown when the ultralytics extra is missing")
def test_without_the_extra_the_detector_training_cards_are_disabled(browser, live_server, tmp_path: Path):
    page, errors = open_app(browser, live_server())
    for card in ("qs-train-yolo", "qs-bootstrap"):
        assert page.locator(f"[data-testid={card}]").is_disabled()
    page.click("[data-testid=nav-pipeline]")
    page.click("[data-testid=add-node]")
    page.wait_for_selector("[data-testid=op-bootstrap_detector]")
    assert page.locator("[data-testid=op-bootstrap_detector]").is_disabled()
    assert "ultralytics" in page.locator("[data-testid=op-bootstrap_detector]").inner_text()
    assert errors == []


@pytest.mark.ultralytics
@pytest.mark.skipif(not HAVE_ULTRALYTICS, reason="needs the ultralytics extra (.venv-yolo; see .ci/run)")
def test_bootstrap_and_yolo_wizards_train_a_detector_each(browser, live_server, tmp_path: Path):
    ws = road_workspace(tmp_path / "ws")
    page, errors = open_app(browser, live_server(root=ws.root))

    # -- No-label bootstrap: the video is wired by the wizard; a tiny budget
    page.click("[data-testid=qs-bootstrap]")
    assert page.input_value("[data-testid=wizard-input-video]") == "ds:videos"
    fill(page, {"epochs": "1", "image_size": "64", "batch_size": "8", "resize.mode": "keep"})
    fill(
        page,
        {
            "pseudo_labels.class_name": "vehicle",
            "pseudo_labels.skip_start_frames": "10",
            "pseudo_labels.min_track_length": "5",
            "pseudo_labels.frame_stride": "4",
        },
    )
    shot(page, "30-wizard-bootstrap")
    run_and_wait(page)
    shot(page, "31-job-bootstrap")
    assert page.inner_text("[data-testid=job-state]").strip() == "done"
    boot = Pipeline(ws).node("bootstrap-detector")
    model = ws.item(boot.outputs()["model"], "model")
    assert model.format == "onnx" and model.metadata["names"] == ["vehicle"]

    # -- Train a Model > Object detector: video frames and their labels
    page.click("[data-testid=nav-dashboard]")
    page.click("[data-testid=qs-train-yolo]")
    choose_input(page, "images", "ds:videos")
    choose_input(page, "labels", "ds:boxes")
    fill(page, {"epochs": "1", "image_size": "64", "batch_size": "8", "frames_per_video": "16", "resize.mode": "keep"})
    shot(page, "32-wizard-train-yolo")
    run_and_wait(page)
    shot(page, "33-job-train-yolo")
    assert page.inner_text("[data-testid=job-state]").strip() == "done"
    trained = ws.item(Pipeline(ws).node("train-detector").outputs()["model"], "model")
    assert trained.metadata["train_images"] + trained.metadata["val_images"] == 16
    assert errors == []
