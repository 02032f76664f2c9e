"""The synthetic scene: deterministic, its ground truth matches its pixels, and it has the events
(crossings, occlusion, leaving and coming back, different speeds) that tracking and re-id need."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from selftrack.core.boxes import iou_matrix
from selftrack.core.errors import ValidationError
from selftrack.synth import Scene, SceneConfig, generate_scene, render_scene_video

KINDS = ["road", "plaza"]


@pytest.fixture(scope="module", params=KINDS)
def scene(request: pytest.FixtureRequest) -> Scene:
    return generate_scene(kind=request.param)


@pytest.fixture(scope="module", params=KINDS)
def clean_scene(request: pytest.FixtureRequest) -> Scene:
    """No noise, no flicker: rendered pixels are exactly background or sprite."""
    return generate_scene(kind=request.param, noise=0.0, flicker=0.0, num_frames=200)


def _inside(scene: Scene, xyxy: np.ndarray, margin: int = 0) -> np.ndarray:
    w, h = scene.size
    return (xyxy[:, 0] > margin) & (xyxy[:, 1] > margin) & (xyxy[:, 2] < w - margin) & (xyxy[:, 3] < h - margin)


def _isolated(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Boxes that no other box of the frame comes within ``margin`` pixels of."""
    grown = boxes + np.array([-margin, -margin, margin, margin])
    near = iou_matrix(grown, grown) > 0
    np.fill_diagonal(near, False)
    return ~near.any(axis=1)


def test_same_config_gives_identical_frames_and_ground_truth() -> None:
    a = generate_scene(kind="plaza", seed=3, num_frames=40)
    b = generate_scene(SceneConfig(kind="plaza", seed=3, num_frames=40))
    assert a.ground_truth.equals(b.ground_truth, atol=0)
    for col in ("frame", "xyxy", "track_id"):
        assert np.array_equal(getattr(a.ground_truth, col), getattr(b.ground_truth, col))
    frames_a, frames_b = list(a.frames()), list(b.frames())
    assert len(frames_a) == 40
    assert all(fa.tobytes() == fb.tobytes() for fa, fb in zip(frames_a, frames_b, strict=True))
    # Random access renders the same bytes as streaming, in any order.
    for i in (39, 0, 17):
        assert a.frame(i).tobytes() == frames_a[i].tobytes()
    other = generate_scene(kind="plaza", seed=4, num_frames=40)
    assert not np.array_equal(other.frame(0), frames_a[0])
    assert not other.ground_truth.equals(a.ground_truth)


def test_frames_are_rgb_uint8_of_the_configured_size(scene: Scene) -> None:
    frame = scene.frame(0)
    assert frame.dtype == np.uint8 and frame.shape == (360, 640, 3)
    assert frame.flags.writeable and scene.frame(0) is not frame


def test_ground_truth_is_valid_and_follows_its_conventions(scene: Scene) -> None:
    gt = scene.ground_truth
    gt.validate()
    cfg = scene.config
    assert gt.canvas == (cfg.width, cfg.height) and gt.num_frames == cfg.num_frames
    assert gt.classes == ({0: "car"} if cfg.kind == "road" else {0: "person"})
    assert set(gt.track_ids.tolist()) == set(range(1, cfg.num_objects + 1))
    # Clipped to the frame, never empty.
    assert (gt.xyxy[:, :2] >= 0).all() and (gt.xyxy[:, 2] <= cfg.width).all() and (gt.xyxy[:, 3] <= cfg.height).all()
    assert (gt.xyxy[:, 2] > gt.xyxy[:, 0]).all() and (gt.xyxy[:, 3] > gt.xyxy[:, 1]).all()
    vis, consider = gt.data["visibility"], gt.data["consider"]
    assert vis.dtype == np.float32 and ((vis >= 0) & (vis <= 1)).all()  # 0: in the frame but hidden
    assert np.array_equal(consider, (vis >= 0.25).astype(np.int8))
    assert (consider == 0).any() and (consider == 1).any()


def test_every_drawn_object_has_a_tight_box(clean_scene: Scene) -> None:
    """Pixels that differ from the background are exactly the objects inside their gt boxes."""
    gt, bg = clean_scene.ground_truth, clean_scene.background.astype(np.int16)
    checked = 0
    for i in range(0, clean_scene.num_frames, 7):
        diff = np.abs(clean_scene.frame(i).astype(np.int16) - bg).max(axis=2) > 0
        boxes = gt.at_frame(i)
        covered = np.zeros_like(diff)
        for x1, y1, x2, y2 in boxes.xyxy.astype(int):
            covered[y1:y2, x1:x2] = True
        assert not (diff & ~covered).any(), f"frame {i}: object pixels outside every ground-truth box"
        good = (boxes.data["visibility"] == 1) & _isolated(boxes.xyxy, 3) & _inside(clean_scene, boxes.xyxy, 3)
        for x1, y1, x2, y2 in boxes.xyxy[good].astype(int):
            region = diff[y1 - 3 : y2 + 3, x1 - 3 : x2 + 3]
            rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
            found = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]) + np.array([x1, y1, x1, y1]) - 3
            assert np.abs(found - [x1, y1, x2, y2]).max() <= 1, f"frame {i}: box {[x1, y1, x2, y2]} vs pixels {found}"
            assert region.mean() > 0.4  # a solid object, not a few stray pixels
            checked += 1
    assert checked >= 20


def test_boxes_are_tight_under_noise_and_flicker(scene: Scene) -> None:
    bg = scene.background.astype(np.int16)
    gt = scene.ground_truth
    checked = 0
    for i in range(5, scene.num_frames, 23):
        diff = np.abs(scene.frame(i).astype(np.int16) - bg).max(axis=2) > 25
        boxes = gt.at_frame(i)
        good = (boxes.data["visibility"] == 1) & _isolated(boxes.xyxy, 3) & _inside(scene, boxes.xyxy, 3)
        for x1, y1, x2, y2 in boxes.xyxy[good].astype(int):
            region = diff[y1 - 3 : y2 + 3, x1 - 3 : x2 + 3]
            rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
            assert abs(cols[0] - 3) <= 1 and abs(rows[0] - 3) <= 1
            assert abs(cols[-1] + 1 - (x2 - x1 + 3)) <= 1 and abs(rows[-1] + 1 - (y2 - y1 + 3)) <= 1
            checked += 1
    assert checked >= 5


def test_objects_keep_their_look_and_visibility_counts_hidden_pixels(clean_scene: Scene) -> None:
    """Inside a box, the object's own pixels are its sprite (as is or mirrored) wherever it is seen,
    and the share of them that show is the recorded visibility.

    Counting matching pixels can only overestimate what shows (an occluder may share a colour, such
    as the outline, at the same spot), so the count is at least the visibility and not far above.
    """
    gt, frames_checked, occluded_checked = clean_scene.ground_truth, 0, 0
    for i in range(0, clean_scene.num_frames, 5):
        frame, boxes = clean_scene.frame(i), gt.at_frame(i)
        for (x1, y1, x2, y2), tid, vis in zip(
            boxes.xyxy.astype(int), boxes.track_id, boxes.data["visibility"], strict=True
        ):
            sprite = clean_scene.sprites[tid - 1]
            if (x2 - x1, y2 - y1) != sprite.size:
                continue  # clipped by the frame edge
            crop = frame[y1:y2, x1:x2]
            shown = max(np.count_nonzero((crop == s.rgb).all(axis=2) & s.alpha) for s in (sprite, sprite.flipped()))
            assert vis - 1e-6 <= shown / sprite.alpha.sum() <= vis + 0.08, f"frame {i}, track {tid}"
            frames_checked += 1
            occluded_checked += vis < 0.9
    assert frames_checked >= 50 and occluded_checked >= 1


def test_lower_object_is_drawn_in_front(scene: Scene) -> None:
    gt = scene.ground_truth
    crossings = 0
    for _, boxes in gt.iter_frames():
        if len(boxes) < 2:
            continue
        iou = iou_matrix(boxes.xyxy, boxes.xyxy)
        np.fill_diagonal(iou, 0)
        for a, b in zip(*np.nonzero(np.triu(iou) > 0.3), strict=True):
            near, far = (a, b) if boxes.xyxy[a, 3] > boxes.xyxy[b, 3] else (b, a)
            if boxes.xyxy[near, 3] == boxes.xyxy[far, 3]:
                continue
            assert (
                boxes.data["visibility"][far] < boxes.data["visibility"][near]
                or not _inside(scene, boxes.xyxy[[near]])[0]
            )
            crossings += 1
    assert crossings >= 1, "no pair of objects crosses with IoU > 0.3"


def test_scene_has_occlusion_reentry_and_different_speeds(scene: Scene) -> None:
    gt = scene.ground_truth
    inside = _inside(scene, gt.xyxy)
    assert (inside & (gt.data["visibility"] < 0.9)).any(), "no object is occluded by another"
    tracks = gt.tracks()
    gaps = {tid: int(np.diff(t.frame).max(initial=1)) - 1 for tid, t in tracks.items()}
    assert sum(g >= 5 for g in gaps.values()) >= 2, f"too few objects leave and come back: {gaps}"
    speeds = []
    for t in tracks.values():
        ok = _inside(scene, t.xyxy, 1)
        centres = (t.xyxy[:, :2] + t.xyxy[:, 2:]) / 2
        step = np.hypot(*np.diff(centres, axis=0).T)[(np.diff(t.frame) == 1) & ok[1:] & ok[:-1]]
        if len(step) >= 5:
            speeds.append(np.median(step))
    assert len(speeds) >= 5 and max(speeds) > 1.5 * min(speeds), speeds


def test_sprites_are_distinct_but_some_pairs_look_alike(scene: Scene) -> None:
    sprites = scene.sprites
    assert len(sprites) == scene.config.num_objects
    for i, a in enumerate(sprites):
        for b in sprites[i + 1 :]:
            assert a.size != b.size or not np.array_equal(a.rgb, b.rgb)
    # The look-alike pairs share their most common colour (body or shirt).
    main = []
    for s in sprites:
        colours, counts = np.unique(s.rgb[s.alpha], axis=0, return_counts=True)
        main.append(tuple(colours[np.argmax(counts)]))
    assert len(set(main)) < len(main)


def test_background_subtraction_detects_the_objects(scene: Scene) -> None:
    """What the demo's weight-free detector does: MOG2 foreground, cleaned, connected components."""
    subtractor = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
    opening, closing = np.ones((3, 3), np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    found = total = 0
    for i, frame in enumerate(itertools.islice(scene.frames(), 200)):
        mask = subtractor.apply(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        if i < 40:  # warm-up: the model has not yet learnt the background
            continue
        mask = cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, opening), cv2.MORPH_CLOSE, closing)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        stats = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= 150]
        dets = np.column_stack([stats[:, 0], stats[:, 1], stats[:, 0] + stats[:, 2], stats[:, 1] + stats[:, 3]])
        gt = scene.ground_truth.at_frame(i)
        gt = gt[gt.data["consider"] == 1]
        total += len(gt)
        if len(gt) and len(dets):
            found += int((iou_matrix(gt.xyxy, dets.astype(np.float64)).max(axis=1) >= 0.5).sum())
    assert total > 300
    assert found / total > 0.7


def test_sizes_scale_with_the_frame() -> None:
    small = generate_scene(num_frames=30).ground_truth
    big = generate_scene(num_frames=30, width=1280, height=720).ground_truth
    assert big.canvas == (1280, 720)
    full = lambda d: d[(d.data["visibility"] == 1)]  # noqa: E731
    ratio = np.median(full(big).xywh[:, 3]) / np.median(full(small).xywh[:, 3])
    assert 1.7 < ratio < 2.3


def test_config_overrides_and_bad_values() -> None:
    scene = generate_scene(SceneConfig(seed=5), num_frames=12)
    assert scene.config.seed == 5 and scene.num_frames == 12 and scene.ground_truth.num_frames == 12
    with pytest.raises(ValidationError, match="num_objects"):
        generate_scene(num_objects=0)
    with pytest.raises(ValidationError, match="width"):
        generate_scene(width=641)
    with pytest.raises(ValidationError, match="colour"):
        generate_scene(colour="red")
    with pytest.raises(ValidationError, match="frame 12 is outside"):
        scene.frame(12)
    assert all(f.description for f in SceneConfig.model_fields.values())


def test_render_scene_video_writes_the_frames(tmp_path) -> None:
    from selftrack.video import VideoReader

    scene = generate_scene(num_frames=15, seed=2)
    info = render_scene_video(scene, tmp_path / "scene.mp4")
    assert (info.width, info.height, info.frame_count) == (640, 360, 15)
    assert info.fps == 10 and info.codec == "h264"
    reader = VideoReader(tmp_path / "scene.mp4")
    try:
        decoded = reader.read_frame(7).astype(np.int16)
    finally:
        reader.close()
    assert np.abs(decoded - scene.frame(7)).mean() < 6  # lossy, but the same picture
