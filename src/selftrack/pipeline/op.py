"""Operations: what a pipeline node does.

An op declares, once, everything the rest of the system needs to know about it: its name and category (the
web app's Add Node menu), typed named inputs and outputs, and a pydantic parameter model whose defaults and
help text become the CLI flags, the API schema and the app's forms. SkyhookML declared parameters three
times (Go struct, Vue editor, defaults in getters where 0 meant "default"); here there is one declaration,
and ``None`` means "unset".

Two kinds of op:

* **per-item** (``per_item = True``): a function of the items that share a key across the inputs. The
  engine runs keys in parallel, caches each output item on its own inputs, and recomputes only what is
  missing or stale (SkyhookML's "incremental" ops).
* **whole-dataset** (``per_item = False``): sees every key at once (training, sampling, splitting).

Ops receive :class:`~selftrack.workspace.Item` handles, never decoded videos: they stream frames themselves.
"""

from __future__ import annotations

import time
from abc import ABC
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.workspace.store import DataType, Item, Workspace

if TYPE_CHECKING:
    from selftrack.pipeline.parallel import Mapper
    from selftrack.pipeline.staged import StagedOutputs


class OpParams(BaseModel):
    """Base of every op's parameter model: unknown parameters are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NoParams(OpParams):
    """For ops without parameters."""


@dataclass(frozen=True)
class Port:
    """A named input or output of an op.

    ``types`` lists accepted data types (an input declared ``detections`` also accepts ``tracks``).
    ``variable`` inputs take a list of datasets (SkyhookML's "Variable" inputs, e.g. render's layers).
    ``joined`` inputs take part in the key join; a model input is not joined: its one item (or the item
    named ``model_key``) is given to every key.
    """

    name: str
    types: tuple[DataType, ...]
    description: str = ""
    variable: bool = False
    optional: bool = False
    joined: bool = True

    def accepts(self, data_type: DataType) -> bool:
        return any(t.accepts(data_type) for t in self.types)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "types": [t.value for t in self.types],
            "description": self.description,
            "variable": self.variable,
            "optional": self.optional,
        }


class StopRequested(SelftrackError):
    """Raised inside an op when the job was asked to stop; nothing half-written is kept."""


_REGISTRY: dict[str, type[Op]] = {}


class Op(ABC):
    """Base class of every op. Subclasses set the class attributes and implement ``run_item`` or ``run``."""

    name: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str] = "General"
    description: ClassVar[str] = ""
    inputs: ClassVar[tuple[Port, ...]] = ()
    outputs: ClassVar[tuple[Port, ...]] = ()
    Params: ClassVar[type[OpParams]] = NoParams
    version: ClassVar[str] = "1"
    """Bump when the op's results change for the same inputs and params: it is part of the cache key."""
    per_item: ClassVar[bool] = True
    aligns_frames: ClassVar[bool] = False
    progress_unit: ClassVar[str] = "items"
    """What a whole-dataset op's ``progress(done, total)`` counts when it declares no stage of its own."""
    """Per-item ops whose frame-sequence inputs may differ in length say so here; otherwise a length
    mismatch between a video and its detections is an error naming both items."""
    uses_gpu: ClassVar[bool] = False
    """The op runs a model that uses a GPU when its worker has one (detection, re-id): a cluster executor
    then asks the scheduler for one per task, so the task lands on a GPU node."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
                raise SelftrackError(f"two ops are named {cls.name!r}: {_REGISTRY[cls.name]} and {cls}")
            _REGISTRY[cls.name] = cls

    def __init__(self, params: OpParams | dict[str, Any] | None = None) -> None:
        if isinstance(params, OpParams):
            self.params = params
        else:
            self.params = self.Params.model_validate(params or {})

    @classmethod
    def task_uses_gpu(cls, params: OpParams) -> bool:
        """Whether one task of this op wants a GPU: not when it splits its item (``chunk_frames``), whose
        pieces (``ctx.map(..., gpu=True)``) ask for their own; a waiting parent would hold the GPU."""
        return cls.uses_gpu and not getattr(params, "chunk_frames", None)

    # -- typing of outputs --------------------------------------------------------------------------
    @classmethod
    def output_types(cls, params: OpParams, input_types: dict[str, list[DataType]]) -> dict[str, DataType]:
        """Data type of each output; ops whose output type follows an input (sample, union) override this."""
        return {p.name: p.types[0] for p in cls.outputs}

    @classmethod
    def check_wiring(cls, params: OpParams, wired: set[str]) -> None:
        """Refuse wirings the params make invalid (e.g. a YOLO detector without a model); raise SelftrackError."""
        return None

    @classmethod
    def input(cls, name: str) -> Port:
        for p in cls.inputs:
            if p.name == name:
                return p
        raise KeyError(name)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Everything a client needs to render this op (the app's Add Node modal and node editor)."""
        return {
            "name": cls.name,
            "title": cls.title,
            "category": cls.category,
            "description": cls.description,
            "per_item": cls.per_item,
            "inputs": [p.describe() for p in cls.inputs],
            "outputs": [p.describe() for p in cls.outputs],
            "params_schema": cls.Params.model_json_schema(),
        }

    # -- execution ------------------------------------------------------------------------------------
    def run_item(self, ctx: ItemContext) -> None:
        raise NotImplementedError(f"op {self.name} is not per-item")

    def run(self, ctx: DatasetContext) -> None:
        raise NotImplementedError(f"op {self.name} is not a whole-dataset op")


def get_op(name: str) -> type[Op]:
    """The op class registered under ``name``, importing its module from the manifest on first use."""
    import importlib

    from selftrack.ops import OP_MODULES

    if name not in _REGISTRY:
        module = OP_MODULES.get(name)
        if module is None:
            known = sorted(set(OP_MODULES) | set(_REGISTRY))
            raise SelftrackError(f"unknown op {name!r}; known ops: {', '.join(known)}")
        importlib.import_module(module)
        if name not in _REGISTRY:
            raise SelftrackError(f"module {module} does not define op {name!r}")
    return _REGISTRY[name]


def list_ops() -> dict[str, type[Op]]:
    """Every op of the manifest (imports them all), plus any registered directly (tests, plugins)."""
    from selftrack.ops import OP_MODULES

    for name in OP_MODULES:
        get_op(name)
    return dict(sorted(_REGISTRY.items()))


# ---------------------------------------------------------------------------------------------- contexts
@dataclass
class Reporter:
    """How an op talks to its job: progress, log lines, structured events, stop requests.

    The engine gives each task a reporter backed by the job tables in the workspace, so it works the same
    in a worker process or on another machine. A bare reporter (no job) just ignores everything, which is
    what direct API calls and tests use.
    """

    log_fn: Callable[[str], None] | None = None
    event_fn: Callable[[str, dict[str, Any]], None] | None = None
    progress_fn: Callable[[int, int], None] | None = None
    stop_fn: Callable[[], bool] | None = None
    stage_fn: Callable[[str, str, int, int, int], None] | None = None
    _last_stop_check: float = 0.0
    _stop: bool = False

    def log(self, message: str) -> None:
        if self.log_fn:
            self.log_fn(message)

    def event(self, kind: str, **data: Any) -> None:
        if self.event_fn:
            self.event_fn(kind, data)

    def progress(self, done: int, total: int) -> None:
        if self.progress_fn:
            self.progress_fn(done, total)

    def stage(self, name: str, unit: str, total: int, *, part: int = 1, parts: int = 1) -> None:
        """Start a stage of the work: ``progress`` then counts ``unit`` (frames, boxes, steps) towards ``total``.

        ``part`` of ``parts``: its place among the op's stages, so the job's overall fraction never goes back.
        """
        if self.stage_fn:
            self.stage_fn(name, unit, total, part, parts)

    def stop_requested(self) -> bool:
        """Cheap to call every frame: the underlying check runs at most twice a second."""
        if self.stop_fn is None or self._stop:
            return self._stop
        now = time.monotonic()
        if now - self._last_stop_check > 0.5:
            self._last_stop_check = now
            self._stop = bool(self.stop_fn())
        return self._stop

    def check_stop(self) -> None:
        if self.stop_requested():
            raise StopRequested("stopped on request")


@dataclass
class ItemContext:
    """What a per-item op sees: one key, its input items, and writers for its outputs.

    Outputs go to the catalog directly (``ws``), or, on a remote worker, to a staging folder that the
    driver commits (``staged``; ``ws`` is then ``None``: remote workers never open the catalog). Ops only
    use the methods below, so they run unchanged in both. ``map`` runs pieces of the item (frame ranges,
    chunks) on whatever parallel workers the executor provides.
    """

    ws: Workspace | None
    key: str
    inputs: dict[str, Item | list[Item] | None]
    output_datasets: dict[str, str]
    cache_key: str = ""
    reporter: Reporter = field(default_factory=Reporter)
    written: dict[str, Item] = field(default_factory=dict)
    staged: StagedOutputs | None = None
    mapper: Mapper | None = None

    def item(self, port: str) -> Item:
        value = self.inputs.get(port)
        if not isinstance(value, Item):
            raise SelftrackError(f"input {port!r} of item {self.key!r} is not a single item")
        return value

    def items(self, port: str) -> list[Item]:
        value = self.inputs.get(port)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def _ws(self) -> Workspace:
        if self.ws is None:
            raise SelftrackError("this task runs without the catalog (remote worker) and has no staging folder")
        return self.ws

    def staging_path(self, suffix: str = "") -> AbstractContextManager[Path]:
        if self.staged is not None:
            return self.staged.staging_path(suffix)
        return self._ws().staging_path(suffix)

    def cache_dir(self, name: str) -> Path:
        """The workspace's cache folder ``cache/<name>`` (content-keyed caches: camera motion, ONNX twins).

        On the shared workspace path every node mounts, so a remote worker (no catalog) reads and fills the
        same caches as local runs.
        """
        root = self.ws.root if self.ws is not None else self.staged.root if self.staged is not None else None
        if root is None:
            raise SelftrackError("this task runs without a workspace path and has no cache folder")
        return Path(root) / "cache" / name

    def _meta(self, metadata: dict[str, Any] | None) -> dict[str, Any]:
        return {**(metadata or {}), "cache": self.cache_key}

    def put_detections(self, output: str, detections: Detections) -> Item:
        dataset, extra = self.output_datasets[output], {"cache": self.cache_key}
        if self.staged is not None:
            item = self.staged.put_detections(dataset, self.key, detections, extra_metadata=extra)
        else:
            item = self._ws().put_detections(dataset, self.key, detections, overwrite=True, extra_metadata=extra)
        self.written[output] = item
        return item

    def put_file(
        self,
        output: str,
        path: Path,
        *,
        metadata: dict[str, Any] | None = None,
        format: str | None = None,
        move: bool = True,
    ) -> Item:
        dataset, meta = self.output_datasets[output], self._meta(metadata)
        if self.staged is not None:
            item = self.staged.put_file(dataset, self.key, path, format=format, metadata=meta, move=move)
        else:
            item = self._ws().put_file(dataset, self.key, path, format=format, metadata=meta, move=move, overwrite=True)
        self.written[output] = item
        return item

    def link_item(self, output: str, source: Item, *, metadata: dict[str, Any] | None = None) -> Item:
        """Output an input item unchanged (a hard link, no copy: SkyhookML's "reference" items)."""
        meta = self._meta({**source.metadata, **(metadata or {})})
        dataset = self.output_datasets[output]
        if self.staged is not None:
            item = self.staged.link_item(dataset, self.key, source, metadata=meta)
        else:
            item = self._ws().put_file(
                dataset, self.key, source.path, format=source.format, metadata=meta, link=True, overwrite=True
            )
        self.written[output] = item
        return item

    def map(
        self, fn: Callable[[Any], Any], pieces: Sequence[Any], *, frames: Sequence[int], gpu: bool = False
    ) -> list[Any]:
        """``[fn(p) for p in pieces]`` on the executor's parallel workers, in order; progress counts
        ``frames[i]`` when piece ``i`` is done; a stop request cancels the pieces not done."""
        from selftrack.pipeline.parallel import PiecesStopped, SerialMapper

        mapper = self.mapper or SerialMapper()
        total = int(sum(frames))
        done = [0]

        def on_done(i: int) -> None:
            done[0] += int(frames[i])
            self.progress(done[0], total)

        try:
            return mapper.map(fn, pieces, on_done=on_done, should_stop=self.reporter.stop_requested, gpu=gpu)
        except PiecesStopped as e:
            raise StopRequested(str(e)) from None

    # reporting shortcuts
    def log(self, message: str) -> None:
        self.reporter.log(f"[{self.key}] {message}")

    def progress(self, done: int, total: int) -> None:
        self.reporter.progress(done, total)

    def check_stop(self) -> None:
        self.reporter.check_stop()


@dataclass
class DatasetContext:
    """What a whole-dataset op sees: every key of every input, and its output datasets."""

    ws: Workspace
    inputs: dict[str, list[str]]
    """Per input port, the names of the dataset(s) wired to it."""
    output_datasets: dict[str, str]
    keys: dict[str, list[str]]
    """Per input port, the keys available (for variable inputs, the union)."""
    cache_key: str = ""
    reporter: Reporter = field(default_factory=Reporter)

    def dataset(self, port: str) -> str:
        names = self.inputs.get(port) or []
        if len(names) != 1:
            raise SelftrackError(f"input {port!r} has {len(names)} datasets, expected one")
        return names[0]

    def input_items(self, port: str) -> Iterator[Item]:
        for name in self.inputs.get(port) or []:
            yield from self.ws.items(name)

    def put_detections(self, output: str, key: str, detections: Detections) -> Item:
        return self.ws.put_detections(
            self.output_datasets[output], key, detections, overwrite=True, extra_metadata={"cache": self.cache_key}
        )

    def put_file(
        self,
        output: str,
        key: str,
        path: Path,
        *,
        metadata: dict[str, Any] | None = None,
        format: str | None = None,
        move: bool = True,
    ) -> Item:
        meta = {**(metadata or {}), "cache": self.cache_key}
        return self.ws.put_file(
            self.output_datasets[output], key, path, format=format, metadata=meta, move=move, overwrite=True
        )

    def link_item(self, output: str, key: str, source: Item) -> Item:
        meta = {**source.metadata, "cache": self.cache_key}
        return self.ws.put_file(
            self.output_datasets[output],
            key,
            source.path,
            format=source.format,
            metadata=meta,
            link=True,
            overwrite=True,
        )

    def staging_path(self, suffix: str = "") -> AbstractContextManager[Path]:
        return self.ws.staging_path(suffix)

    def log(self, message: str) -> None:
        self.reporter.log(message)

    def event(self, kind: str, **data: Any) -> None:
        self.reporter.event(kind, **data)

    def progress(self, done: int, total: int) -> None:
        self.reporter.progress(done, total)

    def stage(self, name: str, unit: str, total: int, *, part: int = 1, parts: int = 1) -> None:
        self.reporter.stage(name, unit, total, part=part, parts=parts)

    def check_stop(self) -> None:
        self.reporter.check_stop()


def joined_keys(key_sets: Sequence[set[str]]) -> set[str]:
    """Keys present in every joined input (SkyhookML's inner join; the engine reports the rest)."""
    if not key_sets:
        return set()
    out = set(key_sets[0])
    for s in key_sets[1:]:
        out &= s
    return out
