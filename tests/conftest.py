"""Shared fixtures.

Real data lives in ``../shared/data`` (relative to the repository root). Tests that need it use the
``shared_data`` fixture: it skips with a clear reason when the folder is absent, except under CI
(``CI`` set, as ``.ci/run`` does), where absence is a failure so no real-data test silently stops.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skip (locally) or fail (in CI) when it is missing."""
    if not (SHARED_DATA / "README.md").exists():
        msg = f"real data folder {SHARED_DATA} is absent (it holds PETS09, MOT15/17 and the sample videos)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must have it")
        pytest.skip(msg)
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Caches selftrack keeps for plain files (camera motion, ONNX twins) go to a folder of this session.

    Set in the environment, so commands run as subprocesses use it too; the user's own cache is
    never read or written by the tests.
    """
    os.environ["SELFTRACK_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
