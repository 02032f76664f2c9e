"""Parameters of the re-id tracker, grouped by the part of the tracker that reads them.

- :class:`MotionParams`: how a track is predicted and how long it lives without a match;
- :class:`AssociationParams`: the online matching of tracks and boxes (scores, thresholds, costs);
- :class:`AppearanceParams`: which crops a track remembers and queries with;
- :class:`RelinkParams`: online re-linking of lost tracks by appearance;
- :class:`StitchParams`: offline stitching of track fragments;
- :class:`ColourParams`: offline cuts and joins by the boxes' colour looks when the learned model is not trusted.

Every field can also be given by its flat name (SkyhookML's ``velocity_steps``, ``min_iou``,
``max_age``, ``reid_weight``; ``high_score``, ``relink_max_age``, ``stitch_max_seconds``...) or by a
dotted path (``stitch.max_seconds``), so pipeline files, ``--param KEY=VALUE`` and keyword overrides
keep one spelling per knob.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from selftrack.core.errors import ValidationError, validation_message
from selftrack.trackers.base import TrackerParams

FALLBACK_MAX_AGE = 10
"""Frames a lost track is kept by motion when neither ``max_age`` nor a frame rate is given (SkyhookML's and
UNS20's fixed ``max_age``)."""
FALLBACK_INTERPOLATION_GAP = 20
"""Longest gap filled when neither ``max_interpolation_gap`` nor a frame rate is given (UNS20's)."""


def frames_for(frames: int | None, seconds: float, fps: float | None, fallback: int) -> int:
    """A limit given in frames (set) or in seconds (at ``fps``; ``fallback`` frames when the rate is unknown)."""
    if frames is not None:
        return frames
    if not fps:
        return fallback
    return max(1, round(seconds * fps)) if seconds > 0 else 0


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MotionParams(_Group):
    """How tracks move and age."""

    model: Literal["kalman", "velocity", "uns20"] = Field(
        "kalman",
        description="Motion model: Kalman filter, SkyhookML's velocity heuristic, or UNS20's recurrent matcher.",
    )
    velocity_steps: int = Field(
        5, ge=1, description="Frames over which velocity is measured (motion='velocity', SkyhookML's heuristic)."
    )
    max_age: int | None = Field(
        None,
        ge=0,
        description="Frames a track may go unmatched and still be matched by motion; unset: max_age_seconds at the "
        "video's frame rate (SkyhookML and UNS20 use 10 frames whatever the rate).",
    )
    max_age_seconds: float = Field(
        2.0,
        gt=0.0,
        description="The same limit in seconds, used when max_age is unset (with no frame rate known: "
        f"{FALLBACK_MAX_AGE} frames), so a track outlives the same occlusion at 7 and at 30 fps.",
    )
    output_box: Literal["auto", "kalman", "detection"] = Field(
        "auto",
        description="Box output for a matched track: the Kalman estimate (motion='kalman') or the detection; auto: "
        "the detection when every box scores alike (refined or ground-truth-like boxes, placed better than a "
        "filter's smoothing of them), the Kalman estimate for a detector's graded scores (as the classic trackers' "
        "preset=auto decides).",
    )


class AssociationParams(_Group):
    """Online association of tracks and the frame's boxes."""

    min_iou: float = Field(
        0.1, ge=0.0, le=1.0, description="Least IoU between a track's predicted box and a detection to match them."
    )
    reid_weight: float = Field(
        1.0, ge=0.0, description="Weight of the appearance probability added to the IoU; 0 turns appearance off."
    )
    matching: Literal["hungarian", "greedy"] = Field(
        "hungarian", description="Assignment: optimal (Hungarian) or greedy best-match (SkyhookML, UNS20)."
    )
    high_score: float | None = Field(
        None,
        ge=0.0,
        description="Detections scoring at least this are matched first (with appearance) and may start tracks; "
        "unset: where the video's detection scores split best into a low and a high group (Otsu's rule; every box "
        "when all score alike).",
    )
    low_score: float = Field(
        0.1, ge=0.0, description="Detections scoring at least this (below high_score) only extend tracks (ByteTrack)."
    )
    low_min_iou: float = Field(0.5, ge=0.0, le=1.0, description="Least IoU to match a low-score detection.")
    new_track_score: float | None = Field(
        None, ge=0.0, description="Least score for a detection to start a track; unset: high_score."
    )
    appearance_veto: float | None = Field(
        None, description="Forbid motion matches whose appearance logit is below this (UNS20 gates at 0); unset: never."
    )
    appearance_score: Literal["prob", "sigmoid"] = Field(
        "prob",
        description="Appearance term of the matching score: UNS20's min-softmax probability, or sigmoid of the logit.",
    )


class AppearanceParams(_Group):
    """What a track remembers of its look."""

    offsets: tuple[int, ...] = Field(
        (1, 2, 4, 8, 16), description="Past crops (matches back) each track is queried with (UNS20: 1, 2, 4, 8, 16)."
    )
    clean_crop_iou: float | None = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A crop whose box overlaps another box of its frame by more IoU than this is not added to its "
        "track's appearance history (it shows two objects); unset: every crop is added.",
    )
    needs_agreement: bool = Field(
        True,
        description="A high-score box matched to a track joins the track's appearance history only when the "
        "appearance matcher prefers that match to 'no match' (P(track, box) > P(track, terminal)): a box taken on "
        "overlap alone, in a crowd, does not teach the track someone else's look. Off: every clean crop is added.",
    )

    trust_none: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Agreement with motion on unambiguous matches at or below which appearance gets no weight "
        "(see reid.tracker.adaptive).",
    )
    trust_full: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="Agreement with motion on unambiguous matches at or above which appearance gets its full weight.",
    )
    trust_for_relinking: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Least appearance trust (0-1) for decisions on appearance alone: online re-linking and offline "
        "stitching.",
    )

    @pydantic.model_validator(mode="after")
    def _trust_order(self) -> AppearanceParams:
        if self.trust_full <= self.trust_none:
            raise ValueError("trust_full must be above trust_none")
        return self

    @pydantic.field_validator("offsets")
    @classmethod
    def _offsets(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or min(v) < 1 or max(v) > 256:
            raise ValueError("history offsets must be between 1 and 256")
        return tuple(sorted(set(v)))


class RelinkParams(_Group):
    """Online re-linking of lost tracks to new boxes by appearance."""

    max_age: int = Field(
        30, ge=0, description="Frames a lost track may be re-linked to a new detection by appearance; 0: never."
    )
    min_prob: float = Field(0.5, ge=0.0, le=1.0, description="Least appearance probability to re-link a lost track.")
    at_border: bool = Field(
        False,
        description="Re-link a lost track to a box at the image border (someone entering) online; off: leave "
        "re-entries to offline stitching, which compares every exit with every entry.",
    )
    speed: float = Field(
        0.35,
        ge=0.0,
        description="Re-linking gate: a lost track may have moved this many box heights per frame lost (plus one).",
    )


class StitchParams(_Group):
    """Offline stitching of track fragments, after the online pass."""

    max_seconds: float = Field(
        6.0,
        ge=0.0,
        description="Join a track's end to another track starting up to this many seconds later (needs the frame "
        "rate); 0: no stitching.",
    )
    max_gap: int = Field(0, ge=0, description="The same limit in frames, used instead of max_seconds when above 0.")
    reentry: bool = Field(
        True,
        description="Join a track that left the view to one entering later (the same object came back); off: an "
        "object that comes back is a new track (the convention of some ground truths, e.g. PETS09's).",
    )
    speed: float = Field(
        0.5,
        ge=0.0,
        description="A track lost inside the view may continue this many box heights per second away from where "
        "it was heading (plus one height): half a walker's speed of deviation from going on or stopping.",
    )
    min_prob: float = Field(0.3, ge=0.0, le=1.0, description="Least appearance probability to join two tracks.")
    min_agreement: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Least agreement of the appearance model with motion on unambiguous matches (the smaller of "
        "the validation estimate and the online count, see reid.tracker.adaptive) to stitch at all: lower than "
        "what the matching cost needs, since every join must also beat what different objects score.",
    )
    max_false_joins: float = Field(
        0.02,
        gt=0.0,
        le=1.0,
        description="A join must score above this share of the scores of track pairs seen in the same frame "
        "(certainly different objects): the rate of wrong joins accepted, measured on the video itself.",
    )
    window: int = Field(
        16,
        ge=1,
        description="Crops at each track end compared when joining tracks (a track's last ones: at most "
        "max(appearance.offsets)).",
    )


class ColourParams(_Group):
    """Offline cuts and joins by the boxes' colour looks (:mod:`selftrack.reid.colour`), used when the learned
    model is not trusted for decisions on appearance alone (see :mod:`selftrack.reid.tracker.colour`)."""

    enabled: bool = Field(
        True,
        description="Check re-acquisitions and join fragments by colour when the learned model is not trusted for "
        "it (its trust below appearance.trust_for_relinking) and the video's colours tell objects apart; off: never.",
    )
    crops: int = Field(
        20, ge=1, description="Crops averaged into a look at each side of a re-acquisition and at each track end."
    )
    min_gap: int = Field(
        2,
        ge=2,
        description="Frames between two matches of a track that make the second a re-acquisition (2: one frame missed).",
    )
    cut_below: float = Field(
        0.5,
        gt=0.0,
        lt=1.0,
        description="A re-acquisition is cut when the looks before and after it are less alike than this share of "
        "the pairs of tracks seen in the same frame (certainly different objects).",
    )
    join_above: float = Field(
        0.95,
        gt=0.0,
        lt=1.0,
        description="A fragment's end joins a later fragment's start (within the stitching gates) only when their "
        "looks are more alike than this share of the pairs of tracks seen in the same frame, and each is the "
        "other's best candidate.",
    )


TOP_LEVEL = ("border_margin", "min_track_length", "max_interpolation_gap", "max_interpolation_seconds")
"""The fields of :class:`ReidTrackerParams` outside the groups."""

GROUPS: dict[str, type[_Group]] = {
    "motion": MotionParams,
    "association": AssociationParams,
    "appearance": AppearanceParams,
    "relink": RelinkParams,
    "stitch": StitchParams,
    "colour": ColourParams,
}

FLAT_NAMES: dict[str, tuple[str, str]] = {
    "motion": ("motion", "model"),
    "velocity_steps": ("motion", "velocity_steps"),
    "max_age": ("motion", "max_age"),
    "max_age_seconds": ("motion", "max_age_seconds"),
    "output_box": ("motion", "output_box"),
    **{name: ("association", name) for name in AssociationParams.model_fields},
    "history_offsets": ("appearance", "offsets"),
    "clean_crop_iou": ("appearance", "clean_crop_iou"),
    "history_needs_appearance": ("appearance", "needs_agreement"),
    **{f"relink_{name}": ("relink", name) for name in RelinkParams.model_fields},
    **{f"stitch_{name}": ("stitch", name) for name in StitchParams.model_fields},
    **{f"colour_{name}": ("colour", name) for name in ColourParams.model_fields},
}
"""Flat name -> (group, field): the names the tracker's knobs had before they were grouped."""


class ReidTrackerParams(TrackerParams):
    """Parameters of :class:`~selftrack.reid.tracker.ReidTracker`, grouped (see module doc)."""

    motion: MotionParams = Field(default_factory=MotionParams, description="Motion model and track ageing.")
    association: AssociationParams = Field(
        default_factory=AssociationParams, description="Online association: scores, thresholds, assignment."
    )
    appearance: AppearanceParams = Field(
        default_factory=AppearanceParams, description="Which crops a track remembers and queries with."
    )
    relink: RelinkParams = Field(default_factory=RelinkParams, description="Online re-linking of lost tracks.")
    stitch: StitchParams = Field(default_factory=StitchParams, description="Offline stitching of track fragments.")
    colour: ColourParams = Field(
        default_factory=ColourParams, description="Offline cuts and joins by colour when the model is not trusted."
    )
    border_margin: float | None = Field(
        0.25,
        ge=0.0,
        description="A box this many of its heights or less from the image border is at the border (entering or "
        "leaving the view); stitching joins a track that left at the border only to one entering at the border, "
        "and online re-linking skips boxes at the border. Unset: no border rules.",
    )
    min_track_length: int = Field(
        4, ge=0, description="Tracks with fewer boxes are dropped after tracking (UNS20 drops 3 or fewer)."
    )
    max_interpolation_gap: int | None = Field(
        None,
        ge=0,
        description="Gaps up to this many frames inside a track are filled by interpolation; 0: none; unset: "
        "max_interpolation_seconds at the video's frame rate.",
    )
    max_interpolation_seconds: float = Field(
        2.0,
        ge=0.0,
        description="The same limit in seconds, used when max_interpolation_gap is unset (with no frame rate "
        f"known: {FALLBACK_INTERPOLATION_GAP} frames): the gaps a lost track is kept through by motion.",
    )

    def stitch_limit(self, fps: float | None, joiner: str = "stitching") -> int:
        """Longest gap in frames that offline joins bridge (0: off); raises when seconds need an unknown fps.

        ``joiner`` names what asks (stitching or the colour check, which bridges the same gaps) in that error."""
        s = self.stitch
        if s.max_gap > 0:
            return s.max_gap
        if s.max_seconds <= 0:
            return 0
        if not fps:
            off = "stitch_max_seconds=0 to turn stitching off" if joiner == "stitching" else "colour_enabled=False"
            raise ValidationError(
                f"re-id tracker: {joiner} joins fragments across gaps limited in seconds (stitch_max_seconds="
                f"{s.max_seconds:g}), so it needs the video's frame rate: pass fps=..., or set stitch_max_gap "
                f"(frames), or {off}"
            )
        return max(1, round(s.max_seconds * fps))

    def interpolation_gap(self, fps: float | None) -> int:
        """Longest gap filled by interpolation, in frames, at ``fps`` (see ``max_interpolation_gap``)."""
        return frames_for(self.max_interpolation_gap, self.max_interpolation_seconds, fps, FALLBACK_INTERPOLATION_GAP)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Accept flat (``stitch_max_seconds``) and dotted (``stitch.max_seconds``) names next to the groups."""
        return nest(data) if isinstance(data, dict) else data

    def flat(self) -> dict[str, Any]:
        """Every knob by its flat name (the spelling of pipeline files and ``--param``)."""
        out: dict[str, Any] = {}
        for flat, (group, name) in FLAT_NAMES.items():
            out[flat] = getattr(getattr(self, group), name)
        for name in TOP_LEVEL:
            out[name] = getattr(self, name)
        return out


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` by flat, dotted or group name, as ``{group: {field: value}, top-level field: value}``.

    A flat or dotted name wins over the same field inside a group dict, whatever the order.
    """
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    named: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if key in GROUPS and isinstance(value, dict | BaseModel):
            nested.setdefault(key, {}).update(value.model_dump() if isinstance(value, BaseModel) else value)
        elif key in FLAT_NAMES:
            group, name = FLAT_NAMES[key]
            named.setdefault(group, {})[name] = value
        elif "." in key and key.split(".", 1)[0] in GROUPS:
            group, name = key.split(".", 1)
            named.setdefault(group, {})[name] = value
        else:
            out[key] = value
    for group in {*nested, *named}:
        out[group] = {**nested.get(group, {}), **named.get(group, {})}
    return out


def validated(params: ReidTrackerParams | None, overrides: dict[str, Any]) -> ReidTrackerParams:
    """``params`` (or the defaults) with ``overrides`` by flat, dotted or group name; one error per bad value."""
    try:
        if params is None:
            return ReidTrackerParams(**overrides)
        if not isinstance(params, ReidTrackerParams):
            raise ValidationError(f"the re-id tracker takes ReidTrackerParams, got {type(params).__name__}")
        if not overrides:
            return params
        merged = params.model_dump()
        for key, value in nest(overrides).items():
            if key in GROUPS:
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return ReidTrackerParams.model_validate(merged)
    except pydantic.ValidationError as exc:
        fields = [*FLAT_NAMES, *TOP_LEVEL]
        raise ValidationError(validation_message("re-id tracker parameters", exc, fields=fields)) from exc
