"""Camera motion in another canvas's pixels, and gmc files written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selftrack.formats import read_gmc, write_gmc
from selftrack.trackers.cmc import rescale_transforms, warp_points


def test_rescaled_motion_moves_points_as_the_original_does_in_the_other_canvas():
    rng = np.random.default_rng(0)
    affines = np.tile(np.eye(2, 3), (4, 1, 1)) + rng.normal(0, 0.02, (4, 2, 3)) + [[0, 0, 9.0], [0, 0, -4.0]]
    src, dst = (1920, 1080), (960, 544)  # a detector's 960x544 canvas on a 1080p video
    d = np.array([dst[0] / src[0], dst[1] / src[1]])
    pts = rng.uniform(0, 1000, (10, 2))
    scaled = rescale_transforms(affines, src, dst)
    for a, b in zip(affines, scaled, strict=True):
        np.testing.assert_allclose(warp_points(pts * d, b), warp_points(pts, a) * d, atol=1e-9)
    assert rescale_transforms(affines, src, src) is not None
    np.testing.assert_array_equal(rescale_transforms(affines, src, src), affines)


def test_gmc_files_round_trip(tmp_path: Path):
    affines = np.tile(np.eye(2, 3), (3, 1, 1))
    affines[1] = [[0.99, -0.01, 3.25], [0.01, 0.99, -1.5]]
    write_gmc(affines, tmp_path / "gmc.txt")
    np.testing.assert_allclose(read_gmc(tmp_path / "gmc.txt"), affines, atol=1e-9)
    assert (tmp_path / "gmc.txt").read_text().splitlines()[1].startswith("1\t0.99\t")
