"""Our metrics equal TrackEval's on real MOT15/MOT17 files, and reproduce published CEM scores.

TrackEval (a test-only dependency) is run once per module fixture on a temporary folder laid out
the way ``MotChallenge2DBox`` wants it; ours gets the same files read with ``selftrack.formats``.
Tracker outputs for MOT17 and PETS09 are built from the ground truth with seeded perturbations (id
swaps, track splits, dropped boxes, jitter, false-positive tracks and copies of distractor boxes)
so every metric is far from trivial and MOT17's distractor removal is exercised.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.formats.mot import parse_seqinfo, read_mot, write_mot
from selftrack.metrics import SequenceResult, evaluate, evaluate_many, parse_frame_range

pytestmark = pytest.mark.realdata
TOL = 1e-6


def perturb(gt: Detections, seed: int) -> Detections:
    """A plausible, imperfect tracker output made from ground truth (fixed seed)."""
    rng = np.random.default_rng(seed)
    src = gt[np.isin(gt.class_id, [-1, 1, 2, 7, 8, 12])]  # pedestrians (any flag) and MOT17 distractors
    src = src[rng.random(len(src)) >= 0.12]
    xywh = src.xywh
    xywh += rng.normal(0.0, 0.07, xywh.shape) * xywh[:, [2, 3, 2, 3]]
    xywh[:, 2:] = np.maximum(xywh[:, 2:], 2.0)
    ids = src.track_id.copy()
    tracks = np.unique(ids)
    first, last = int(src.frame.min()), int(src.frame.max())
    for a, b in rng.permutation(tracks)[: 2 * (len(tracks) // 6)].reshape(-1, 2):  # identity swaps
        later = src.frame >= rng.integers(first, last + 1)
        to_b, to_a = later & (ids == a), later & (ids == b)
        ids[to_b], ids[to_a] = b, a
    next_id = int(ids.max()) + 1
    for a in rng.choice(tracks, len(tracks) // 4, replace=False):  # track splits
        ids[(ids == a) & (src.frame >= rng.integers(first, last + 1))] = next_id
        next_id += 1
    n_fp_tracks, length = max(1, len(src) // 100), 5  # short false-positive tracks
    start = rng.integers(0, gt.frame_count - length, n_fp_tracks)
    fp_frame = (start[:, None] + np.arange(length)).ravel()
    size = src.xywh[rng.integers(0, len(src), n_fp_tracks), 2:]
    corner = rng.uniform(0, 1, (n_fp_tracks, 2)) * (src.xyxy[:, 2:].max(axis=0) - size)
    fp_xywh = np.repeat(np.hstack([corner, size]), length, axis=0)
    fp_xywh[:, :2] += rng.normal(0, 2.0, (len(fp_xywh), 2))
    fp_ids = np.repeat(np.arange(next_id, next_id + n_fp_tracks), length)
    frame = np.concatenate([src.frame, fp_frame])
    return Detections.from_xywh(
        frame,
        np.vstack([xywh, fp_xywh]),
        rng.uniform(0.3, 1.0, len(frame)),
        -1,
        np.concatenate([ids, fp_ids]),
    )


def run_trackeval(root: Path, benchmark: str, seqs: dict[str, tuple[Path, Path, int]]) -> dict:
    """TrackEval on ``{seq: (gt file, tracker file, seqLength)}``; returns ``{seq | COMBINED_SEQ: metrics}``."""
    trackeval = pytest.importorskip("trackeval")
    gt_root, tr_root = root / "gt", root / "trackers" / "ours" / "data"
    tr_root.mkdir(parents=True)
    for seq, (gt_file, tr_file, length) in seqs.items():
        (gt_root / seq / "gt").mkdir(parents=True)
        shutil.copy(gt_file, gt_root / seq / "gt" / "gt.txt")
        (gt_root / seq / "seqinfo.ini").write_text(f"[Sequence]\nname={seq}\nseqLength={length}\n")
        shutil.copy(tr_file, tr_root / f"{seq}.txt")
    (root / "seqmap.txt").write_text("name\n" + "\n".join(seqs) + "\n")
    quiet = {"PRINT_CONFIG": False}
    evaluator = trackeval.Evaluator(
        {
            **quiet,
            "USE_PARALLEL": False,
            "BREAK_ON_ERROR": True,
            "LOG_ON_ERROR": None,
            "PRINT_RESULTS": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
        }
    )
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            **quiet,
            "GT_FOLDER": str(gt_root),
            "TRACKERS_FOLDER": str(root / "trackers"),
            "OUTPUT_FOLDER": str(root / "out"),
            "TRACKERS_TO_EVAL": ["ours"],
            "BENCHMARK": benchmark,
            "SEQMAP_FILE": str(root / "seqmap.txt"),
            "SKIP_SPLIT_FOL": True,
            "DO_PREPROC": True,
        }
    )
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({**quiet, "THRESHOLD": 0.5}),
        trackeval.metrics.Identity({**quiet, "THRESHOLD": 0.5}),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        results, messages = evaluator.evaluate([dataset], metrics)
    assert messages["MotChallenge2DBox"]["ours"] == "Success", messages
    return {seq: by_class["pedestrian"] for seq, by_class in results["MotChallenge2DBox"]["ours"].items()}


def mismatches(ours: SequenceResult, theirs: dict) -> list[str]:
    """Every field TrackEval reports, compared with ours (arrays elementwise)."""
    d = ours.to_dict()
    ours_by_metric = {
        "HOTA": {**d["HOTA"], **d["HOTA"]["per_alpha"]},
        "CLEAR": d["CLEAR"],
        "Identity": d["Identity"],
        "Count": d["Count"],
    }
    bad = []
    for metric, fields in ours_by_metric.items():
        for name, value in theirs[metric].items():
            if metric == "Count" and name == "Frames":
                continue
            mine = np.asarray(fields[name], dtype=np.float64)
            ref = np.asarray(value, dtype=np.float64)
            if mine.shape != ref.shape or np.max(np.abs(mine - ref)) > TOL:
                bad.append(f"{metric}.{name}: ours {mine} trackeval {ref}")
    return bad


def test_perturb_is_deterministic_and_nontrivial(shared_data: Path) -> None:
    gt = read_mot(shared_data / "mot17/MOT17-02/gt/gt.txt")
    a, b = perturb(gt, 3), perturb(gt, 3)
    assert a.equals(b)
    assert len(a.track_ids) > len(np.unique(gt.track_id[gt.class_id == 1]))


# ---------------------------------------------------------------- MOT15: TUD (CEM) and PETS09 range
@pytest.fixture(scope="module")
def mot15(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mot15")
    seqs, pairs, lengths = {}, {}, {}
    for seq in ("TUD-Campus", "TUD-Stadtmitte"):
        folder = shared_data / "mot15" / seq
        gt_file, tr_file = folder / "gt/gt.txt", folder / "cem_result" / f"{seq}.txt"
        lengths[seq] = int(parse_seqinfo(folder)["seqLength"])
        seqs[seq] = (gt_file, tr_file, lengths[seq])
        pairs[seq] = (read_mot(gt_file), read_mot(tr_file))
    # PETS09-S2L1: gt covers MOT frames 1-400; the tracker ran on all 795. TrackEval gets a tracker
    # file cut to 1-400 and seqLength 400; ours gets the whole output and frames "1-400".
    pets = shared_data / "pets09-s2l1"
    gt = read_mot(pets / "gt/gt.txt")
    tracks = perturb(gt, seed=9)
    late = perturb(gt.shift_frames(395), seed=10)  # boxes in frames 400-794 that must not count
    full = Detections.concat(
        [tracks, late[late.frame >= 400].replace(track_id=late[late.frame >= 400].track_id + 10_000)]
    )
    write_mot(full, root / "pets_full.txt", kind="results", columns=10)
    write_mot(full[full.frame < 400], root / "pets_cut.txt", kind="results", columns=10)
    seqs["PETS09-S2L1"] = (pets / "gt/gt.txt", root / "pets_cut.txt", 400)
    pairs["PETS09-S2L1"] = (gt, read_mot(root / "pets_full.txt"))
    lengths["PETS09-S2L1"] = 795
    return {"pairs": pairs, "lengths": lengths, "trackeval": run_trackeval(root / "te", "MOT15", seqs)}


@pytest.mark.parametrize("seq", ["TUD-Campus", "TUD-Stadtmitte"])
def test_tud_cem_equals_trackeval(mot15: dict, seq: str) -> None:
    gt, tracks = mot15["pairs"][seq]
    ours = evaluate(gt, tracks, num_frames=mot15["lengths"][seq])
    assert ours.benchmark == "mot15"  # no class column: consider flag only
    assert mismatches(ours, mot15["trackeval"][seq]) == []


def test_pets09_frame_range_equals_trackeval(mot15: dict) -> None:
    gt, tracks = mot15["pairs"]["PETS09-S2L1"]
    assert tracks.frame.max() > 700  # the output covers the whole video
    frames = parse_frame_range("1-400")
    ours = evaluate(gt, tracks, frames=frames, num_frames=mot15["lengths"]["PETS09-S2L1"])
    assert ours.num_frames == 400 and ours.frames == (0, 400)
    assert mismatches(ours, mot15["trackeval"]["PETS09-S2L1"]) == []
    # Without the range, the late boxes are false positives: worse precision, same recall.
    whole = evaluate(gt, tracks)
    assert whole.clear.fp > ours.clear.fp and whole.clear.tp == ours.clear.tp


def test_mot15_combined_equals_trackeval(mot15: dict) -> None:
    result = evaluate_many(
        mot15["pairs"],
        frames={"PETS09-S2L1": (0, 400)},
        num_frames={k: v for k, v in mot15["lengths"].items() if k != "PETS09-S2L1"},
    )
    assert list(result.sequences) == ["TUD-Campus", "TUD-Stadtmitte", "PETS09-S2L1"]
    assert mismatches(result.combined, mot15["trackeval"]["COMBINED_SEQ"]) == []


@pytest.mark.parametrize(
    ("seq", "idf1", "mota"),
    [("TUD-Campus", 55.8, 52.6), ("TUD-Stadtmitte", 64.5, 56.4)],  # py-motmetrics README, CEM tracker
)
def test_published_cem_scores(mot15: dict, seq: str, idf1: float, mota: float) -> None:
    gt, tracks = mot15["pairs"][seq]
    result = evaluate(gt, tracks)
    assert round(100 * result.identity.idf1, 1) == idf1
    assert round(100 * result.clear.mota, 1) == mota


# ---------------------------------------------------------------- MOT17: preprocessing with distractors
@pytest.fixture(scope="module")
def mot17(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mot17")
    seqs, pairs, lengths = {}, {}, {}
    for seed, seq in enumerate(("MOT17-02", "MOT17-04")):
        folder = shared_data / "mot17" / seq
        gt = read_mot(folder / "gt/gt.txt")
        lengths[seq] = int(parse_seqinfo(folder)["seqLength"])
        write_mot(perturb(gt, seed), root / f"{seq}.txt", kind="results", columns=10)
        seqs[seq] = (folder / "gt/gt.txt", root / f"{seq}.txt", lengths[seq])
        pairs[seq] = (gt, read_mot(root / f"{seq}.txt"))
    ours = {seq: evaluate(*pairs[seq], num_frames=lengths[seq], name=seq) for seq in pairs}
    return {"pairs": pairs, "ours": ours, "trackeval": run_trackeval(root / "te", "MOT17", seqs)}


@pytest.mark.parametrize("seq", ["MOT17-02", "MOT17-04"])
def test_mot17_perturbed_equals_trackeval(mot17: dict, seq: str) -> None:
    ours = mot17["ours"][seq]
    assert ours.benchmark == "mot17"
    assert mismatches(ours, mot17["trackeval"][seq]) == []
    # The perturbations make every family non-trivial.
    assert ours.clear.idsw > 10 and ours.clear.fp > 100 and ours.clear.fn > 100
    assert 0.3 < ours.hota.hota < 0.95 and 0.3 < ours.identity.idf1 < 0.95


def test_mot17_distractor_copies_are_not_false_positives(mot17: dict) -> None:
    gt, tracks = mot17["pairs"]["MOT17-02"]
    mot17_rules = mot17["ours"]["MOT17-02"]
    consider_only = evaluate(gt, tracks, benchmark="mot15")
    assert mot17_rules.num_tracker_dets < len(tracks)  # boxes on static persons etc. were removed
    assert mot17_rules.clear.fp < consider_only.clear.fp


def test_mot17_combined_equals_trackeval(mot17: dict) -> None:
    combined = SequenceResult.combine(list(mot17["ours"].values()))
    assert mismatches(combined, mot17["trackeval"]["COMBINED_SEQ"]) == []
