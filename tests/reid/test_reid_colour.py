"""Colour looks and the re-id tracker's colour check: real frames, a held-out scene, and the rules.

The colour check (``reid.tracker.colour``) cuts re-acquisitions whose colours disagree and joins
fragments whose colours agree, when the learned model is not trusted; it must turn itself off when a
video's colours do not separate objects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.formats.mot import read_mot
from selftrack.metrics import evaluate
from selftrack.reid import ReidTracker, colour_video
from selftrack.reid.colour import COLOUR_DIM, colour_descriptors
from selftrack.video import probe


def _sequence(shared_data: Path, folder: str) -> tuple[Path, Detections, Detections]:
    path = shared_data / folder
    video = path / "video.mp4" if (path / "video.mp4").exists() else path / "video.avi"
    info = probe(video)
    size = (info.width, info.height)
    det = read_mot(path / "det" / "det.txt", canvas=size, num_frames=info.frame_count)
    gt = read_mot(path / "gt" / "gt.txt", canvas=size, num_frames=info.frame_count)
    return video, det, gt


@pytest.fixture(scope="module")
def tud(shared_data: Path) -> tuple[Path, Detections, Detections, np.ndarray]:
    video, det, gt = _sequence(shared_data, "mot15/TUD-Stadtmitte")
    return video, det, gt, colour_video(video, det)


def test_colour_looks_tell_the_same_person_from_others_a_second_later(shared_data: Path) -> None:
    """PETS09's ground-truth boxes: a person's look 1 s later is nearer to their own than to anyone else's."""
    video, _, gt = _sequence(shared_data, "pets09-s2l1")
    gt = gt.frames_range(0, 120)
    looks = colour_video(video, gt)
    assert looks.shape == (len(gt), COLOUR_DIM)
    assert np.allclose(np.linalg.norm(looks, axis=1), 1.0, atol=1e-5)
    bounds = gt.frame_bounds()
    hits, asked = 0, 0
    for f in range(0, 120 - 7):
        a, b = np.arange(bounds[f], bounds[f + 1]), np.arange(bounds[f + 7], bounds[f + 8])
        if len(a) < 2 or len(b) < 2:
            continue
        best = b[np.argmax(looks[a] @ looks[b].T, axis=1)]
        known = np.isin(gt.track_id[a], gt.track_id[b])
        hits += int((gt.track_id[best] == gt.track_id[a])[known].sum())
        asked += int(known.sum())
    assert asked > 300
    assert hits / asked > 0.85


def test_padding_is_not_part_of_the_look() -> None:
    """A crop that keeps the box's shape is padded with zeros: the look comes from the box's part only."""
    rng = np.random.default_rng(0)
    person = rng.integers(0, 255, size=(64, 24, 3), dtype=np.uint8)
    padded = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    padded[0, :, :24] = person
    stretched = np.repeat(person, 3, axis=1)[None, :, :64]  # the same colours filling the crop
    with_size = colour_descriptors(padded, np.array([[24, 64]]))
    assert float(with_size[0] @ colour_descriptors(stretched)[0]) > 0.95
    assert float(with_size[0] @ colour_descriptors(padded)[0]) < 0.9  # the black padding would change it


def test_colour_check_mends_a_held_out_crowd(tud: tuple[Path, Detections, Detections, np.ndarray]) -> None:
    """TUD-Stadtmitte (not used to choose the colour check's settings): cuts and joins by colour lift the
    motion part's association."""
    _, det, gt, looks = tud
    motion = evaluate(gt, ReidTracker(None).track(det, fps=25.0))
    tracker = ReidTracker(None)
    checked = evaluate(gt, tracker.track(det, fps=25.0, colour=looks))
    assert tracker.colour_result is not None and tracker.colour_result.cuts + tracker.colour_result.joins >= 2
    assert any(line.startswith("colour check: ") for line in tracker.settings())
    assert checked.hota.hota > motion.hota.hota + 0.01
    assert checked.identity.idf1 > motion.identity.idf1 + 0.01


def test_colour_check_turns_itself_off_when_colours_do_not_separate_objects(
    tud: tuple[Path, Detections, Detections, np.ndarray],
) -> None:
    _, det, _, _ = tud
    noise = np.random.default_rng(1).random((len(det), COLOUR_DIM)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    tracker = ReidTracker(None)
    out = tracker.track(det, fps=25.0, colour=noise)
    assert tracker.colour_result is not None and "not above the join threshold" in tracker.colour_result.why_not
    assert out.equals(ReidTracker(None).track(det, fps=25.0))


def test_turned_off_the_colour_check_changes_nothing(tud: tuple[Path, Detections, Detections, np.ndarray]) -> None:
    _, det, _, looks = tud
    plain = ReidTracker(None).track(det, fps=25.0)
    off = ReidTracker(None, colour_enabled=False)
    assert off.track(det, fps=25.0, colour=looks).equals(plain)
    assert off.colour_result is None


def _walkers() -> tuple[Detections, np.ndarray, np.ndarray]:
    """Six people walking along rows for 120 frames; people 0 and 1 share a row, walk towards each other,
    and are both hidden for frames 50-57 while they meet. When they come back each stands where the other
    one's track is heading (and stays there), so motion swaps them. Colour looks: one colour per person, with noise; the four
    others dress alike (a shared colour plus a little of their own), the two walkers wear colours of their own."""
    rng = np.random.default_rng(2)
    own = (rng.random((6, COLOUR_DIM)) < 0.1).astype(np.float32)
    palette = own.copy()
    palette[2:] = (rng.random(COLOUR_DIM) < 0.1).astype(np.float32) + 0.3 * own[2:]
    frames, boxes, who = [], [], []
    for f in range(120):
        for p in range(2, 6):  # four others, each on a row of their own
            x = 20 + 3 * f if p % 2 else 600 - 3 * f
            frames.append(f)
            boxes.append([x, 40 + 90 * (p - 2), x + 40, 120 + 90 * (p - 2)])
            who.append(p)
        if 50 <= f <= 57:
            continue
        for p, x0, dx in ((0, 100.0, 4.0), (1, 580.0, -4.0)):
            x = x0 + dx * f
            if f > 57:  # each walker came back where the other one was heading, and stopped there
                x = 356.0 if p == 0 else 324.0
            frames.append(f)
            boxes.append([x, 400, x + 40, 480])
            who.append(p)
    order = np.lexsort((np.arange(len(frames)), frames))
    det = Detections.create(
        np.asarray(frames)[order], np.asarray(boxes, float)[order], 0.9, canvas=(800, 520), num_frames=120
    )
    labels = np.asarray(who)[order]
    looks = palette[labels] + 0.05 * rng.random((len(labels), COLOUR_DIM)).astype(np.float32)
    return det, looks / np.linalg.norm(looks, axis=1, keepdims=True), labels


def test_colour_cuts_a_swapped_re_acquisition_and_joins_each_walker_again() -> None:
    det, looks, labels = _walkers()
    gt = det.replace(track_id=labels + 1)

    def ids_per_walker(tracks: Detections) -> list[set[int]]:
        rows = {
            (int(f), round(float(b[0]), 3)): int(t)
            for f, b, t in zip(tracks.frame, tracks.xyxy, tracks.track_id, strict=True)
        }
        out: list[set[int]] = [set(), set()]
        for f, b, lab in zip(det.frame, det.xyxy, labels, strict=True):
            if lab < 2 and (int(f), round(float(b[0]), 3)) in rows:
                out[lab].add(rows[(int(f), round(float(b[0]), 3))])
        return out

    motion = ReidTracker(None, output_box="detection").track(det, fps=10.0)
    swapped = ids_per_walker(motion)
    assert swapped[0] & swapped[1]  # motion alone gives one id to both walkers (the test can fail)
    tracker = ReidTracker(None, output_box="detection")
    mended = tracker.track(det, fps=10.0, colour=looks)
    assert tracker.colour_result is not None and tracker.colour_result.cuts >= 1 and tracker.colour_result.joins >= 1
    first, second = ids_per_walker(mended)
    assert len(first) == 1 and len(second) == 1 and first != second
    assert evaluate(gt, mended).identity.idf1 > evaluate(gt, motion).identity.idf1
