"""Score tracker output against ground truth: one sequence, or several combined.

No seqmap or seqinfo files: pass ``Detections`` (read with ``selftrack.formats``) and get typed
results. The numbers equal TrackEval's (MotChallenge2DBox with preprocessing, HOTA, CLEAR,
Identity) to floating-point precision; ``tests/metrics`` checks this on real MOT15/MOT17 files.
"""

from __future__ import annotations

from collections.abc import Mapping

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.metrics.clear import clear
from selftrack.metrics.hota import hota
from selftrack.metrics.identity import identity
from selftrack.metrics.preprocess import Benchmark, PreparedSequence, prepare_sequence
from selftrack.metrics.results import BenchmarkResult, SequenceResult

FrameRange = tuple[int, int]


def evaluate(
    gt: Detections,
    tracks: Detections,
    *,
    frames: FrameRange | None = None,
    benchmark: Benchmark | str = "auto",
    num_frames: int | None = None,
    name: str | None = None,
) -> SequenceResult:
    """HOTA, CLEAR and Identity metrics of ``tracks`` against ``gt`` on one sequence.

    Args:
        gt: ground-truth boxes with ``track_id`` (MOT ``gt.txt`` read by ``selftrack.formats``).
        tracks: tracker output with ``track_id``.
        frames: score only these frames, 0-based half-open ``(start, stop)`` like
            ``Detections.frames_range``; MOT frames ``401-795`` are ``(400, 795)``
            (:func:`~selftrack.metrics.preprocess.parse_frame_range` converts). Both sides are cut to
            the range before preprocessing.
        benchmark: preprocessing rules: ``"mot17"`` (distractors removed, consider-0 gt ignored),
            ``"mot20"``, ``"mot15"`` (consider flag only), ``"none"`` (score every box), or
            ``"auto"`` (``mot17`` if the gt has MOT17 class ids, else ``mot15``).
        num_frames: sequence length (seqinfo's ``seqLength``); defaults to the larger
            ``frame_count`` of the two inputs. Only ``CLR_Frames`` and ``FP_per_frame`` use it.
        name: sequence name carried into the result (tables, JSON).

    Returns:
        A :class:`SequenceResult`; scores are fractions in [0, 1] (the CLI shows x100).

    Raises:
        ValidationError: a box without ``track_id``, an id twice in one frame, a bad frame range,
            boxes past ``num_frames``, or MOT17 rules on gt without MOT17 classes.
    """
    seq = prepare_sequence(gt, tracks, frames=frames, benchmark=benchmark, num_frames=num_frames)
    return score_prepared(seq, name=name if name is not None else gt.source, frames=frames)


def score_prepared(
    seq: PreparedSequence, *, name: str | None = None, frames: FrameRange | None = None
) -> SequenceResult:
    """All three metric families on an already prepared sequence."""
    return SequenceResult(
        name=name,
        hota=hota(seq),
        clear=clear(seq),
        identity=identity(seq),
        num_frames=seq.num_frames,
        num_gt_dets=seq.num_gt_dets,
        num_tracker_dets=seq.num_tracker_dets,
        num_gt_ids=seq.num_gt_ids,
        num_tracker_ids=seq.num_tracker_ids,
        benchmark=seq.benchmark,
        frames=None if frames is None else (int(frames[0]), int(frames[1])),
    )


def evaluate_many(
    pairs: Mapping[str, tuple[Detections, Detections]],
    *,
    frames: FrameRange | Mapping[str, FrameRange] | None = None,
    benchmark: Benchmark | str = "auto",
    num_frames: Mapping[str, int] | None = None,
) -> BenchmarkResult:
    """Score several sequences ``{name: (gt, tracks)}`` and combine them as TrackEval's ``COMBINED_SEQ``.

    ``frames`` is one range for every sequence or a ``{name: range}`` mapping (sequences not in it
    are scored whole); ``num_frames`` maps names to sequence lengths.
    """
    if not pairs:
        raise ValidationError("evaluate_many needs at least one (gt, tracks) pair")
    results = {}
    for seq_name, (gt, tracks) in pairs.items():
        seq_frames = frames.get(seq_name) if isinstance(frames, Mapping) else frames
        results[seq_name] = evaluate(
            gt,
            tracks,
            frames=seq_frames,
            benchmark=benchmark,
            num_frames=(num_frames or {}).get(seq_name),
            name=seq_name,
        )
    return BenchmarkResult(sequences=results, combined=SequenceResult.combine(list(results.values())))
