"""ultralytics set up to work offline, whatever uses it (detector training, ``.pt`` inference).

ultralytics reads its environment once, at import, and otherwise reaches the network: update checks,
analytics, ``pip install`` of what it misses, and fonts for its plots. :func:`configure_ultralytics_offline`
sets ``YOLO_OFFLINE=1`` (no update checks, no analytics), ``YOLO_AUTOINSTALL=0`` (no ``pip install`` behind
the user's back), a settings folder of our own (``YOLO_CONFIG_DIR``), and copies the fonts its plots ask
for (``Arial.ttf``, ``Arial.Unicode.ttf``) there from a TTF found on this machine, matplotlib's DejaVu Sans
first (ultralytics depends on matplotlib, so it is always there). :func:`import_ultralytics` is the one
way selftrack imports it, so no use can skip the set-up. The project sets these; a user never has to.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from selftrack.core.errors import SelftrackError

EXTRA_INSTALL = "pip install 'selftrack[ultralytics]' (in an environment of its own: it installs a CUDA build of torch)"
INSTALL_HINT = f"training YOLO needs the ultralytics extra: {EXTRA_INSTALL}"
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""The fonts ultralytics downloads on first use unless they are in its settings folder."""


def find_font() -> Path:
    """A TrueType font on this machine: matplotlib's DejaVu Sans, else one from the system font folders.

    matplotlib is found without importing it (its import is slow and builds a font cache).

    Raises:
        SelftrackError: no ``.ttf`` anywhere, with the command that installs one.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return bundled
    folders = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        Path.home() / ".local/share/fonts",
        Path.home() / ".fonts",
    ]
    found = sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*.ttf"))
    for p in found:
        if p.name == "DejaVuSans.ttf":
            return p
    if found:
        return found[0]
    raise SelftrackError(
        "no TrueType font found (ultralytics needs one for its plots and would download it): "
        "pip install matplotlib, or apt-get install fonts-dejavu-core"
    )


def default_config_dir() -> Path:
    """Where selftrack keeps ultralytics' settings: ``$XDG_CACHE_HOME/selftrack/ultralytics`` (or ``~/.cache``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "selftrack" / "ultralytics"


def configure_ultralytics_offline(config_dir: str | Path | None = None) -> Path:
    """Set the environment ultralytics needs to work offline; return its settings folder (fonts inside).

    Call before ``import ultralytics`` (:func:`import_ultralytics` does): ultralytics reads these
    variables once, at import. ``YOLO_OFFLINE`` and ``YOLO_AUTOINSTALL`` are always overwritten: a
    training job must never reach the network or install packages. ``YOLO_CONFIG_DIR`` keeps a
    value the user set; otherwise it is ``config_dir`` or :func:`default_config_dir`. If ultralytics
    was imported already, the fonts also go to the folder it settled on.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    if config_dir is not None:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    elif not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str(default_config_dir())
    settings = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    folders = [settings]
    loaded = sys.modules.get("ultralytics.utils")
    if loaded is not None and getattr(loaded, "USER_CONFIG_DIR", None) is not None:
        folders.append(Path(loaded.USER_CONFIG_DIR))
    font: Path | None = None
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for name in FONT_NAMES:
            target = folder / name
            if not target.is_file():
                font = font or find_font()
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                os.close(fd)
                shutil.copyfile(font, tmp)
                os.replace(tmp, target)  # never a half-copied font for a concurrent job to read
    return settings


def ultralytics_available() -> bool:
    """Whether the ultralytics extra is installed (checked without importing it)."""
    return importlib.util.find_spec("ultralytics") is not None


def import_ultralytics(purpose: str = "training YOLO") -> Any:
    """The ``ultralytics`` module, set up for offline use; an ImportError with the install hint if missing.

    Every use of ultralytics in selftrack (training, loading ``.pt`` weights) imports it through
    here, so none can run without the offline set-up. ``purpose`` starts the error message (what
    needs the extra).
    """
    hint = f"{purpose} needs the ultralytics extra: {EXTRA_INSTALL}"
    if not ultralytics_available():
        raise ImportError(hint)
    configure_ultralytics_offline()
    try:
        import ultralytics
    except (ImportError, RuntimeError) as e:  # a torch/torchvision mismatch fails with a RuntimeError
        raise ImportError(f"{hint}; importing it failed: {e}") from e
    return ultralytics
