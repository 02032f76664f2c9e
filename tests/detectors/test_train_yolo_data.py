"""The parts of detector training that need no ultralytics: pseudo-labels, the YOLO dataset, the offline set-up.

These run in the core environment (no skips): the ultralytics extra only does the training itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from selftrack.core import Detections
from selftrack.core.boxes import iou_matrix
from selftrack.core.errors import ValidationError
from selftrack.detectors.pseudo_labels import (
    REASONS,
    PseudoLabelParams,
    choose_frames,
    filter_consistent,
    pseudo_label_video,
    pseudo_labels_from_motion,
)
from selftrack.detectors.train_yolo import YoloTrainParams, model_source
from selftrack.detectors.ultralytics_setup import FONT_NAMES, configure_ultralytics_offline, find_font
from selftrack.detectors.yolo_dataset import (
    IGNORE_FILL,
    TrainingImage,
    class_indices,
    class_names,
    export_yolo_dataset,
    mask_ignored,
    split_groups,
    video_training_images,
)
from selftrack.formats import read_yolo
from selftrack.synth import generate_scene, render_scene_video
from selftrack.video import ResizeSpec, VideoReader


def _track(frames: range, x0: float, y: float, w: float, h: float, track_id: int, step: float = 4.0) -> Detections:
    f = np.asarray(frames)
    x = x0 + step * (f - f[0])
    return Detections.create(f, np.stack([x, np.full_like(x, y), x + w, np.full_like(x, y + h)], 1), 0.8, 0, track_id)


# ---------------------------------------------------------------------------------------------- pseudo-labels
def test_filter_keeps_steady_tracks_and_names_each_rejection():
    steady = _track(range(0, 30), 0, 10, 20, 12, 1)
    merged = _track(range(0, 30), 0, 60, 20, 12, 2)
    wide = merged.xyxy.copy()
    wide[14:17, 2] += 25  # three frames where the blob swallowed a neighbour: more than twice as wide
    merged = merged.replace(xyxy=wide)
    short = _track(range(5, 9), 100, 100, 20, 12, 3)
    loose = _track(range(0, 30), 150, 10, 20, 12, 4).replace(score=np.full(30, 0.1, np.float32))
    tiny = _track(range(0, 30), 150, 100, 3, 12, 5)
    noise = Detections.create([7], [[200, 50, 230, 70]], 0.9, 0, -1)
    overlay = _track(range(0, 30), 100, 150, 40, 12, 6, step=0.5)  # appears and stays: 15 px in 30 frames
    motion = Detections.concat([steady, merged, short, loose, tiny, noise, overlay]).replace(num_frames=30)
    reason = filter_consistent(motion, PseudoLabelParams(min_track_length=10, min_fill=0.3, min_side=6))
    by_track = {t: reason[motion.track_id == t] for t in (1, 2, 3, 4, 5, 6, -1)}
    name = {i: n for i, n in enumerate(REASONS)}
    assert (by_track[1] == 0).all()
    assert [name[r] for r in by_track[2][13:18]] == ["kept", "unstable_size", "unstable_size", "unstable_size", "kept"]
    assert (np.delete(by_track[2], [14, 15, 16]) == 0).all()
    assert {name[r] for r in by_track[3]} == {"short_track"}
    assert {name[r] for r in by_track[4]} == {"low_fill"}
    assert {name[r] for r in by_track[5]} == {"too_small"}
    assert {name[r] for r in by_track[-1]} == {"untracked"}
    assert {name[r] for r in by_track[6]} == {"background"}  # appeared in place and stayed: a negative
    moving = filter_consistent(motion, PseudoLabelParams(min_track_length=10, min_travel=0.3))
    assert (moving[motion.track_id == 6] == 0).all()  # 15 px is more than 0.3 x its 40 px size
    off = filter_consistent(motion, PseudoLabelParams(min_track_length=10, max_background_path=0))
    assert {name[r] for r in off[motion.track_id == 6]} == {"static"}
    assert np.array_equal(np.delete(off, motion.track_id == 6), np.delete(reason, motion.track_id == 6))


def _still(frames: range, box: list[float], track_id: int, wobble: float = 0.0) -> Detections:
    """A motionless track; ``wobble``: its box jumps this many px left and right every frame."""
    f = np.asarray(frames)
    xyxy = np.tile(np.asarray(box, float), (len(f), 1))
    xyxy[:, [0, 2]] += (wobble * (-1) ** np.arange(len(f)))[:, None]
    return Detections.create(f, xyxy, 0.8, 0, track_id)


def test_static_regions_that_never_moved_are_background_and_stopped_vehicles_stay_painted():
    name = dict(enumerate(REASONS))
    caption = _still(range(10, 80), [100, 20, 160, 32], 1)  # appears in place and stays
    arriving = _track(range(0, 30), 10, 150, 40, 20, 2, step=4.0)  # drives in and stops at x = 126
    stopped = _still(range(33, 80), [128, 150, 168, 170], 3)  # a new track where the moving one ended
    brief = _still(range(12, 27), [30, 60, 60, 80], 4)  # 15 boxes: too little evidence
    wandering = _still(range(35, 80), [200, 100, 240, 120], 5, wobble=3.0)  # 6 px a frame: a path of 6.6 x its size
    at_edge = _still(range(35, 80), [0, 100, 30, 120], 6)  # touches the left edge
    merged = caption.xyxy.copy()
    merged[[20, 21], 3] = 50  # two frames where a passing car merged with the caption: 30 px high, not 12
    caption = caption.replace(xyxy=merged)
    motion = Detections.concat([caption, arriving, stopped, brief, wandering, at_edge]).replace(
        num_frames=80, canvas=(320, 200)
    )
    params = PseudoLabelParams(min_track_length=10)
    reason = filter_consistent(motion, params)
    by_track = {t: [name[r] for r in reason[motion.track_id == t]] for t in range(1, 7)}
    assert by_track[1] == ["background"] * 20 + ["unstable_size"] * 2 + ["background"] * 48
    assert set(by_track[2]) == {"kept"} and set(by_track[3]) == {"static"}
    assert set(by_track[4]) == set(by_track[5]) == set(by_track[6]) == {"static"}
    # without the moving track before it, the stopped one is a region that appeared in place
    alone = motion[motion.track_id != 2]
    assert {name[r] for r in filter_consistent(alone, params)[alone.track_id == 3]} == {"background"}
    # ... and a moving track that ended longer ago than the lookback does not count
    late = filter_consistent(motion, params.model_copy(update={"background_lookback": 2}))
    assert {name[r] for r in late[motion.track_id == 3]} == {"background"}
    # shorter tracks, or longer paths, become background when the limits allow them; the edge never does
    lenient = filter_consistent(
        motion, params.model_copy(update={"min_background_length": 15, "max_background_path": 8})
    )
    assert {name[r] for r in lenient[np.isin(motion.track_id, [4, 5])]} == {"background"}
    assert {name[r] for r in lenient[motion.track_id == 6]} == {"static"}

    settings = params.model_copy(update={"skip_start_frames": 0})
    pl = pseudo_labels_from_motion(motion, settings)
    assert pl.stats["background"] == len(pl.background()) and sum(pl.stats[r] for r in REASONS) == len(motion)
    # SORT splits the caption's track where the car merged with it; the second part is not taken for a
    # stopped object (what was there before it is the caption itself): the caption, all but SORT's
    # tentative first boxes of each part and the merged ones, is background
    assert (pl.background().xyxy[:, :3] == [100, 20, 160]).all() and len(pl.background()) >= 60
    assert not np.isin(pl.ignored().data["reason"], [REASONS.index("kept"), REASONS.index("background")]).any()
    labels, ignored = pl.frame_boxes(50)  # the caption at frame 50 is neither a label nor painted out
    assert len(labels) == 0 and len(ignored) == 3  # the stopped car, the wandering blob, the box at the edge
    # background boxes are not doubt: frame 20 (a label, a doubtful box, the caption) is usable, as it was
    # not when the caption was painted out
    painted = pseudo_labels_from_motion(motion, settings.model_copy(update={"max_background_path": 0}))
    assert pl.usable[20] and not painted.usable[20]


def test_boxes_at_the_frame_edge_are_ignored():
    entering = _track(range(0, 20), -30, 50, 40, 20, 1, step=5.0)  # x1 < 0 for 6 frames, then inside
    entering = entering.replace(xyxy=np.clip(entering.xyxy, 0, None), canvas=(200, 100), num_frames=20)
    reason = filter_consistent(entering, PseudoLabelParams(min_track_length=5, max_size_change=10))
    at_edge = np.array([REASONS[r] for r in reason]) == "at_edge"
    assert at_edge.tolist() == (entering.xyxy[:, 0] < 2).tolist() and at_edge[:6].all() and not at_edge[7:].any()
    none = filter_consistent(entering, PseudoLabelParams(min_track_length=5, max_size_change=10, edge_margin=0))
    assert (none == 0).all()


def test_filter_judges_each_track_on_its_own_boxes():
    a = _track(range(0, 40), 0, 10, 20, 12, 1)
    b = _track(range(10, 25), 0, 60, 30, 20, 2)
    b = b.replace(xyxy=b.xyxy * np.r_[1, 1, 1, 1] + np.linspace(0, 8, len(b))[:, None] * np.r_[0, 0, 1, 1])  # grows
    both = Detections.concat([a, b])
    params = PseudoLabelParams(min_track_length=5)
    together = filter_consistent(both, params)
    assert np.array_equal(together[both.track_id == 1], filter_consistent(a, params))
    assert np.array_equal(together[both.track_id == 2], filter_consistent(b, params))
    assert (together == 0).all()  # gradual growth (perspective) is not instability


def test_frames_with_mostly_ignored_boxes_are_not_used_and_frames_are_spread():
    steady = _track(range(0, 60), 0, 10, 20, 12, 1, step=1.0)
    noise = Detections.create(
        [20, 20, 21, 40], [[200, 50, 230, 70], [100, 80, 130, 95], [10, 80, 30, 95], [60, 90, 80, 99]], 0.9
    )
    motion = Detections.concat([steady, noise]).replace(num_frames=60)
    pl = pseudo_labels_from_motion(
        motion, PseudoLabelParams(min_track_length=5, skip_start_frames=5, frame_stride=1, max_frames=1000)
    )
    assert not pl.usable[:5].any()
    assert not pl.usable[20]  # 2 of 3 boxes ignored
    assert pl.usable[21] and pl.usable[40]  # 1 of 2: at the default limit, half
    assert pl.usable[10] and pl.usable[30]
    strict = pseudo_labels_from_motion(
        motion, PseudoLabelParams(min_track_length=5, skip_start_frames=5, max_rejected_fraction=0.34)
    )
    assert not strict.usable[21] and not strict.usable[40] and strict.usable[30]
    assert pl.stats["motion_boxes"] == len(steady) + len(noise)
    assert sum(pl.stats[r] for r in REASONS) == pl.stats["motion_boxes"]
    assert len(pl.labels) == pl.stats["kept"] and set(pl.labels.classes.values()) == {"object"}
    # the ignored boxes of a frame are exactly the motion boxes that are not labels
    labels, ignored = pl.frame_boxes(20)
    assert len(labels) == 1 and len(ignored) == 2


def test_choose_frames_respects_stride_and_cap():
    usable = np.zeros(1000, bool)
    usable[100:900] = True
    usable[[3, 4, 5]] = True
    frames = choose_frames(usable, stride=7, max_frames=1000)
    assert usable[frames].all() and np.diff(frames).min() >= 7
    assert frames[0] == 3 and frames[1] == 100
    capped = choose_frames(usable, stride=7, max_frames=20)
    assert len(capped) == 20 and set(capped) <= set(frames)
    assert capped[0] == frames[0] and capped[-1] == frames[-1]  # spread over the whole video


def test_pseudo_labels_of_a_synthetic_road_match_the_cars(tmp_path: Path):
    scene = generate_scene(width=320, height=180, num_frames=150, num_objects=6, seed=3, fps=10)
    video = tmp_path / "road.mp4"
    render_scene_video(scene, video)
    pl = pseudo_label_video(
        video, PseudoLabelParams(class_name="car", skip_start_frames=10, min_track_length=5, frame_stride=3)
    )
    truth = scene.ground_truth

    def precision(det: Detections) -> float:
        hits = 0
        for f in np.unique(det.frame):
            gt = truth.at_frame(int(f)).xyxy
            if len(gt):
                hits += int((iou_matrix(det.at_frame(int(f)).xyxy, gt).max(axis=1) >= 0.5).sum())
        return hits / max(1, len(det))

    assert pl.labels.canvas == (320, 180) and pl.labels.classes == {0: "car"}
    assert len(pl.frames) >= 20 and pl.usable[pl.frames].all()
    kept, everything, ignored = precision(pl.labels), precision(pl.motion), precision(pl.ignored())
    assert kept >= 0.9 and kept > everything > ignored


CAPTION_FROM, CAPTION_BOX = 505, np.array([0.0, 78, 82, 94])
"""highway_cctv.avi shows a "PEDESTRIAN ALARM" caption from frame 505 on, in this box (see the bootstrap benchmark)."""


@pytest.fixture(scope="module")
def cctv_motion(shared_data: Path) -> tuple[Path, Detections]:
    from selftrack.detectors import MotionDetector, detect_video

    path = shared_data / "videos" / "highway_cctv.avi"
    return path, detect_video(MotionDetector(), path)


def _inside(boxes: np.ndarray, region: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(boxes[:, :2], region[:2]), np.minimum(boxes[:, 2:], region[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    return inter / np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-9)


def test_the_on_screen_caption_of_a_real_camera_is_background_and_passing_cars_stay_labels(cctv_motion):
    path, motion = cctv_motion
    pl = pseudo_labels_from_motion(motion, PseudoLabelParams())
    reason = np.array([REASONS[r] for r in pl.motion.data["reason"]])
    on_caption = _inside(pl.motion.xyxy, CAPTION_BOX) >= 0.9
    new = on_caption & (pl.motion.frame >= CAPTION_FROM) & (pl.motion.frame < CAPTION_FROM + 60)
    assert new.sum() >= 20 and set(reason[new]) == {"background"}
    assert "background" not in set(reason[~new])  # its other static tracks touch the edge or follow moving ones
    # the rule only turns painted-out static boxes into background: every label stays, cars crossing the caption too
    off = pseudo_labels_from_motion(motion, PseudoLabelParams(max_background_path=0))
    assert np.array_equal(off.motion.data["reason"] == 0, pl.motion.data["reason"] == 0)
    changed = pl.motion.data["reason"] != off.motion.data["reason"]
    assert {REASONS[r] for r in off.motion.data["reason"][changed]} == {"static"} and "background" in reason[changed]
    crossing = (_inside(pl.labels.xyxy, CAPTION_BOX) > 0) & (pl.labels.frame >= CAPTION_FROM + 60)
    assert crossing.any()
    # in a training image the caption stays as it is (a negative); with the rule off it was painted grey
    frame = int(pl.motion.frame[new][len(pl.motion.frame[new]) // 2])
    x1, y1, x2, y2 = pl.background().at_frame(frame).xyxy[0].round().astype(int)
    images = {
        key: next(video_training_images(path, p.labels, [frame], ["object"], prefix="cctv", ignore=p.ignored()))
        for key, p in (("new", pl), ("off", off))
    }
    with VideoReader(path) as reader:
        raw = reader.read_frame(frame)
    assert np.array_equal(images["new"].image[y1:y2, x1:x2], raw[y1:y2, x1:x2])
    assert (images["off"].image[y1:y2, x1:x2] == IGNORE_FILL).all()


# ---------------------------------------------------------------------------------------------- dataset export
def test_mask_ignored_paints_doubt_but_not_labels():
    image = np.full((50, 80, 3), 7, np.uint8)
    out = mask_ignored(image, np.array([[10, 10, 40, 30]]), np.array([[30, 20, 60, 45]]), pad=2)
    assert (out[8:32, 8:30] == IGNORE_FILL).all()  # ignored box grown by 2 px
    assert (out[20:45, 30:60] == 7).all()  # the label wins where they overlap
    assert (out[35:, :25] == 7).all() and (image == 7).all()  # elsewhere untouched; input not modified


def test_split_groups_keeps_groups_together():
    groups = [f"g{i // 5}" for i in range(50)]
    is_val = split_groups(groups, 20, seed=1)
    assert 10 <= is_val.sum() < 20
    for g in set(groups):
        members = is_val[np.array(groups) == g]
        assert members.all() or not members.any()
    assert not split_groups(["a"] * 10, 20, seed=0).any()  # one group: nothing can be held out
    assert split_groups(["a", "b"], 1, seed=0).sum() == 1  # at least one held out, at least one kept
    assert np.array_equal(is_val, split_groups(groups, 20, seed=1))


def test_export_writes_a_yolo_dataset_that_reads_back(tmp_path: Path):
    rng = np.random.default_rng(0)
    images = []
    for i in range(10):
        boxes = np.array([[5.0 + i, 6, 30, 40], [50, 10, 79.5, 59.5], [-4, 20, 10, 30]])
        pixels = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        images.append(TrainingImage(f"img{i}", boxes, np.array([0, 1, 1]), (80, 60), pixels, group=f"g{i // 2}"))
    png = tmp_path / "extra.png"
    cv2.imwrite(str(png), np.zeros((60, 80, 3), np.uint8))
    images.append(TrainingImage("from_file", np.zeros((0, 4)), np.zeros(0), (80, 60), path=png))
    ds = export_yolo_dataset(images, tmp_path / "ds", ["car", "person"], val_percent=20, seed=0)
    assert len(ds.train) + len(ds.val) == 11 and 2 <= len(ds.val) <= 4
    assert ds.num_boxes == 30  # the box at x=-4 is clipped, not dropped
    data = yaml.safe_load(ds.data_yaml.read_text())
    assert data["names"] == {0: "car", 1: "person"} and Path(data["path"]) == ds.root
    assert (ds.root / data["val"]).is_dir() and not ds.val_is_train
    assert (ds.root / "images" / "train" / "from_file.png").is_file() or (
        ds.root / "images" / "val" / "from_file.png"
    ).is_file()
    for split in ("train", "val"):
        back = read_yolo(ds.root / "labels" / split, ds.root / "images" / split, names=["car", "person"])
        for key, det in back.images.items():
            if key == "from_file":
                assert len(det) == 0
                continue
            i = int(key[3:])
            assert det.canvas == (80, 60)
            expected = np.array([[5.0 + i, 6, 30, 40], [50, 10, 79.5, 59.5], [0, 20, 10, 30]])
            np.testing.assert_allclose(det.xyxy, expected, atol=1e-4)
            assert det.class_id.tolist() == [0, 1, 1]
    # images of a group landed on the same side
    val = set(ds.val)
    for g in range(5):
        pair = {f"img{2 * g}", f"img{2 * g + 1}"}
        assert pair <= val or not (pair & val)


def test_export_refuses_bad_input(tmp_path: Path):
    px = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValidationError, match=r"class index outside 0\.\.0"):
        export_yolo_dataset(
            [TrainingImage("a", np.array([[0, 0, 5, 5]]), np.array([1]), (10, 10), px)], tmp_path / "a", ["x"]
        )
    with pytest.raises(ValidationError, match="duplicated"):
        export_yolo_dataset(
            [TrainingImage("a", np.zeros((0, 4)), np.zeros(0), (10, 10), px)] * 2, tmp_path / "b", ["x"]
        )
    with pytest.raises(ValidationError, match="neither pixels nor a file"):
        export_yolo_dataset([TrainingImage("a", np.zeros((0, 4)), np.zeros(0), (10, 10))], tmp_path / "c", ["x"])
    with pytest.raises(ValidationError, match="no training images"):
        export_yolo_dataset([], tmp_path / "d", ["x"])
    one = export_yolo_dataset([TrainingImage("a", np.zeros((0, 4)), np.zeros(0), (10, 10), px)], tmp_path / "e", ["x"])
    assert one.val_is_train and yaml.safe_load(one.data_yaml.read_text())["val"] == "images/train"


def test_class_names_match_by_name_across_items():
    a = Detections.create([0, 0], [[0, 0, 1, 1]] * 2, class_id=[3, 1], classes={1: "person", 3: "car"})
    b = Detections.create([0, 0], [[0, 0, 1, 1]] * 2, class_id=[0, 7], classes={0: "car", 7: "bus"})
    names = class_names([a, b])
    assert names == ["car", "person", "bus"]
    assert class_indices(a, names).tolist() == [0, 1] and class_indices(b, names).tolist() == [0, 2]
    assert class_indices(b, ["bus"]).tolist() == [-1, 0]
    assert class_names([a, b], ["bus", "car", "bus"]) == ["bus", "car"]


def test_video_training_images_move_boxes_to_the_decoded_size(tmp_path: Path):
    scene = generate_scene(width=160, height=96, num_frames=20, num_objects=3, seed=0, fps=10)
    video = tmp_path / "v.mp4"
    render_scene_video(scene, video)
    truth = scene.ground_truth
    half = truth.rescale((80, 48))
    ignore = Detections.create([4], [[0, 0, 10, 10]], canvas=(80, 48))
    frames = [12, 4, 4]
    out = list(
        video_training_images(
            video,
            half,
            frames,
            ["car"],
            prefix="cam 1",
            resize=ResizeSpec(mode="fixed", width=160, height=96),
            ignore=ignore,
        )
    )
    assert [img.name for img in out] == ["cam_1_000004", "cam_1_000012"]
    assert out[0].group == out[1].group == "cam 1:0"
    with VideoReader(video) as reader:
        for img, f in zip(out, (4, 12), strict=True):
            np.testing.assert_allclose(img.boxes, truth.at_frame(f).xyxy)
            assert img.size == (160, 96) and (img.classes == 0).all()
            if f == 12:
                assert np.array_equal(img.image, reader.read_frame(f))
    painted = out[0].image[:20, :20]
    labelled = np.zeros((96, 160), bool)
    for x1, y1, x2, y2 in truth.at_frame(4).xyxy.astype(int):
        labelled[y1:y2, x1:x2] = True
    assert (painted[~labelled[:20, :20]] == IGNORE_FILL).all()


# ---------------------------------------------------------------------------------------------- offline set-up
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_offline_setup_sets_the_environment_and_fonts(tmp_path: Path, clean_env: pytest.MonkeyPatch):
    clean_env.setenv("YOLO_OFFLINE", "0")  # a user's setting does not turn the network back on
    clean_env.setenv("YOLO_AUTOINSTALL", "1")
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings = configure_ultralytics_offline()
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    assert Path(os.environ["YOLO_CONFIG_DIR"]) == tmp_path / "cache" / "selftrack" / "ultralytics"
    assert settings == tmp_path / "cache" / "selftrack" / "ultralytics" / "Ultralytics"
    font = find_font()
    for name in FONT_NAMES:
        copied = settings / name
        assert copied.read_bytes() == font.read_bytes()
        assert copied.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true", b"OTTO")  # a TrueType/OpenType file
    # a folder the user chose is kept, and a second call is harmless
    clean_env.setenv("YOLO_CONFIG_DIR", str(tmp_path / "mine"))
    assert configure_ultralytics_offline() == tmp_path / "mine" / "Ultralytics"
    assert configure_ultralytics_offline() == tmp_path / "mine" / "Ultralytics"
    assert all((tmp_path / "mine" / "Ultralytics" / n).is_file() for n in FONT_NAMES)


def test_model_source_never_downloads(tmp_path: Path):
    assert model_source(YoloTrainParams(architecture="yolov8", model_size="s"), None) == "yolov8s.yaml"
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        model_source(YoloTrainParams(), tmp_path / "yolo11n.pt")
    bad = tmp_path / "weights.onnx"
    bad.write_bytes(b"x")
    with pytest.raises(ValidationError, match=r"\.pt weights or a model \.yaml"):
        model_source(YoloTrainParams(), bad)
    with pytest.raises(ValueError, match="multiple of 32"):
        YoloTrainParams(image_size=100)
