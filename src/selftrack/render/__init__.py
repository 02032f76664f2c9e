"""Draw detections and tracks on frames and render them into browser-playable videos.

Low layer: imports ``core`` and ``video`` only.
"""

from selftrack.render.colors import UNTRACKED_COLOR, track_color, track_colors
from selftrack.render.draw import draw_box, draw_detections, scale_boxes
from selftrack.render.video import TrailBuffer, render_video, render_videos

__all__ = [
    "UNTRACKED_COLOR",
    "TrailBuffer",
    "draw_box",
    "draw_detections",
    "render_video",
    "render_videos",
    "scale_boxes",
    "track_color",
    "track_colors",
]
