"""Cache keys: what makes a node's output current.

* A node's **config hash** covers its op, the op's code ``version`` and its params with defaults filled in.
* An item's **fingerprint** covers everything that defines its content: the sha256 of its file *and* its
  metadata, because ops read metadata as content. ``resample`` writes a video item that is a hard link of
  its input (same file, same sha256) with a new decode rate in its metadata; ``sample``, ``split`` and
  ``union`` pass items through with their metadata. Keying on the file alone (issue 13, case 9) kept
  ``cropresize`` "up to date" on frames decoded at the old rate. The ``cache`` entry an op adds to its
  outputs is left out: it records how the item was made, not what it holds, so an identical result made
  by other params does not invalidate what depends on it.
* A per-item output's **cache key** is the config hash plus the fingerprints of that key's input items.
* A whole-dataset node's **identity** is the config hash plus the content hashes of its input datasets
  (the store's content hash already covers each item's sha256 and metadata).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from selftrack.workspace.store import Item, Workspace

if TYPE_CHECKING:
    from selftrack.pipeline.graph import Node

PROVENANCE_KEYS = frozenset({"cache"})
"""Metadata entries that describe how an item was made rather than what it holds."""


def sha(*parts: Any) -> str:
    """A stable digest of JSON-able parts (dict keys sorted)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def config_hash(node: Node) -> str:
    op = node.op_class
    params = node.parsed_params().model_dump(mode="json")
    return sha("op", op.name, "version", op.version, "params", params)


def output_identity(node: Node, inputs: dict[str, list[str]]) -> str:
    """Which datasets a per-item node writes into: its config hash and the datasets it reads.

    The input datasets' names carry their own lineage (a node's output is named by this identity, a whole-
    dataset node's by its inputs' content), so a param change anywhere above gives this node new output
    datasets and the old ones stay, whole and consistent, until ``selftrack gc``. Adding items to an
    imported dataset keeps the name: only the new keys are computed.
    """
    return sha(config_hash(node), {port: list(names) for port, names in inputs.items()})


def item_fingerprint(item: Item) -> str:
    """The item's content as ops see it: file hash and metadata (provenance excluded)."""
    metadata = {k: v for k, v in item.metadata.items() if k not in PROVENANCE_KEYS}
    return sha(item.sha256, metadata)


def item_cache_key(identity: str, inputs: dict[str, list[Item]]) -> str:
    """Cache key of one key of a per-item node: its config hash and every input item's fingerprint."""
    return sha(identity, [[port, [item_fingerprint(it) for it in items]] for port, items in inputs.items()])


def whole_identity(ws: Workspace, node: Node, inputs: dict[str, list[str]]) -> str:
    """Identity of a whole-dataset node's run: config hash and the content hash of each input dataset."""
    return sha(
        config_hash(node),
        {port: [ws.dataset(ds).content_hash for ds in names] for port, names in sorted(inputs.items())},
    )
