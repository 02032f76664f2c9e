"""The op manifest: every op's name and the module that defines it (one module per op).

An explicit list, as SkyhookML's ``ops/ops.go``: a reader sees every op in one place. Modules are imported
on first use (``pipeline.op.get_op``), so a worker process that runs ``cropresize`` does not pay for
importing SciPy's optimiser or PyTorch.
"""

OP_MODULES: dict[str, str] = {
    "bootstrap_detector": "selftrack.ops.bootstrap_detector",
    "cropresize": "selftrack.ops.cropresize",
    "detection_filter": "selftrack.ops.detection_filter",
    "evaluate": "selftrack.ops.evaluate",
    "object_detection": "selftrack.ops.object_detection",
    "reid_tracker": "selftrack.ops.reid_tracker",
    "render": "selftrack.ops.render",
    "resample": "selftrack.ops.resample",
    "sample": "selftrack.ops.sample",
    "split": "selftrack.ops.split",
    "track": "selftrack.ops.track",
    "train_detector": "selftrack.ops.train_detector",
    "union": "selftrack.ops.union",
    "unsupervised_reid": "selftrack.ops.unsupervised_reid",
    "video_sample": "selftrack.ops.video_sample",
}
