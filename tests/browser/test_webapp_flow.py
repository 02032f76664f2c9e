"""A new user does the tutorial in the web app, only by clicking and typing, in Debian's Chromium.

On an empty workspace served by ``selftrack serve``: upload a real video and generate the sample scene,
apply the moving-object detector, train the re-identification model (a small budget) while watching its
loss chart grow, apply the re-id tracker, render, play the rendered video, show the tracks over the
original video at a chosen frame (the pixels on a box's edge have its track's colour, and the video under
them shows that very frame as selftrack decodes it), stop a job, evaluate against the generated ground
truth (the table's HOTA is the one `selftrack eval` prints), and visit the pipeline, datasets, jobs and API
pages (the pipeline and the datasets page show the stopped node's output in the same state). Every page is
saved to ``tests/browser/screenshots/``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from selftrack.render import track_color
from selftrack.video import VideoReader
from selftrack.workspace import Workspace

pytestmark = pytest.mark.realdata

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
"""Every page the web-app tests visit is saved here (git-ignored; README "Web app")."""

LONG = 300_000  # ms: generous bounds for jobs on a busy 2-core machine (they take seconds when idle)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let charts and canvases settle
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def wait_job_state(page, state: str, timeout: int = LONG) -> None:
    page.wait_for_function(
        "s => { const el = document.querySelector('[data-testid=job-state]'); return el && el.textContent.trim() === s; }",
        arg=state,
        timeout=timeout,
    )


def video_frame_shown(page) -> np.ndarray:
    """The item page's <video> frame as the browser shows it (RGB, int16): drawn to a canvas in the page once
    any seek is over, sent back as a lossless PNG."""
    url = page.evaluate(
        """async () => {
          const v = document.querySelector('[data-testid=video]');
          if (v.seeking) await new Promise((r) => v.addEventListener('seeked', r, { once: true }));
          const c = document.createElement('canvas');
          c.width = v.videoWidth;
          c.height = v.videoHeight;
          c.getContext('2d').drawImage(v, 0, 0);
          return c.toDataURL('image/png');
        }"""
    )
    png = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.int16)


def dashboard(page) -> None:
    page.click("[data-testid=nav-dashboard]")
    page.wait_for_selector("[data-testid=card-import]")


def test_the_tutorial_by_clicking(browser, live_server, shared_data: Path):
    server = live_server()
    # Playwright evaluates its wait predicates with eval(), which the app's Content-Security-Policy forbids
    # (script-src 'self'); this context lets the harness in, and the end of the test checks the app's own
    # pages under the policy.
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # -- an empty workspace: the token in the printed URL signs the browser in
    page.goto(server.url)
    assert "token=" not in page.url
    page.wait_for_selector("text=The tracker tutorial")
    shot(page, "01-dashboard-empty")
    page.click("[data-testid=nav-datasets]")
    page.wait_for_selector("text=No datasets yet")
    shot(page, "02-datasets-empty")

    # -- import a real video by upload, then the generated scene with its ground truth
    dashboard(page)
    page.click("[data-testid=qs-import]")
    page.set_input_files("[data-testid=import-files]", str(shared_data / "videos" / "parking_lot_top_down.mp4"))
    shot(page, "03-import-upload")
    page.click("[data-testid=import-go]")
    page.wait_for_selector("[data-testid=import-open-dataset]", timeout=LONG)
    page.click("[data-testid=import-wizard] >> text=Close")
    page.click("[data-testid=qs-sample]")
    page.fill("[data-testid=gen-frames]", "200")
    page.fill("[data-testid=gen-dataset]", "videos")
    page.fill("[data-testid=gen-ground-truth]", "ground-truth")
    shot(page, "04-import-sample-scene")
    page.click("[data-testid=import-go]")
    page.click("[data-testid=import-open-dataset]", timeout=LONG)
    page.wait_for_selector("[data-testid=items-table] >> text=plaza-0")
    page.wait_for_selector("[data-testid=items-table] >> text=parking_lot_top_down")
    shot(page, "05-dataset-videos")

    # -- Apply a Model > Object Detection: the moving-object detector at the videos' own size
    dashboard(page)
    page.click("[data-testid=qs-detect]")
    page.click("[data-testid=choice-motion]")
    page.select_option("[data-testid=wizard] [data-path='resize.mode']", "keep")
    # a value the op's parameter model refuses is marked as it is typed, and the node is not created
    page.fill("[data-testid=wizard] [data-path=confidence_threshold]", "3")
    page.wait_for_selector("[data-testid=wizard] [data-field=confidence_threshold] .err >> text=at most 1")
    page.click("[data-testid=wizard-run]")
    page.wait_for_selector("[data-testid=wizard] .alert.error >> text=need attention")
    shot(page, "06-wizard-detection-invalid")
    page.fill("[data-testid=wizard] [data-path=confidence_threshold]", "0.1")
    shot(page, "06-wizard-detection")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    wait_job_state(page, "done")
    shot(page, "07-job-detection")

    # -- Train a Model > Unsupervised Re-identification, a small budget; the loss chart grows while it trains
    dashboard(page)
    page.click("[data-testid=qs-train-reid]")
    page.fill("[data-testid=wizard] [data-path=stage1_steps]", "150")
    page.fill("[data-testid=wizard] [data-path=stage2_steps]", "20")
    shot(page, "08-wizard-train-reid")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    points = "() => Number((document.querySelector('[data-testid=loss-chart]') || {dataset: {}}).dataset.points || 0)"
    page.wait_for_function(f"({points})() >= 2", timeout=LONG)
    first = page.evaluate(f"({points})()")
    page.wait_for_function(f"({points})() > {first}", timeout=LONG)
    assert page.evaluate(f"({points})()") > first
    shot(page, "09-job-training-loss")
    wait_job_state(page, "done")
    shot(page, "10-job-training-done")

    # -- Apply a Model > Object Tracking: the re-id tracker with the model, videos AND detections wired
    dashboard(page)
    page.click("[data-testid=qs-track]")
    assert page.input_value("[data-testid=wizard-input-detections]").startswith("node:detect")
    assert page.input_value("[data-testid=wizard-input-model]").startswith("node:train-reid")
    # the re-id tracker's parameters come in groups; its score thresholds are unset: they adapt to the detections
    high = page.locator("[data-testid=wizard] [data-path='association.high_score']")
    assert high.input_value() == "" and high.get_attribute("placeholder") == "unset"
    shot(page, "11-wizard-tracking")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    wait_job_state(page, "done")

    # -- Render, then play the rendered video on its item page
    dashboard(page)
    page.click("[data-testid=qs-render]")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    wait_job_state(page, "done")
    page.click("[data-testid=job-output-video]")
    page.click("[data-testid=items-table] >> text=plaza-0")
    page.wait_for_selector("[data-testid=video]")
    page.click("[data-testid=play]")
    page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=video]'); return v && !v.paused && v.currentTime > 0.8; }",
        timeout=60_000,
    )
    state = page.evaluate(
        "() => { const v = document.querySelector('[data-testid=video]'); return [v.error, v.videoWidth]; }"
    )
    assert state == [None, 640]
    shot(page, "12-item-rendered-playing")

    # -- the tracks over the original video at a chosen frame: the box edges have the tracks' colours
    page.click("[data-testid=nav-datasets]")
    page.click("[data-testid=datasets-table] >> text=videos")
    page.click("[data-testid=items-table] >> text=plaza-0")
    page.wait_for_selector("[data-testid=overlays]")
    overlay = page.get_attribute("[data-testid=overlays] input:checked", "data-testid").removeprefix("overlay-")
    assert overlay.startswith("track.tracks@")
    page.wait_for_function("() => document.querySelector('[data-testid=video]').readyState >= 2", timeout=60_000)
    page.fill("[data-testid=frame-input]", "57")
    page.press("[data-testid=frame-input]", "Enter")
    page.wait_for_selector("[data-testid=overlay][data-frame='57']", timeout=60_000)
    page.wait_for_selector("[data-testid=frame-tracks] .swatch")
    shot(page, "13-item-tracks-overlay")
    boxes = page.request.get(f"{server.base}/api/datasets/{overlay}/items/plaza-0/boxes?start=57&count=1").json()
    frame = boxes["frames"]["57"]
    assert frame, "no tracked box at frame 57"
    sx = page.evaluate("() => document.querySelector('[data-testid=overlay]').width") / boxes["canvas"][0]
    checked = 0
    for x1, y1, _x2, y2, tid, _score, _cls in frame:
        px, py = round(x1 * sx), round((y1 + y2) / 2 * sx)
        others = [
            o for o in frame if o[4] != tid and o[0] - 4 <= x1 <= o[2] + 4 and o[1] - 4 <= (y1 + y2) / 2 <= o[3] + 4
        ]
        if others or y2 - y1 < 10:
            continue  # an edge another box overlaps is not a clean probe
        rgb = page.evaluate(
            "([x, y]) => Array.from(document.querySelector('[data-testid=overlay]').getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3))",
            [px, py],
        )
        assert tuple(rgb) == track_color(tid), (tid, rgb, track_color(tid))
        assert page.locator(f"[data-testid=frame-tracks] [data-track='{tid}']").count() == 1
        checked += 1
    assert checked >= 2
    # ... over the frame asked for: the <video>'s pixels, drawn to a canvas in the page once the seek is done,
    # are frame 57 as selftrack.video decodes it, within the browser's colour conversion, and not a neighbour's
    seen = video_frame_shown(page)
    ws = Workspace(server.root)
    with VideoReader(ws.item("videos", "plaza-0").path) as reader:
        decoded = {k: reader.read_frame(k).astype(np.int16) for k in (56, 57, 58)}
    ws.close()
    assert seen.shape == decoded[57].shape
    moving = np.zeros(seen.shape[:2], bool)  # pixels where frame 57 differs from the frames beside it
    for k in (56, 58):
        moving |= np.abs(decoded[k] - decoded[57]).max(axis=2) > 40
    assert moving.sum() > 500, moving.sum()
    error = {k: float(np.abs(seen - frame)[moving].mean()) for k, frame in decoded.items()}
    assert error[57] < 5 and 10 * error[57] < min(error[56], error[58]), error
    assert np.abs(seen - decoded[57]).mean() < 4
    page.click("[data-testid=next-frame]")
    page.wait_for_selector("[data-testid=overlay][data-frame='58']")
    assert page.input_value("[data-testid=frame-input]") == "58"

    # -- stop a job: a long training, stopped from its page
    dashboard(page)
    page.click("[data-testid=qs-train-reid]")
    page.fill("[data-testid=wizard-node-name]", "train-long")
    page.fill("[data-testid=wizard] [data-path=stage1_steps]", "100000")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    wait_job_state(page, "running")
    page.wait_for_function(f"({points})() >= 1", timeout=LONG)
    page.click("[data-testid=job-stop]")
    wait_job_state(page, "stopped", timeout=120_000)
    shot(page, "14-job-stopped")

    # -- evaluate against the generated ground truth: the table's HOTA is `selftrack eval`'s
    dashboard(page)
    page.click("[data-testid=qs-evaluate]")
    assert page.input_value("[data-testid=wizard-input-ground_truth]") == "ds:ground-truth"
    assert page.input_value("[data-testid=wizard-input-tracks]").startswith("node:track")
    shot(page, "15-wizard-evaluate")
    page.click("[data-testid=wizard-run]")
    page.wait_for_url("**/jobs/*")
    wait_job_state(page, "done")
    page.wait_for_selector("[data-testid=metrics-table]")
    page.click("[data-testid=job-output-metrics]")
    cell = page.wait_for_selector("[data-testid=evaluation] tr[data-key=COMBINED] td[data-metric=HOTA]")
    shown = cell.text_content()
    shot(page, "16-evaluation")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "selftrack",
            "eval",
            "--gt",
            "ground-truth",
            "--tracks",
            overlay,
            "--json",
            "-w",
            str(server.root),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown == f"{100 * json.loads(r.stdout)['plaza-0']['HOTA']['HOTA']:.2f}"

    # -- the pipeline the wizards built: graph (drag a node: its position is saved), pane, table
    page.click("[data-testid=nav-pipeline]")
    page.wait_for_selector("[data-testid=graph-node-track]")
    if page.locator("[data-testid=view-graph].on").count() == 0:
        page.click("[data-testid=view-graph]")
    shot(page, "17-pipeline-graph")
    box = page.locator("[data-testid=graph-node-render]").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + 140, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)
    moved = page.evaluate("() => fetch('/api/nodes/render').then(r => r.json()).then(n => n.position)")
    assert moved is not None and moved["y"] > 0
    # the stopped training's node, as the Datasets page shows its output (checked there below)
    stopped_state = page.get_attribute("[data-testid=graph-node-train-long]", "data-state")
    assert stopped_state in ("partial", "not computed"), stopped_state
    page.click("[data-testid=graph-node-track]")
    page.wait_for_selector("[data-testid=node-pane]")
    assert page.input_value("[data-testid=pane-input-detections]").startswith("node:detect")
    shot(page, "18-pipeline-node-pane")
    page.click("[data-testid=view-table]")
    page.wait_for_selector("[data-testid=pipeline-table]")
    shot(page, "19-pipeline-table")
    page.click("[data-testid=view-graph]")

    for nav, wait, name in (
        ("datasets", "[data-testid=datasets-table]", "20-datasets"),
        ("jobs", "[data-testid=jobs-table]", "21-jobs"),
        ("api", 'text="/api/datasets"', "22-api-reference"),
    ):
        page.click(f"[data-testid=nav-{nav}]")
        page.wait_for_selector(wait)
        shot(page, name)
        if nav == "datasets":  # the two pages agree on the stopped node's output
            row = page.locator("[data-testid=datasets-table] tr", has_text="train-long.model@")
            assert row.locator("[data-testid=dataset-state]").inner_text().strip() == stopped_state
    # a detections item page: its boxes as a table, and buttons to play them on each video, inside their card
    # (a long dataset name wraps instead of running off the card)
    page.click("[data-testid=nav-datasets]")
    page.click("[data-testid=datasets-table] >> text=detect.detections")
    page.click("[data-testid=items-table] >> text=plaza-0")
    page.wait_for_selector("[data-testid^=show-on-]")
    shot(page, "23-item-detections")
    spill = page.evaluate(
        "() => Array.from(document.querySelectorAll('[data-testid^=show-on-]')).filter(b =>"
        " b.getBoundingClientRect().right > b.closest('.card').getBoundingClientRect().right).map(b => b.textContent)"
    )
    assert page.locator("[data-testid^=show-on-]").count() == 2 and spill == [], spill
    assert not errors, errors
    context.close()

    # the app's pages under its Content-Security-Policy: nothing blocked, no script errors
    strict = browser.new_context(viewport={"width": 1280, "height": 800})
    page = strict.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server.url)
    for path, wait in (
        ("/", "[data-testid=card-import]"),
        ("/pipeline", "[data-testid=graph-node-track]"),
        ("/jobs", "[data-testid=jobs-table]"),
        ("/datasets/videos/items/plaza-0", "[data-testid=overlay]"),
    ):
        page.goto(server.base + path)
        page.wait_for_selector(wait)
        page.wait_for_timeout(500)
    assert not problems, problems
    strict.close()
