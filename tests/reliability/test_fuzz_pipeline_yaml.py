"""Property-based fuzzing of pipeline YAML: a clear ``SelftrackError`` or nodes saved, never a traceback, never
more than a stated memory (issue 13: a 373-byte alias bomb hung while its error was printed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzkit import NUMBERS, bounded
from hypothesis import given
from hypothesis import strategies as st

from selftrack.core import SelftrackError
from selftrack.pipeline import Pipeline
from selftrack.workspace import DataType, Workspace

OPS = ["resample", "cropresize", "sample", "union", "track", "detection_filter", "video_sample", "nope", "", None]
PORTS = ["input", "video", "detections", "inputs", "model", "x"]

leaf = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6), st.sampled_from(["1/2", "videos", "dets"]))
value = st.recursive(
    leaf,
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)),
    max_leaves=8,
)
ref = st.one_of(
    st.sampled_from(["videos", "dets", "a", "b", "missing"]),
    st.fixed_dictionaries(
        {},
        optional={
            "node": st.sampled_from(["a", "b", "c"]),
            "dataset": st.sampled_from(["videos", "dets"]),
            "output": st.text(max_size=6),
        },
    ),
    value,
)
node = st.fixed_dictionaries(
    {},
    optional={
        "op": st.sampled_from(OPS),
        "inputs": st.one_of(
            st.dictionaries(st.sampled_from(PORTS), st.one_of(ref, st.lists(ref, max_size=3)), max_size=3), value
        ),
        "params": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "fraction": st.one_of(leaf, st.just(0.5)),
                    "fps": leaf,
                    "count": leaf,
                    "tracker": leaf,
                    "resize": value,
                },
            ),
            value,
        ),
        "extra": leaf,
    },
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"nodes": st.dictionaries(st.sampled_from(["a", "b", "c", "9x", "a b", "x" * 70]), node, max_size=3)}
    ),
    value,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("ws") / "ws")
    ws.create_dataset("videos", DataType.VIDEO)
    ws.create_dataset("dets", DataType.DETECTIONS)
    return ws


def load(ws: Workspace, text: str) -> Any:
    result = bounded(lambda: Pipeline(ws).load_yaml(text), len(text.encode(errors="surrogatepass")))
    if not isinstance(result, SelftrackError):
        saved = Pipeline(ws).nodes()
        assert set(result) <= set(saved)
        for name in result:
            json.dumps(saved[name].params)  # saved as JSON: plain values only
    return result


@given(doc=documents)
def test_pipeline_yaml_structures(workspace: Workspace, doc: Any):
    load(workspace, yaml.safe_dump(doc, allow_unicode=True) + "\n")


@given(text=st.text(alphabet=st.sampled_from(list("nodes:op&*[]{},-!? \n\t'\"#|>a1./")), max_size=200))
def test_pipeline_yaml_text(workspace: Workspace, text: str):
    load(workspace, "nodes:\n" + text + "\n")


def test_alias_bomb_is_refused_quickly_with_one_line(workspace: Workspace, tmp_path: Path):
    """Issue 13: the 373-byte 'billion laughs' pipeline file hung while printing its error."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    bomb = "nodes:\n  x:\n    op: resample\n    inputs: {input: videos}\n    params:\n" + "\n".join(
        "      " + line for line in lines
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    result = bounded(lambda: Pipeline(workspace).load_yaml(path), len(bomb))
    assert isinstance(result, SelftrackError) and "aliases" in str(result)
    cli = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin" / "selftrack"
    if cli.exists():
        import subprocess

        proc = subprocess.run(
            [str(cli), "-w", str(workspace.root), "run", str(path)], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "billion laughs" in proc.stderr


def test_fraction_as_a_yaml_number_is_accepted(workspace: Workspace):
    """Issue 13: ``fraction: 0.5`` was refused as 'not a valid string'."""
    names = Pipeline(workspace).load_yaml(
        "nodes:\n  half:\n    op: resample\n    inputs: {input: videos}\n    params: {fraction: 0.5}\n"
    )
    assert names == ["half"]
    assert Pipeline(workspace).node("half").node.parsed_params().fraction in ("0.5", "1/2")


@pytest.mark.parametrize("key, value", [("inputs", True), ("inputs", [1, 2]), ("params", "fast"), ("params", 3)])
def test_inputs_or_params_that_are_not_mappings_are_named_in_one_line(workspace: Workspace, key: str, value: Any):
    """Found by the fuzzer: ``inputs: true`` crashed with AttributeError in the graph code."""
    spec = {"op": "resample", "inputs": {"input": "videos"}, key: value}
    with pytest.raises(SelftrackError, match=rf"node 'bad': '{key}' must be a mapping"):
        Pipeline(workspace).load_yaml(yaml.safe_dump({"nodes": {"bad": spec}}))
    assert "bad" not in Pipeline(workspace).nodes()
