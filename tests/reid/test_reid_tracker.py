"""The re-id tracker: valid tracks, appearance that decides ambiguous matches, ``min_iou`` honoured,
re-linking and stitching by appearance, UNS20's inference, and the streaming entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.metrics import evaluate
from selftrack.reid import (
    ReidArch,
    ReidModel,
    ReidNet,
    ReidTracker,
    ReidTrackerParams,
    ReidTrainParams,
    colour_video,
    embed_video,
    track_with_reid,
    train_reid,
)
from selftrack.reid.colour import COLOUR_DIM
from selftrack.synth import SceneConfig, generate_scene, render_scene_video


def _cosine_model(spatial: bool = False) -> ReidModel:
    """An untrained model whose appearance matcher is a cosine similarity (scale 10, bias -5):
    with hand-made appearance vectors, identical vectors give logit 5 and orthogonal ones -5."""
    torch.manual_seed(0)
    arch = ReidArch(crop_size=16, widths=(4, 4, 4, 4), matcher="cosine")
    net = ReidNet(arch).eval()
    stages = ["appearance", "spatial"] if spatial else ["appearance"]
    return ReidModel(net=net, arch=arch, stages=stages)


def _features(labels: list[int], dim: int = 64) -> np.ndarray:
    """One-hot appearance vector per box, by identity label: ``(n, 1 member, dim)``."""
    out = np.zeros((len(labels), 1, dim), dtype=np.float32)
    out[np.arange(len(labels)), 0, labels] = 1.0
    return out


def _swap_scene(jump: bool = False) -> tuple[Detections, np.ndarray, np.ndarray]:
    """Two people walk towards each other and pass while both are hidden (frames 6 and 7).

    When they reappear each one stands close to where the *other* one's track predicts (IoU about
    0.8), so motion alone swaps them; appearance says who is who. With ``jump`` they reappear far
    from every prediction (no overlap at all), so only appearance can link them again.
    """
    frames, boxes, labels = [], [], []
    for f in range(6):
        frames += [f, f]
        boxes += [[100 + 10 * f, 50, 140 + 10 * f, 130], [300 - 10 * f, 50, 340 - 10 * f, 130]]
        labels += [0, 1]
    for f in range(8, 16):
        k = f - 8
        a, b = (50 + 10 * k, 400 - 10 * k) if jump else (215 + 10 * k, 185 - 10 * k)
        frames += [f, f]
        boxes += [[a, 50, a + 40, 130], [b, 50, b + 40, 130]]
        labels += [0, 1]
    det = Detections.create(frames, boxes, 0.9, canvas=(640, 360), num_frames=16)
    return det, _features(labels), np.asarray(labels)


def _identities_consistent(out: Detections, labels_by_row: dict[tuple[int, tuple], int]) -> bool:
    for track in out.tracks().values():
        seen = {labels_by_row[(int(f), tuple(np.round(b, 3)))] for f, b in zip(track.frame, track.xyxy, strict=True)}
        if len(seen) > 1:
            return False
    return True


def test_ids_are_unique_per_frame_and_tracks_valid() -> None:
    det, feats, _ = _swap_scene()
    out = ReidTracker(_cosine_model(), max_interpolation_gap=0, min_track_length=0, output_box="detection").track(
        det, feats, fps=10.0
    )
    out.validate()  # an id twice in one frame would raise
    assert (out.track_id >= 1).all()
    assert len(out) == len(det)  # every box is output once
    for f in range(16):
        ids = out.at_frame(f).track_id
        assert len(ids) == len(set(ids.tolist()))


def test_appearance_decides_who_is_who_and_min_iou_is_honoured() -> None:
    det, feats, labels = _swap_scene()
    by_row = {(int(f), tuple(np.round(b, 3))): int(lab) for f, b, lab in zip(det.frame, det.xyxy, labels, strict=True)}
    common = {
        "max_interpolation_gap": 0,
        "min_track_length": 0,
        "output_box": "detection",
        "relink_max_age": 0,
        "stitch_max_seconds": 0,
    }
    # motion alone (or appearance that may only reorder overlapping pairs) follows the wrong people
    motion = ReidTracker(None, min_iou=0.0, max_age=5, **common).track(det)
    assert len(motion.track_ids) == 2 and not _identities_consistent(motion, by_row)
    # min_iou=0: appearance may link boxes that do not overlap the prediction, and gets it right
    reid = ReidTracker(_cosine_model(), min_iou=0.0, max_age=5, reid_weight=2.0, **common).track(det, feats)
    assert len(reid.track_ids) == 2 and _identities_consistent(reid, by_row)
    # a strict min_iou forbids those links: the reappearing people start new tracks
    strict = ReidTracker(_cosine_model(), min_iou=0.9, max_age=5, reid_weight=2.0, **common).track(det, feats)
    assert len(strict.track_ids) > 2 and _identities_consistent(strict, by_row)


def test_relinking_and_offline_stitching_join_fragments_by_appearance() -> None:
    det, feats, labels = _swap_scene(jump=True)
    by_row = {(int(f), tuple(np.round(b, 3))): int(lab) for f, b, lab in zip(det.frame, det.xyxy, labels, strict=True)}
    common = {
        "max_interpolation_gap": 0,
        "min_track_length": 0,
        "output_box": "detection",
        "max_age": 1,
        "stitch_max_seconds": 0,
    }
    cut = ReidTracker(_cosine_model(), relink_max_age=0, **common).track(det, feats)
    assert len(cut.track_ids) == 4  # everyone restarts after the gap
    relinked = ReidTracker(_cosine_model(), relink_max_age=10, relink_speed=3.0, **common).track(det, feats)
    assert len(relinked.track_ids) == 2 and _identities_consistent(relinked, by_row)
    # the re-linking gate is spatial: people may not have moved farther than relink_speed allows
    gated = ReidTracker(_cosine_model(), relink_max_age=10, relink_speed=0.05, **common).track(det, feats)
    assert len(gated.track_ids) == 4
    stitched = ReidTracker(_cosine_model(), relink_max_age=0, stitch_max_gap=10, stitch_speed=30.0, **common).track(
        det, feats
    )
    assert len(stitched.track_ids) == 2 and _identities_consistent(stitched, by_row)
    # stitching's gate is spatial too: a fragment lost inside the view continues near where it was heading
    near_only = ReidTracker(_cosine_model(), relink_max_age=0, stitch_max_gap=10, stitch_speed=1.0, **common)
    assert len(near_only.track(det, feats).track_ids) == 4


def test_uns20_inference_produces_valid_tracks() -> None:
    det, feats, _ = _swap_scene()
    tracker = ReidTracker(_cosine_model(spatial=True), motion="uns20", min_track_length=0, max_interpolation_gap=0)
    out = tracker.track(det, feats, fps=10.0)
    out.validate()
    assert len(out) == len(det) and (out.track_id >= 1).all()
    with pytest.raises(ValidationError, match="trained box matcher"):
        ReidTracker(_cosine_model(spatial=False), motion="uns20")


def test_parameters_are_checked() -> None:
    defaults = ReidTrackerParams()  # SkyhookML's knobs keep their meaning, by group and by flat name
    assert defaults.association.min_iou == 0.1 and defaults.motion.velocity_steps == 5
    assert defaults.association.reid_weight == 1.0
    assert defaults.motion.max_age is None and defaults.motion.max_age_seconds == 2.0  # in time unless set
    flat = ReidTrackerParams(min_iou=0.3, max_age=4, stitch_max_seconds=2.0, **{"relink.max_age": 7})
    assert (flat.association.min_iou, flat.motion.max_age, flat.stitch.max_seconds) == (0.3, 4, 2.0)
    assert flat.relink.max_age == 7 and flat.flat()["relink_max_age"] == 7
    motion = ReidTracker(None, flat, motion="velocity").params  # a flat override keeps the group's other fields
    assert motion.motion.model == "velocity" and motion.motion.max_age == 4 and motion.stitch.max_seconds == 2.0
    with pytest.raises(ValidationError, match="min_iou"):
        ReidTracker(None, min_iou=1.5)
    with pytest.raises(ValidationError, match="unknown_knob"):
        ReidTracker(None, unknown_knob=1)
    det, _, _ = _swap_scene()
    with pytest.raises(ValidationError, match="appearance vectors"):
        ReidTracker(_cosine_model()).track(det, None)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Detections, Detections]:
    cfg = SceneConfig(width=320, height=180, num_frames=150, fps=10, num_objects=5, kind="plaza", seed=11)
    scene = generate_scene(cfg)
    path = tmp_path_factory.mktemp("scene") / "scene.mp4"
    render_scene_video(scene, path)
    gt = scene.ground_truth
    visible = gt.data["visibility"] > 0.3
    det = Detections.create(gt.frame[visible], gt.xyxy[visible], 0.9, canvas=gt.canvas, num_frames=gt.num_frames)
    return path, det, gt


def test_track_with_reid_on_a_generated_scene(scene: tuple[Path, Detections, Detections], tmp_path: Path) -> None:
    path, det, gt = scene
    params = ReidTrainParams(
        crop_size=32,
        encoder_widths=(8, 16, 16, 16, 16),
        matcher="cosine",
        lr=5e-3,
        track_duration=2.0,
        stage1_steps=40,
        stage2_steps=5,
        batch_size=4,
        eval_every=20,
        val_sequences=8,
        val_fraction=0.25,
        min_detections=1,
        device="cpu",
    )
    model_path = tmp_path / "reid.pt"
    train_reid([path], [det], params=params, cache_dir=tmp_path / "cache", out_path=model_path)
    seen: list[tuple[int, int]] = []
    out = track_with_reid(
        model_path,
        path,
        det,
        ReidTrackerParams(),
        device="cpu",
        batch_frames=16,
        progress=lambda d, t: seen.append((d, t)),
    )
    out.validate()
    assert out.has_tracks and (out.track_id >= 1).all()
    assert seen[-1][1] == 150 and seen[-1][0] == int(det.frame[-1]) + 1
    assert out.canvas == det.canvas and out.num_frames == det.num_frames
    # the streaming path equals tracking with precomputed vectors and colour looks (the model's crops are
    # 16 pixels, the colour looks' 64: they are cut apart, the same as without a model)
    feats = embed_video(model_path, path, det, device="cpu")
    from selftrack.reid import load_reid_model

    again = ReidTracker(load_reid_model(model_path), ReidTrackerParams())
    assert again.track(det, feats, fps=10.0, colour=colour_video(path, det)).equals(out)
    assert again.colour_memory is not None
    result = evaluate(gt, out, benchmark="none")
    assert result.hota.hota > 0.5  # boxes are the ground truth; association is what is scored


def _walk(
    label: int, frames: range, x0: float, dx: float, y: float = 140.0
) -> tuple[list[int], list[list[float]], list[int]]:
    """One person (40x80 box, identity ``label``) walking ``dx`` pixels per frame from ``x0``."""
    fr = list(frames)
    boxes = [[x0 + dx * k, y, x0 + dx * k + 40, y + 80] for k in range(len(fr))]
    return fr, boxes, [label] * len(fr)


def _scene(*walks: tuple[list[int], list[list[float]], list[int]]) -> tuple[Detections, np.ndarray, np.ndarray]:
    rows = sorted((f, b, lab) for fr, bx, lb in walks for f, b, lab in zip(fr, bx, lb, strict=True))
    frames, boxes, labels = zip(*rows, strict=True)
    det = Detections.create(list(frames), list(boxes), 0.9, canvas=(640, 360), num_frames=max(frames) + 1)
    return det, _features(list(labels)), np.asarray(labels)


def _ids_of(out: Detections, det: Detections, labels: np.ndarray, label: int) -> set[int]:
    """Track ids given to the boxes of identity ``label`` (rows matched by frame and box)."""
    by_row = {(int(f), tuple(np.round(b, 3))): int(lab) for f, b, lab in zip(det.frame, det.xyxy, labels, strict=True)}
    return {
        int(t)
        for f, b, t in zip(out.frame, out.xyxy, out.track_id, strict=True)
        if by_row.get((int(f), tuple(np.round(b, 3)))) == label
    }


_PLAIN = {"max_interpolation_gap": 0, "output_box": "detection"}


def test_stitching_rejoins_an_object_that_left_the_view_and_came_back() -> None:
    # label 0 leaves at the right border (frame 9), is away 2 s and comes back through it;
    # label 1 walks in the middle the whole time (a distractor that looks different)
    det, feats, labels = _scene(
        _walk(0, range(0, 10), 520, 10),
        _walk(0, range(30, 40), 600, -8),
        _walk(1, range(0, 40), 250, 1),
    )

    def tracks_of_label_0(fps: float = 10.0, **params: Any) -> int:
        out = ReidTracker(_cosine_model(), **_PLAIN, **params).track(det, feats, fps=fps)
        return len(_ids_of(out, det, labels, 0))

    assert tracks_of_label_0() == 1
    # away longer than stitch_max_seconds, or re-entries turned off: a new track
    assert tracks_of_label_0(stitch_max_seconds=1.5) == 2
    assert tracks_of_label_0(stitch_reentry=False) == 2
    # the limit is in seconds: at 5 fps the same 20 frames are 4 s
    assert tracks_of_label_0(fps=5.0, stitch_max_seconds=3.0) == 2
    assert tracks_of_label_0(fps=10.0, stitch_max_seconds=3.0) == 1


def test_one_way_traffic_is_never_stitched_into_a_loop() -> None:
    """Look-alikes cross the view one after another, all left to right (one-way traffic): each that
    leaves at the right is never joined to the next entering at the left, however alike they look;
    in a scene where objects also leave at the left, a left re-entry is possible."""
    walks = [_walk(0, range(35 * k, 35 * k + 30), 0, 20) for k in range(5)]  # enter left, leave right
    det, feats, labels = _scene(*walks)
    out = ReidTracker(_cosine_model(), **_PLAIN).track(det, feats, fps=10.0)
    assert len(out.track_ids) == 5
    back_left = _walk(1, range(0, 16), 300, -20)  # someone else leaves through the left side
    det, feats, labels = _scene(*walks[:2], back_left)
    out = ReidTracker(_cosine_model(), **_PLAIN).track(det, feats, fps=10.0)
    assert len(_ids_of(out, det, labels, 0)) == 1


def test_a_track_lost_inside_the_view_is_not_joined_to_someone_entering() -> None:
    # label 0 vanishes in the middle of the view (frame 9); 1 s later a look-alike enters at the
    # left border: neither online re-linking nor stitching may join them
    lost, entering = _walk(0, range(0, 10), 250, 5), _walk(0, range(20, 30), 0, 5)
    det, feats, labels = _scene(lost, entering)
    out = ReidTracker(_cosine_model(), **_PLAIN).track(det, feats, fps=10.0)
    assert len(_ids_of(out, det, labels, 0)) == 2
    # relink_at_border lets online re-linking take boxes at the border (the look-alike is within reach)
    online = ReidTracker(_cosine_model(), relink_at_border=True, stitch_max_seconds=0, **_PLAIN)
    assert len(_ids_of(online.track(det, feats), det, labels, 0)) == 1
    # the same look reappearing inside the view, near where it was lost, is the same object
    det, feats, labels = _scene(lost, _walk(0, range(20, 30), 340, 5))
    out = ReidTracker(_cosine_model(), **_PLAIN).track(det, feats, fps=10.0)
    assert len(_ids_of(out, det, labels, 0)) == 1
    # ... joined online (re-linking) or offline (stitching) alike
    for online in (True, False):
        kw = {"relink_max_age": 30 if online else 0, "stitch_max_seconds": 0.0 if online else 6.0}
        out = ReidTracker(_cosine_model(), **kw, **_PLAIN).track(det, feats, fps=10.0)
        assert len(_ids_of(out, det, labels, 0)) == 1


def test_stitching_needs_the_frame_rate_or_a_limit_in_frames() -> None:
    det, feats, _ = _swap_scene()
    with pytest.raises(ValidationError, match="frame rate"):
        ReidTracker(_cosine_model()).track(det, feats)
    assert ReidTracker(_cosine_model(), stitch_max_gap=50).track(det, feats).has_tracks
    assert ReidTracker(_cosine_model(), stitch_max_seconds=0).track(det, feats).has_tracks
    assert ReidTracker(None).track(det).has_tracks  # motion only: nothing to stitch
    # the colour check bridges the same gaps: it asks too, by its name, before tracking a single frame
    looks = np.random.default_rng(0).random((len(det), COLOUR_DIM)).astype(np.float32)
    tracker = ReidTracker(None)
    with pytest.raises(ValidationError, match=r"colour check .* frame rate"):
        tracker.track(det, colour=looks)
    assert tracker.colour_memory is None and tracker.num_tracks == 0
    assert ReidTracker(None).track(det, colour=looks, postprocess=False).has_tracks  # no joins: no limit needed
    assert ReidTracker(None, colour_enabled=False).track(det, colour=looks).has_tracks


def test_reentries_are_rejoined_on_a_generated_plaza() -> None:
    """People leave the generated plaza and come back; with a perfect appearance model (one-hot
    vectors by true identity) the default tracker keeps their identities across the absences."""
    cfg = SceneConfig(width=320, height=180, num_frames=300, fps=10, num_objects=4, kind="plaza", seed=3)
    gt = generate_scene(cfg).ground_truth
    visible = gt.data["visibility"] >= 0.3
    det = Detections.create(gt.frame[visible], gt.xyxy[visible], 0.9, canvas=gt.canvas, num_frames=gt.num_frames)
    feats = _features(gt.track_id[visible].tolist())
    came_back = sum(
        int((np.diff(np.unique(f)) > 1).any()) for f in (det.frame[gt.track_id[visible] == i] for i in range(1, 5))
    )
    assert came_back >= 2  # the scene does have people who leave and return
    full = ReidTracker(_cosine_model()).track(det, feats, fps=10.0)
    cut = ReidTracker(_cosine_model(), stitch_reentry=False).track(det, feats, fps=10.0)
    idf1_full = evaluate(gt, full, benchmark="none").identity.idf1
    idf1_cut = evaluate(gt, cut, benchmark="none").identity.idf1
    assert len(full.track_ids) < len(cut.track_ids)
    assert idf1_full > idf1_cut + 0.1 and idf1_full > 0.85


def test_a_box_the_matcher_rejects_does_not_join_the_track_history() -> None:
    """One person (look 0) walks alone; on frames 4-6 the detector's box shows someone else (look 1)
    but overlaps the prediction, so the track takes it on IoU. With the rule on, the track still
    looks like person 0 afterwards; with it off, its recent queries are person 1's."""
    frames = list(range(10))
    boxes = [[100 + 5 * f, 50, 140 + 5 * f, 130] for f in frames]
    looks = [1 if 4 <= f <= 6 else 0 for f in frames]
    feats = _features(looks)
    model = _cosine_model()

    def run(rule: bool) -> tuple[ReidTracker, list[int]]:
        tracker = ReidTracker(model, history_needs_appearance=rule, clean_crop_iou=None, reid_weight=1.0)
        tracker.reset((640, 360), 10.0)
        ids = []
        for f in frames:
            ids += tracker.step(f, np.array([boxes[f]]), np.array([0.9]), feats[f : f + 1]).track_id.tolist()
        return tracker, ids

    logits = {}
    for rule in (True, False):
        tracker, ids = run(rule)
        assert set(ids) == {1}  # one track throughout: the intruding boxes are matched on overlap either way
        assert tracker.heads is not None
        # the matcher preferred "no match" for the look-1 boxes (the premise of the rule)
        p = tracker.appearance_matrix(np.array([[-5.0]], dtype=np.float32))
        assert p[0, 0] < p[0, 1]
        target = tracker.heads.target(_features([0]))
        logits[rule] = float(tracker.appearance_logits(np.arange(1), target)[0, 0])
    # queried 1, 2, 4, 8 matches back at frame 9: off, the 4th is frame 6's look-1 crop (mean logit about 2.5)
    assert logits[True] > 4.0
    assert logits[False] < logits[True] - 2.0


def test_camera_motion_moves_the_track_state() -> None:
    """The swap scene filmed by a camera panning 30 px per frame: with the pan's transforms the tracker
    gives the same tracks as on the still scene (boxes moved back), without them it loses everyone."""
    det, feats, _ = _swap_scene()
    pan = 30.0
    transforms = np.tile(np.array([[1.0, 0.0, -pan], [0.0, 1.0, 0.0]]), (det.frame_count, 1, 1))
    shift = (500.0 - pan * det.frame)[:, None] * np.array([1.0, 0.0, 1.0, 0.0])  # stays inside the 1200 px frame
    moved = det.replace(xyxy=det.xyxy + shift, canvas=(1200, 360))
    kw = {"max_interpolation_gap": 0, "min_track_length": 0, "output_box": "detection", "stitch_max_seconds": 0}
    for model in (None, _cosine_model()):
        still = ReidTracker(model, **kw).track(
            det.replace(xyxy=det.xyxy + np.array([500.0, 0, 500, 0]), canvas=(1200, 360)), feats if model else None
        )
        with_cmc = ReidTracker(model, **kw).track(moved, feats if model else None, transforms=transforms)
        without = ReidTracker(model, **kw).track(moved, feats if model else None)
        assert np.array_equal(with_cmc.track_id, still.track_id)
        assert len(without.track_ids) > 2 * len(still.track_ids)
    with pytest.raises(ValidationError, match="transforms"):
        ReidTracker(None).track(det, transforms=transforms[:3])
