"""selftrack: train a multi-object tracker from unlabeled video, and run it.

Layers (see ARCHITECTURE.md): ``core``, ``video``, ``formats``, ``synth``, ``metrics``, ``trackers``
are the bottom layer and never import ``workspace``, ``pipeline``, ``cli`` or ``server``.
"""

from selftrack.core import Detections, VideoInfo

__version__ = "0.1.0"

__all__ = ["Detections", "VideoInfo", "__version__"]
