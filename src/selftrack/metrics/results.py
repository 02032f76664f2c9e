"""Typed results of the tracking metrics (HOTA, CLEAR, Identity) and how sequences combine.

Every value is a fraction in ``[0, 1]`` (MOTA can go below 0), as TrackEval reports internally;
the CLI and the web app multiply by 100 when they show percentages. Field names in ``to_dict()``
are TrackEval's (``HOTA``, ``CLR_TP``, ``IDF1``...) so numbers can be compared with published
tables and with TrackEval's own output field by field.

The derived fields are computed by the same formulas as TrackEval, including its conventions for
degenerate sequences (a sequence with no tracker boxes reports MOTA 0 rather than a formula
value), because reproducing published numbers exactly is the point of this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ALPHAS: np.ndarray = np.arange(0.05, 0.99, 0.05)
"""The 19 localisation thresholds HOTA is averaged over (0.05, 0.10 ... 0.95), as in TrackEval."""


def _pos(x: Any) -> Any:
    """``max(1, x)``: the guard TrackEval divides by, so empty counts give 0 instead of NaN."""
    return np.maximum(1.0, x)


@dataclass(frozen=True, eq=False)
class HotaResult:
    """HOTA and its sub-metrics; one value per threshold in :data:`ALPHAS`.

    The headline numbers (``hota``, ``deta``...) are the means over the thresholds, which is what
    papers and the MOTChallenge leaderboard call HOTA, DetA, etc.
    """

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    hota_alpha: np.ndarray
    deta_alpha: np.ndarray
    assa_alpha: np.ndarray
    detre_alpha: np.ndarray
    detpr_alpha: np.ndarray
    assre_alpha: np.ndarray
    asspr_alpha: np.ndarray
    loca_alpha: np.ndarray
    owta_alpha: np.ndarray

    @classmethod
    def from_counts(
        cls,
        tp: np.ndarray,
        fn: np.ndarray,
        fp: np.ndarray,
        assa: np.ndarray,
        assre: np.ndarray,
        asspr: np.ndarray,
        loca: np.ndarray,
    ) -> HotaResult:
        """Derive DetA/DetRe/DetPr/HOTA/OWTA from the per-threshold counts and association scores."""
        tp, fn, fp = (np.asarray(v, dtype=np.float64) for v in (tp, fn, fp))
        detre = tp / _pos(tp + fn)
        detpr = tp / _pos(tp + fp)
        deta = tp / _pos(tp + fn + fp)
        return cls(
            tp=tp,
            fn=fn,
            fp=fp,
            hota_alpha=np.sqrt(deta * assa),
            deta_alpha=deta,
            assa_alpha=np.asarray(assa, dtype=np.float64),
            detre_alpha=detre,
            detpr_alpha=detpr,
            assre_alpha=np.asarray(assre, dtype=np.float64),
            asspr_alpha=np.asarray(asspr, dtype=np.float64),
            loca_alpha=np.asarray(loca, dtype=np.float64),
            owta_alpha=np.sqrt(detre * assa),
        )

    @classmethod
    def unmatched(cls, num_gt_dets: int, num_tracker_dets: int) -> HotaResult:
        """A sequence where one side has no boxes: everything is a miss or a false positive.

        TrackEval reports LocA 1 and every score 0 here (not the formula values), and so do we.
        """
        zeros = np.zeros(len(ALPHAS))
        no_tracks = num_tracker_dets == 0
        fn = zeros + (num_gt_dets if no_tracks else 0)
        fp = zeros + (0 if no_tracks else num_tracker_dets)
        return cls(zeros, fn, fp, *([zeros] * 7), zeros + 1.0, zeros)

    @classmethod
    def combine(cls, parts: Sequence[HotaResult]) -> HotaResult:
        """Combine sequences: counts add up, association and localisation are averaged weighted by TP."""
        tp = sum(p.tp for p in parts)
        fn = sum(p.fn for p in parts)
        fp = sum(p.fp for p in parts)

        def weighted(name: str) -> np.ndarray:
            return sum(getattr(p, name) * p.tp for p in parts) / _pos(tp)

        loca = np.maximum(1e-10, sum(p.loca_alpha * p.tp for p in parts)) / np.maximum(1e-10, tp)
        return cls.from_counts(
            tp, fn, fp, weighted("assa_alpha"), weighted("assre_alpha"), weighted("asspr_alpha"), loca
        )

    # Headline numbers: means over the thresholds.
    hota = property(lambda self: float(np.mean(self.hota_alpha)), doc="HOTA, mean over alphas.")
    deta = property(lambda self: float(np.mean(self.deta_alpha)), doc="Detection accuracy.")
    assa = property(lambda self: float(np.mean(self.assa_alpha)), doc="Association accuracy.")
    detre = property(lambda self: float(np.mean(self.detre_alpha)), doc="Detection recall.")
    detpr = property(lambda self: float(np.mean(self.detpr_alpha)), doc="Detection precision.")
    assre = property(lambda self: float(np.mean(self.assre_alpha)), doc="Association recall.")
    asspr = property(lambda self: float(np.mean(self.asspr_alpha)), doc="Association precision.")
    loca = property(lambda self: float(np.mean(self.loca_alpha)), doc="Localisation accuracy.")
    owta = property(lambda self: float(np.mean(self.owta_alpha)), doc="Open-world tracking accuracy.")
    hota_0 = property(lambda self: float(self.hota_alpha[0]), doc="HOTA at the loosest threshold (0.05).")
    loca_0 = property(lambda self: float(self.loca_alpha[0]), doc="LocA at the loosest threshold.")
    hota_loca_0 = property(lambda self: self.hota_0 * self.loca_0, doc="HOTA(0) x LocA(0).")

    _ARRAYS = (
        ("HOTA", "hota_alpha"),
        ("DetA", "deta_alpha"),
        ("AssA", "assa_alpha"),
        ("DetRe", "detre_alpha"),
        ("DetPr", "detpr_alpha"),
        ("AssRe", "assre_alpha"),
        ("AssPr", "asspr_alpha"),
        ("LocA", "loca_alpha"),
        ("OWTA", "owta_alpha"),
        ("HOTA_TP", "tp"),
        ("HOTA_FN", "fn"),
        ("HOTA_FP", "fp"),
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: headline means, the (0) fields, and every per-alpha array under ``per_alpha``."""
        out: dict[str, Any] = {
            name: float(np.mean(getattr(self, attr))) for name, attr in self._ARRAYS if not name.startswith("HOTA_")
        }
        out.update({"HOTA(0)": self.hota_0, "LocA(0)": self.loca_0, "HOTALocA(0)": self.hota_loca_0})
        out["alphas"] = [round(float(a), 2) for a in ALPHAS]
        out["per_alpha"] = {name: [float(v) for v in getattr(self, attr)] for name, attr in self._ARRAYS}
        return out


@dataclass(frozen=True)
class ClearResult:
    """CLEAR MOT metrics (Bernardin & Stiefelhagen 2008) with TrackEval's matching rules.

    Counts are boxes (``tp``, ``fn``, ``fp``), identity switches, and ground-truth tracks that are
    mostly tracked (>80% of their boxes matched), partially tracked or mostly lost (<20%).
    """

    tp: int
    fn: int
    fp: int
    idsw: int
    mt: int
    pt: int
    ml: int
    frag: int
    frames: int
    motp_sum: float
    mota: float = 0.0
    motp: float = 0.0
    moda: float = 0.0
    recall: float = 0.0
    precision: float = 0.0
    mtr: float = 0.0
    ptr: float = 0.0
    mlr: float = 0.0
    smota: float = 0.0
    f1: float = 0.0
    fp_per_frame: float = 0.0
    motal: float = 0.0

    @classmethod
    def from_counts(
        cls, *, tp: int, fn: int, fp: int, idsw: int, mt: int, pt: int, ml: int, frag: int, frames: int, motp_sum: float
    ) -> ClearResult:
        """Derive MOTA, MOTP and the ratios from the counts (TrackEval's final-field formulas)."""
        num_gt_ids = mt + pt + ml
        gt_dets = _pos(tp + fn)
        safe_log_idsw = np.log10(idsw) if idsw > 0 else idsw
        return cls(
            tp=int(tp),
            fn=int(fn),
            fp=int(fp),
            idsw=int(idsw),
            mt=int(mt),
            pt=int(pt),
            ml=int(ml),
            frag=int(frag),
            frames=int(frames),
            motp_sum=float(motp_sum),
            mota=float((tp - fp - idsw) / gt_dets),
            motp=float(motp_sum / _pos(tp)),
            moda=float((tp - fp) / gt_dets),
            recall=float(tp / gt_dets),
            precision=float(tp / _pos(tp + fp)),
            mtr=float(mt / _pos(num_gt_ids)),
            ptr=float(pt / _pos(num_gt_ids)),
            mlr=float(ml / _pos(num_gt_ids)),
            smota=float((motp_sum - fp - idsw) / gt_dets),
            f1=float(tp / _pos(tp + 0.5 * fn + 0.5 * fp)),
            fp_per_frame=float(fp / _pos(frames)),
            motal=float((tp - fp - safe_log_idsw) / gt_dets),
        )

    @classmethod
    def unmatched(cls, num_gt_dets: int, num_tracker_dets: int, num_gt_ids: int) -> ClearResult:
        """One side empty: all misses (every gt track mostly lost) or all false positives.

        As in TrackEval the ratios are not derived here (MOTA stays 0 and ``frames`` 0).
        """
        if num_tracker_dets == 0:
            return cls(0, num_gt_dets, 0, 0, 0, 0, num_gt_ids, 0, 0, 0.0, mlr=1.0)
        return cls(0, 0, num_tracker_dets, 0, 0, 0, 0, 0, 0, 0.0, mlr=1.0)

    @classmethod
    def combine(cls, parts: Sequence[ClearResult]) -> ClearResult:
        """Combine sequences: counts (and the MOTP numerator) add up, ratios are recomputed."""
        names = ("tp", "fn", "fp", "idsw", "mt", "pt", "ml", "frag", "frames", "motp_sum")
        return cls.from_counts(**{n: sum(getattr(p, n) for p in parts) for n in names})

    _NAMES = (
        ("MOTA", "mota"),
        ("MOTP", "motp"),
        ("MODA", "moda"),
        ("CLR_Re", "recall"),
        ("CLR_Pr", "precision"),
        ("MTR", "mtr"),
        ("PTR", "ptr"),
        ("MLR", "mlr"),
        ("sMOTA", "smota"),
        ("CLR_F1", "f1"),
        ("FP_per_frame", "fp_per_frame"),
        ("MOTAL", "motal"),
        ("MOTP_sum", "motp_sum"),
        ("CLR_TP", "tp"),
        ("CLR_FN", "fn"),
        ("CLR_FP", "fp"),
        ("IDSW", "idsw"),
        ("MT", "mt"),
        ("PT", "pt"),
        ("ML", "ml"),
        ("Frag", "frag"),
        ("CLR_Frames", "frames"),
    )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, attr) for name, attr in self._NAMES}


@dataclass(frozen=True)
class IdentityResult:
    """Identity metrics (Ristani et al. 2016): boxes matched under the best one-to-one track mapping."""

    idtp: int
    idfn: int
    idfp: int
    idf1: float = 0.0
    idr: float = 0.0
    idp: float = 0.0

    @classmethod
    def from_counts(cls, idtp: int, idfn: int, idfp: int) -> IdentityResult:
        return cls(
            idtp=int(idtp),
            idfn=int(idfn),
            idfp=int(idfp),
            idf1=float(idtp / _pos(idtp + 0.5 * idfp + 0.5 * idfn)),
            idr=float(idtp / _pos(idtp + idfn)),
            idp=float(idtp / _pos(idtp + idfp)),
        )

    @classmethod
    def combine(cls, parts: Sequence[IdentityResult]) -> IdentityResult:
        return cls.from_counts(sum(p.idtp for p in parts), sum(p.idfn for p in parts), sum(p.idfp for p in parts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "IDF1": self.idf1,
            "IDR": self.idr,
            "IDP": self.idp,
            "IDTP": self.idtp,
            "IDFN": self.idfn,
            "IDFP": self.idfp,
        }


SUMMARY_FIELDS: tuple[str, ...] = (
    "HOTA",
    "DetA",
    "AssA",
    "LocA",
    "MOTA",
    "MOTP",
    "IDF1",
    "IDP",
    "IDR",
    "IDSW",
    "FP",
    "FN",
    "MT",
    "PT",
    "ML",
    "Frag",
)
"""Headline columns of :meth:`SequenceResult.summary`, in display order."""

COUNT_FIELDS = frozenset({"IDSW", "FP", "FN", "MT", "PT", "ML", "Frag"})
"""Summary columns that are counts; every other summary column is a fraction (the CLI shows x100)."""


@dataclass(frozen=True, eq=False)
class SequenceResult:
    """All metrics of one tracker output on one sequence (or on several, combined).

    ``frames`` is the scored range as 0-based ``(start, stop)`` (``None``: every frame).
    """

    name: str | None
    hota: HotaResult
    clear: ClearResult
    identity: IdentityResult
    num_frames: int
    num_gt_dets: int
    num_tracker_dets: int
    num_gt_ids: int
    num_tracker_ids: int
    benchmark: str
    frames: tuple[int, int] | None = None

    def summary(self) -> dict[str, float | int]:
        """Headline numbers (:data:`SUMMARY_FIELDS`): fractions for scores, ints for counts."""
        h, c, i = self.hota, self.clear, self.identity
        return {
            "HOTA": h.hota,
            "DetA": h.deta,
            "AssA": h.assa,
            "LocA": h.loca,
            "MOTA": c.mota,
            "MOTP": c.motp,
            "IDF1": i.idf1,
            "IDP": i.idp,
            "IDR": i.idr,
            "IDSW": c.idsw,
            "FP": c.fp,
            "FN": c.fn,
            "MT": c.mt,
            "PT": c.pt,
            "ML": c.ml,
            "Frag": c.frag,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, grouped like TrackEval's output (HOTA / CLEAR / Identity / Count)."""
        return {
            "name": self.name,
            "benchmark": self.benchmark,
            "frames": list(self.frames) if self.frames is not None else None,
            "num_frames": self.num_frames,
            "HOTA": self.hota.to_dict(),
            "CLEAR": self.clear.to_dict(),
            "Identity": self.identity.to_dict(),
            "Count": {
                "Dets": self.num_tracker_dets,
                "GT_Dets": self.num_gt_dets,
                "IDs": self.num_tracker_ids,
                "GT_IDs": self.num_gt_ids,
            },
        }

    def table(self, percent: bool = True) -> str:
        """Plain-text one-row table of :meth:`summary` (percentages unless ``percent=False``)."""
        return format_table({self.name or "sequence": self}, percent=percent)

    @classmethod
    def combine(cls, parts: Sequence[SequenceResult], name: str = "COMBINED") -> SequenceResult:
        """Combine sequences the way TrackEval's ``COMBINED_SEQ`` does (counts summed, scores re-derived)."""
        benchmarks = sorted({p.benchmark for p in parts})
        return cls(
            name=name,
            hota=HotaResult.combine([p.hota for p in parts]),
            clear=ClearResult.combine([p.clear for p in parts]),
            identity=IdentityResult.combine([p.identity for p in parts]),
            num_frames=sum(p.num_frames for p in parts),
            num_gt_dets=sum(p.num_gt_dets for p in parts),
            num_tracker_dets=sum(p.num_tracker_dets for p in parts),
            num_gt_ids=sum(p.num_gt_ids for p in parts),
            num_tracker_ids=sum(p.num_tracker_ids for p in parts),
            benchmark="+".join(benchmarks),
        )


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """Per-sequence results plus the combination over all sequences (TrackEval's ``COMBINED_SEQ``)."""

    sequences: dict[str, SequenceResult]
    combined: SequenceResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequences": {k: v.to_dict() for k, v in self.sequences.items()},
            "combined": self.combined.to_dict(),
        }

    def table(self, percent: bool = True) -> str:
        """Plain-text table: one row per sequence, then the combined row."""
        return format_table({**self.sequences, "COMBINED": self.combined}, percent=percent)


def format_table(rows: dict[str, SequenceResult], percent: bool = True) -> str:
    """Fixed-width text table of the summary fields (no rich markup: logs and plain terminals)."""
    names = list(rows)
    width = max([len("sequence"), *(len(n) for n in names)])
    header = "sequence".ljust(width) + "".join(f"{f:>8}" for f in SUMMARY_FIELDS)
    lines = [header]
    for name in names:
        summary = rows[name].summary()
        cells = []
        for f in SUMMARY_FIELDS:
            v = summary[f]
            if f in COUNT_FIELDS:
                cells.append(f"{int(v):>8d}")
            else:
                cells.append(f"{100 * v:>8.3f}" if percent else f"{v:>8.4f}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
