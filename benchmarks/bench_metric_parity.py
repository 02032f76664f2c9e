"""Metric parity: ``selftrack.metrics.evaluate`` against TrackEval on the tracker benchmark's sets.

For every set of ``bench_trackers.py`` our ByteTrack tracks the set's detections (plus, on TUD, the
published CEM tracker output as a second tracker). Each output is written as a MOTChallenge results
file; TrackEval's ``MotChallenge2DBox`` scores that file in a temporary folder laid out like the
benchmark, and ours scores the same file read back with ``selftrack.formats.read_mot`` (so both see
identical numbers). Every field TrackEval reports (HOTA per-alpha arrays, CLEAR, Identity, Count) is
compared, per sequence and for ``COMBINED_SEQ``; the table gives the largest absolute difference.

PETS09-S2L1 is scored on MOT frames 1-400 (its gt covers only those): ours gets the whole 795-frame
output and ``frames=(0, 400)``; TrackEval (which has no frame range) gets the output cut to 1-400.

Usage (from the repository root)::

    python benchmarks/bench_metric_parity.py [--no-write]   # writes (or prints) the parity section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import trackeval
from bench_common import cpu_name, write_section

from selftrack.formats.mot import parse_seqinfo, read_mot, write_mot
from selftrack.metrics import SequenceResult, evaluate
from selftrack.trackers import get_tracker

ROOT = Path(__file__).resolve().parents[1]
START, END, AFTER = "<!-- parity:start -->", "<!-- parity:end -->", "<!-- trackers:end -->"
TOL = 1e-6
MOT17_FRCNN = {"track_thresh": 0.5, "low_thresh": 0.1, "new_track_thresh": 0.6}  # published MOT17 values
REFINED = [(f"MOT17-{n}", f"mot17/MOT17-{n}", "det/det_refined.txt", None) for n in ("02", "04", "05", "09", "10")]
TUD = [(n, f"mot15/{n}", "det/det.txt", None) for n in ("TUD-Campus", "TUD-Stadtmitte")]
# Frame rates of sequences whose seqinfo.ini here has no frameRate (MOT15's published values), as in
# bench_trackers.py: ByteTrack gets each sequence's real rate, like the tracker benchmark's runs.
FRAME_RATE = {"TUD-Campus": 25.0, "TUD-Stadtmitte": 25.0}
# (key, title, TrackEval benchmark, ByteTrack params, [(sequence, folder, detection file, scored frames)])
SETS = [
    ("pets09", "PETS09-S2L1 public, frames 1-400", "MOT15", {}, [("PETS09-S2L1", "pets09-s2l1", "det/det.txt", 400)]),
    ("mot17-02", "MOT17-02 FRCNN", "MOT17", MOT17_FRCNN, [("MOT17-02", "mot17/MOT17-02", "det/det.txt", None)]),
    ("mot17-04", "MOT17-04 FRCNN", "MOT17", MOT17_FRCNN, [("MOT17-04", "mot17/MOT17-04", "det/det.txt", None)]),
    ("mot17-refined", "MOT17-02/04/05/09/10 refined", "MOT17", {}, REFINED),
    ("tud", "TUD-Campus + TUD-Stadtmitte public", "MOT15", {}, TUD),
]


def run_trackeval(root: Path, benchmark: str, seqs: dict[str, tuple[Path, Path, int]]) -> dict[str, dict]:
    """TrackEval on ``{seq: (gt file, tracker file, seqLength)}``: ``{seq | COMBINED_SEQ: metrics}``."""
    gt_root, tr_root = root / "gt", root / "trackers" / "ours" / "data"
    tr_root.mkdir(parents=True)
    for seq, (gt_file, tr_file, length) in seqs.items():
        (gt_root / seq / "gt").mkdir(parents=True)
        shutil.copy(gt_file, gt_root / seq / "gt" / "gt.txt")
        (gt_root / seq / "seqinfo.ini").write_text(f"[Sequence]\nname={seq}\nseqLength={length}\n")
        shutil.copy(tr_file, tr_root / f"{seq}.txt")
    (root / "seqmap.txt").write_text("name\n" + "\n".join(seqs) + "\n")
    quiet = {"PRINT_CONFIG": False}
    off = ("PRINT_RESULTS", "TIME_PROGRESS", "OUTPUT_SUMMARY", "OUTPUT_DETAILED", "PLOT_CURVES", "USE_PARALLEL")
    evaluator = trackeval.Evaluator(
        {**quiet, **dict.fromkeys(off, False), "BREAK_ON_ERROR": True, "LOG_ON_ERROR": None}
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
    if messages["MotChallenge2DBox"]["ours"] != "Success":
        raise RuntimeError(f"TrackEval failed: {messages}")
    return {seq: by_class["pedestrian"] for seq, by_class in results["MotChallenge2DBox"]["ours"].items()}


def compare(ours: SequenceResult, theirs: dict) -> tuple[int, int, float, str]:
    """Every field TrackEval reports against ours: (fields, values, max abs difference, worst field)."""
    d = ours.to_dict()
    mine_by_metric = {
        "HOTA": {**d["HOTA"], **d["HOTA"]["per_alpha"]},
        "CLEAR": d["CLEAR"],
        "Identity": d["Identity"],
        "Count": {**d["Count"], "Frames": d["num_frames"]},
    }
    fields = values = 0
    worst, worst_name = 0.0, ""
    for metric, mine_fields in mine_by_metric.items():
        for name, value in theirs[metric].items():
            ref = np.asarray(value, dtype=np.float64)
            if name not in mine_fields:
                return fields, values, float("inf"), f"{metric}.{name} missing in ours"
            mine = np.asarray(mine_fields[name], dtype=np.float64)
            if mine.shape != ref.shape:
                return fields, values, float("inf"), f"{metric}.{name} shape {mine.shape} vs {ref.shape}"
            diff = float(np.max(np.abs(mine - ref))) if ref.size else 0.0
            fields, values = fields + 1, values + ref.size
            if diff > worst or not worst_name:
                worst, worst_name = diff, f"{metric}.{name}"
    return fields, values, worst, worst_name


def score_set(data: Path, tmp: Path, key: str, benchmark: str, params: dict, seqs: list, log) -> list[dict]:
    """One row per tracker (ByteTrack; CEM too on TUD): parity over every sequence and the combination."""
    outputs: dict[str, dict[str, Path]] = {"ByteTrack": {}}
    info = {}
    for name, folder, det_file, scored in seqs:
        seqinfo = parse_seqinfo(data / folder)
        length = int(seqinfo["seqLength"])
        rate = float(seqinfo.get("frameRate") or FRAME_RATE[name])
        det = read_mot(data / folder / det_file, kind="det").replace(num_frames=length)
        path = tmp / key / "bytetrack" / f"{name}.txt"
        write_mot(get_tracker("bytetrack", **params, frame_rate=rate).track(det), path, kind="results", columns=10)
        outputs["ByteTrack"][name] = path
        cem = data / folder / "cem_result" / f"{name}.txt"
        if cem.exists():
            outputs.setdefault("CEM (published output)", {})[name] = cem
        info[name] = (data / folder / "gt" / "gt.txt", length, scored)
    rows = []
    for tracker, files in outputs.items():
        ours, te_seqs = {}, {}
        for name, path in files.items():
            gt_file, length, scored = info[name]
            tracks = read_mot(path, kind="results", num_frames=length)
            frames = None if scored is None else (0, scored)
            ours[name] = evaluate(read_mot(gt_file, kind="gt"), tracks, frames=frames, num_frames=length, name=name)
            if scored is not None:  # TrackEval has no frame range: cut the file and the sequence length
                path = tmp / key / "cut" / f"{name}.txt"
                write_mot(tracks[tracks.frame < scored], path, kind="results", columns=10)
            te_seqs[name] = (gt_file, path, scored or length)
        te_dir = tmp / key / f"te-{tracker.split()[0]}"
        theirs = run_trackeval(te_dir, benchmark, te_seqs)
        parts = list(ours.values())
        combined = parts[0] if len(parts) == 1 else SequenceResult.combine(parts)
        checks = [(n, ours[n], theirs[n]) for n in ours] + [("COMBINED_SEQ", combined, theirs["COMBINED_SEQ"])]
        fields, values, worst, where = 0, 0, -1.0, ""
        for seq_name, mine, ref in checks:
            f, v, diff, field_name = compare(mine, ref)
            fields, values = fields + f, values + v
            if diff > worst:
                worst, where = diff, f"{seq_name} {field_name}"
        row = {"set": key, "tracker": tracker, "seqs": len(ours), "fields": fields, "values": values}
        row |= {"max_diff": worst, "where": where, "result": combined}
        rows.append(row)
        log(f"{key:14s} {tracker:24s} fields {fields:4d} values {values:5d} max |diff| {worst:.3g} ({where})")
    return rows


def report(rows: list[dict], command: str) -> str:
    ok = all(r["max_diff"] <= TOL for r in rows)
    titles = {key: title for key, title, *_ in SETS}
    out = [START, "## Metric parity with TrackEval", ""]
    out += [f"Command: `{command}`  ", f"Machine: {machine()}  ", f"Date: {datetime.date.today().isoformat()}", ""]
    out += [
        "Tracker outputs: our ByteTrack on each set of the tracker benchmark (MOT17 FRCNN with the published MOT17 "
        "thresholds track_thresh 0.5 / low 0.1 / new track 0.6, defaults elsewhere; every sequence at its real frame "
        "rate, as in the tracker benchmark: PETS09-S2L1 7 fps, TUD 25, MOT17-05 14, other MOT17 30) and, on TUD, the "
        "published CEM output. Each output file is scored by `selftrack.metrics.evaluate` (read back with `read_mot`) and by "
        "TrackEval's `MotChallenge2DBox` (MOT15 / MOT17 preprocessing, IoU threshold 0.5). Compared: every field "
        "TrackEval reports for each sequence and for `COMBINED_SEQ` (HOTA and its sub-metrics as 19-alpha arrays, "
        "HOTA(0)/LocA(0)/HOTALocA(0), all CLEAR and Identity fields, Count). *Fields* counts named fields over the "
        "sequences and `COMBINED_SEQ` (TrackEval gives no Count.Frames for the combination); *values* counts array "
        "elements. "
        "PETS09: ours scores the whole 795-frame output with frames (0, 400); TrackEval gets the output cut to MOT "
        "frames 1-400 and seqLength 400. Scores below are ours, combined over the set's sequences.",
        "",
        "| Set | Tracker | Sequences | Fields | Values | Max abs difference | HOTA | MOTA | IDF1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        res = r["result"]
        out.append(
            f"| {titles[r['set']]} | {r['tracker']} | {r['seqs']} | {r['fields']} | {r['values']} | "
            f"{r['max_diff']:.1e} | {100 * res.hota.hota:.2f} | {100 * res.clear.mota:.2f} | "
            f"{100 * res.identity.idf1:.2f} |"
        )
    worst = max(rows, key=lambda r: r["max_diff"])
    verdict = "met" if ok else "NOT met"
    out += [
        "",
        f"Metric parity with TrackEval: max abs difference <= 1e-6 on every set: **{verdict}** (largest: "
        f"{worst['max_diff']:.1e}, {worst['set']} {worst['tracker']}, {worst['where']}).",
    ]
    if "MOTP_sum" in worst["where"]:
        out.append(
            "CLEAR.MOTP_sum is the raw sum of IoUs over all matches (tens of thousands of terms), so its "
            f"difference of {worst['max_diff']:.1e} is floating-point summation order, not a metric difference."
        )
    out.append(END)
    return "\n".join(out) + "\n"


def machine() -> str:
    return (
        f"{cpu_name()}, nproc {os.cpu_count()}, Python {platform.python_version()}, trackeval {trackeval.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp:
        for key, _title, benchmark, params, seqs in SETS:
            rows += score_set(args.data, Path(tmp), key, benchmark, params, seqs, lambda m: print(m, file=sys.stderr))
    args_text = " ".join(sys.argv[1:] if argv is None else argv)
    section = report(rows, f"python benchmarks/bench_metric_parity.py {args_text}".rstrip())
    print(section)
    if not args.no_write:
        write_section(args.out, section, START, END, after=AFTER)
        print(f"wrote the parity section of {args.out}", file=sys.stderr)
    return 0 if all(r["max_diff"] <= TOL for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
