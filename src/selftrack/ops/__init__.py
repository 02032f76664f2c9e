"""The op manifest: importing this module registers every op (one module per op).

An explicit list, as SkyhookML's ``ops/ops.go``: a reader sees every op in one place, and nothing is
registered by import side effects scattered over the code base.
"""

from selftrack.ops import (  # noqa: F401 - imported for registration
    cropresize,
    detection_filter,
    evaluate,
    resample,
    sample,
    split,
    track,
    union,
    video_sample,
)
