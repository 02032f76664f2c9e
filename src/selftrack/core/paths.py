"""Where selftrack keeps caches of work done on plain files (outside a workspace)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(*parts: str) -> Path:
    """``$SELFTRACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/selftrack``, else ``~/.cache/selftrack``; then ``parts``.

    The folder is not created here (callers create it when they write).
    """
    base = os.environ.get("SELFTRACK_CACHE_DIR")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "selftrack"
    return root.joinpath(*parts)
