"""Track colours: distinct for many ids, stable, never the untracked grey."""

from __future__ import annotations

import colorsys
import json
import os
import subprocess
import sys

import numpy as np
from scipy.spatial.distance import pdist

from selftrack.render import UNTRACKED_COLOR, track_color, track_colors


def test_first_200_ids_are_distinct():
    colors = np.array([track_color(i) for i in range(200)], dtype=np.float64)
    assert pdist(colors).min() >= 18  # RGB units; 19.9 measured (hue-only golden stepping gives ~10)
    # Ids that are close (alive at the same time, typically) are far apart in colour.
    near = [np.linalg.norm(colors[i] - colors[j]) for i in range(190) for j in range(i + 1, i + 8)]
    assert min(near) >= 40


def test_ids_beyond_a_palette_do_not_repeat():
    # SkyhookML's palette has 19 colours: id 1 and id 20 looked the same.
    for period in (16, 19, 20, 32, 64, 100):
        assert all(track_color(i) != track_color(i + period) for i in range(50))
    assert len({track_color(i) for i in range(5000)}) > 4900


def test_stable_across_processes_and_saturated():
    """An id's colour is a function of the id alone: another interpreter (other hash seed) draws the same."""
    ids = [0, 1, 7, 19, 20, 255, 123456789]
    code = f"import json; from selftrack.render import track_color; print(json.dumps([track_color(i) for i in {ids}]))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    )
    assert [tuple(c) for c in other] == [track_color(i) for i in ids]
    assert [tuple(c) for c in track_colors(np.array(ids))] == [track_color(i) for i in ids]  # both paths agree
    for i in range(0, 3000, 7):
        c = track_color(i)
        assert all(isinstance(v, int) and 0 <= v <= 255 for v in c)
        _, s, v = colorsys.rgb_to_hsv(*(x / 255 for x in c))
        assert s >= 0.49 and v >= 0.64  # never greyish, never too dark
        assert np.linalg.norm(np.subtract(c, UNTRACKED_COLOR)) > 60


def test_track_colors_marks_untracked():
    out = track_colors(np.array([-1, 3, -1]))
    assert out.dtype == np.uint8 and out.shape == (3, 3)
    assert tuple(out[0]) == UNTRACKED_COLOR == tuple(out[2])
    assert tuple(out[1]) == track_color(3)
