"""The tracker contract: registry, typed parameters, per-instance ids, frame handling, output rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from selftrack.core import Detections, ValidationError
from selftrack.trackers import (
    IouTrackerParams,
    Tracker,
    get_tracker,
    list_trackers,
    tracker_class,
)

NAMES = ["bytetrack", "iou", "ocsort", "sort"]


def walking(num_frames: int, starts: list[tuple[float, float]], step: float = 4.0, score: float = 0.9) -> Detections:
    """Objects of 40x100 px walking right by ``step`` px per frame; ``data['object']`` says which."""
    frame, boxes, obj = [], [], []
    for f in range(num_frames):
        for k, (x, y) in enumerate(starts):
            frame.append(f)
            boxes.append([x + step * f, y, x + step * f + 40, y + 100])
            obj.append(k)
    return Detections.create(frame, boxes, score, data={"object": np.array(obj)}, num_frames=num_frames)


def test_registry_lists_the_four_trackers_with_described_params():
    trackers = list_trackers()
    assert list(trackers) == NAMES
    for name, params in trackers.items():
        assert tracker_class(name).name == name
        assert params.model_fields, name
        for field_name, field in params.model_fields.items():
            assert field.description, f"{name}.{field_name}"
        assert get_tracker(name).params == params()


def test_unknown_tracker_names_the_known_ones():
    with pytest.raises(ValidationError, match=r"unknown tracker 'deepsort'.*bytetrack, iou, ocsort, sort"):
        get_tracker("deepsort")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("sort", {"iou_threshold": 1.5}, "iou_threshold"),
        ("bytetrack", {"track_buffer": -1}, "track_buffer"),
        ("ocsort", {"delta_t": 0}, "delta_t"),
        ("iou", {"minimum_iou": 0.2}, "minimum_iou"),
        ("sort", {"max_age": "often"}, "max_age"),
    ],
)
def test_bad_parameters_name_tracker_and_parameter(name, params, message):
    with pytest.raises(ValidationError, match=rf"tracker '{name}'.*{message}"):
        get_tracker(name, **params)


def test_params_object_and_overrides_combine():
    base = IouTrackerParams(max_age=3)
    tracker = tracker_class("iou")(base, min_iou=0.0)
    assert tracker.params.max_age == 3
    assert tracker.params.min_iou == 0.0  # zero is a value, never "use the default"
    with pytest.raises(ValidationError, match="takes SortParams, got IouTrackerParams"):
        tracker_class("sort")(base)


def test_subclass_without_described_params_is_refused():
    from selftrack.trackers import TrackerParams

    class Undocumented(TrackerParams):
        gain: float = 1.0

    with pytest.raises(TypeError, match="'gain' has no description"):
        type("Broken", (Tracker,), {"name": "broken-test", "Params": Undocumented})


@pytest.mark.parametrize("name", NAMES)
def test_two_instances_do_not_share_ids_and_reset_restarts_at_one(name):
    video = walking(12, [(0, 0), (300, 0)])
    a, b = get_tracker(name), get_tracker(name)
    ids_a, ids_b = [], []
    for f, boxes in video.iter_frames():  # interleaved: a shared counter would show up here
        ids_a.append(a.update(boxes, f).track_id)
        ids_b.append(b.update(boxes, f).track_id)
    ids_a, ids_b = np.concatenate(ids_a), np.concatenate(ids_b)
    assert sorted(set(ids_a.tolist())) == [1, 2]
    np.testing.assert_array_equal(ids_a, ids_b)
    a.reset()
    again = np.concatenate([a.update(boxes, f).track_id for f, boxes in video.iter_frames()])
    np.testing.assert_array_equal(again, ids_a)


@pytest.mark.parametrize("name", NAMES)
def test_track_equals_frame_by_frame_update(name):
    video = walking(15, [(0, 0), (200, 50), (400, 0)])
    whole = get_tracker(name).track(video)
    tracker = get_tracker(name)
    parts = Detections.concat([tracker.update(boxes, f) for f, boxes in video.iter_frames()])
    assert whole.equals(parts)
    whole.validate()  # each id at most once per frame


@pytest.mark.parametrize("name", NAMES)
def test_output_rows_keep_score_class_and_data_of_their_detection(name):
    video = walking(10, [(0, 0), (300, 0)])
    video = video.replace(score=np.linspace(0.7, 0.99, len(video)), class_id=np.arange(len(video)) % 3)
    out = get_tracker(name).track(video)
    assert len(out) > 0
    for f, boxes in out.iter_frames():
        src = video.at_frame(f)
        for row in range(len(boxes)):
            # the input row with the same object in this frame
            i = int(np.flatnonzero(src.data["object"] == boxes.data["object"][row])[0])
            assert boxes.score[row] == src.score[i]
            assert boxes.class_id[row] == src.class_id[i]
    assert out.num_frames == video.num_frames


@pytest.mark.parametrize("name", NAMES)
def test_empty_frames_and_empty_videos(name):
    assert len(get_tracker(name).track(Detections.empty(num_frames=5))) == 0
    out = get_tracker(name).update(Detections.empty(), 0)
    assert len(out) == 0 and out.track_id.dtype == np.int64
    # a gap of empty frames inside a video does not break anything and ids stay unique per frame
    video = walking(20, [(0, 0)])
    video = video[(video.frame < 5) | (video.frame >= 8)]
    out = get_tracker(name).track(video)
    out.validate()
    assert not np.isin(out.frame, [5, 6, 7]).any()


def test_update_refuses_frames_out_of_order_and_mixed_frames():
    tracker = get_tracker("sort")
    video = walking(3, [(0, 0)])
    tracker.update(video.at_frame(1), 1)
    with pytest.raises(ValidationError, match="frames must increase"):
        tracker.update(video.at_frame(0), 0)
    with pytest.raises(ValidationError, match="one frame's boxes at a time"):
        get_tracker("sort").update(video, 0)
    with pytest.raises(ValidationError, match=r"\(2, 3\) affine"):
        get_tracker("sort").update(video.at_frame(0), 0, transform=np.eye(3))


def test_skipped_frames_age_tracks_like_empty_frames():
    video = walking(10, [(0, 0)])
    # SORT with max_age=2: three frames without boxes end the track, whether passed or skipped
    passed = get_tracker("sort", max_age=2, min_hits=0)
    skipped = get_tracker("sort", max_age=2, min_hits=0)
    for f in range(10):
        boxes = video.at_frame(f) if f not in (4, 5, 6) else Detections.empty()
        a = passed.update(boxes, f)
        if f not in (4, 5, 6):
            b = skipped.update(boxes, f)
            np.testing.assert_array_equal(a.track_id, b.track_id)
    assert a.track_id.tolist() == [2]


def test_progress_reports_the_end():
    calls = []
    get_tracker("bytetrack").track(
        walking(250, [(0, 0)], step=1.0), progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (250, 250)
    assert 50 <= len(calls) <= 260
    assert all(b >= a for (a, _), (b, _) in itertools.pairwise(calls))


def test_transforms_must_cover_the_video():
    video = walking(5, [(0, 0)]).replace(source="cam1.txt")
    with pytest.raises(ValidationError, match=r"transforms for cam1.txt cover 3 frames but the video has 5"):
        get_tracker("bytetrack").track(video, transforms=np.tile(np.eye(2, 3), (3, 1, 1)))
    bad = np.tile(np.eye(2, 3), (5, 1, 1))
    bad[2, 0, 2] = np.nan
    with pytest.raises(ValidationError, match="of frame 2 has NaN"):
        get_tracker("ocsort").track(video, transforms=bad)
    with pytest.raises(ValidationError, match=r"shape \(num_frames, 2, 3\)"):
        get_tracker("sort").track(video, transforms=np.zeros((5, 3, 3)))
