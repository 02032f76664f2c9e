"""Constant-velocity Kalman filters over boxes, batched over every track of a frame.

One filter implementation serves every tracker; what differs between the published trackers is
only how a box is written as a measurement and how noisy the model is, so those are two small
model classes:

- :class:`XYAHModel`: centre, aspect ratio ``w/h``, height, and their velocities, with noise
  proportional to the box height (DeepSORT's filter, used unchanged by ByteTrack).
- :class:`XYSRModel`: centre, area ``w*h``, aspect ratio (constant), and velocities of centre and
  area, with fixed noise (SORT's filter, used unchanged by OC-SORT).
- :class:`XYXYModel`: the two corners and their velocities, with fixed noise in pixels (the
  filter of Roboflow's ByteTrack re-implementation, an option of our ByteTrack).

State means are ``(n, d)`` arrays and covariances ``(n, d, d)``; each call handles all tracks at
once so a frame costs a handful of numpy calls, not a Python loop over tracks. The measurement
is always the first four state components (``H = [I 0]``), which keeps projection a slice.
"""

from __future__ import annotations

import numpy as np

from selftrack.trackers.cmc import axis_scales


class KalmanModel:
    """Shared predict/update/warp; subclasses define the box parametrisation and the noise.

    Attributes:
        dim: state size.
        transition: ``(dim, dim)`` constant-velocity transition matrix for one frame.
    """

    dim: int
    transition: np.ndarray

    # ------------------------------------------------------------------ parametrisation
    @staticmethod
    def to_measurement(xyxy: np.ndarray) -> np.ndarray:
        """``(n, 4)`` boxes to ``(n, 4)`` measurements."""
        raise NotImplementedError

    @staticmethod
    def measurement_to_xyxy(z: np.ndarray) -> np.ndarray:
        """``(n, 4)`` measurements (or the first four state components) to boxes."""
        raise NotImplementedError

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        """Boxes of ``(n, dim)`` state means."""
        return self.measurement_to_xyxy(mean[:, :4])

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of new tracks seen once, at rest."""
        raise NotImplementedError

    def process_variance(self, mean: np.ndarray) -> np.ndarray:
        """Diagonal of the process noise for the step from ``mean``: ``(n, dim)``, or ``(dim,)`` if constant."""
        raise NotImplementedError

    def measurement_variance(self, mean: np.ndarray) -> np.ndarray:
        """Diagonal of the measurement noise given the predicted ``mean``: ``(n, 4)``, or ``(4,)`` if constant."""
        raise NotImplementedError

    def warp_jacobian(self, affine: np.ndarray) -> np.ndarray:
        """``(dim, dim)`` linear map of the state under the camera affine (translation excluded)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ filter
    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead: ``x = F x``, ``P = F P F^T + Q``."""
        if len(mean) == 0:
            return mean, cov
        q = self.process_variance(mean)
        f = self.transition
        new_mean = mean @ f.T
        new_cov = f @ cov @ f.T
        new_cov.reshape(len(cov), -1)[:, :: self.dim + 1] += q  # the diagonals, as a strided view
        return new_mean, new_cov

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct with measurements ``z`` (one row per track)."""
        if len(mean) == 0:
            return mean, cov
        hp = cov[:, :4, :]  # H P
        s = hp[:, :, :4].copy()  # H P H^T + R
        s.reshape(len(s), 16)[:, ::5] += self.measurement_variance(mean)  # the diagonals, as a strided view
        gain_t = np.linalg.solve(s, hp)  # (K)^T = S^-1 H P, S and P symmetric
        innovation = z - mean[:, :4]
        new_mean = mean + np.einsum("nij,ni->nj", gain_t, innovation)
        new_cov = cov - np.einsum("nki,nkj->nij", gain_t, hp)
        return new_mean, new_cov

    def warp(self, mean: np.ndarray, cov: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move states (position, velocity, size and their covariance) by a camera affine."""
        if len(mean) == 0:
            return mean, cov
        jac = self.warp_jacobian(affine)
        new_mean = mean @ jac.T
        new_mean[:, :2] += affine[:, 2]
        return new_mean, jac @ cov @ jac.T

    def warp_measurement(self, z: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Move ``(n, 4)`` measurements by a camera affine."""
        out = z @ self.warp_jacobian(affine)[:4, :4].T
        out[:, :2] += affine[:, 2]
        return out


class XYAHModel(KalmanModel):
    """State ``[cx, cy, a, h, vcx, vcy, va, vh]`` with ``a = w / h``; noise scales with ``h``.

    The standard deviations are fractions of the box height (1/20 for position, 1/160 for
    velocity), as in DeepSORT and ByteTrack, so a large near-camera box may move more pixels per
    frame than a small distant one.
    """

    dim = 8
    transition = np.eye(8) + np.eye(8, k=4)
    std_position = 1.0 / 20
    std_velocity = 1.0 / 160

    # The noise diagonals as (per-height factor, constant) columns: filled column by column rather
    # than np.stack-ed, since trackers call these every frame on a handful of tracks
    _process_factor = np.array([std_position] * 2 + [0.0, std_position] + [std_velocity] * 2 + [0.0, std_velocity])
    _process_const = ((2, np.square(np.array([1e-2]))[0]), (6, np.square(np.array([1e-5]))[0]))
    _measurement_factor = np.array([std_position, std_position, 0.0, std_position])
    _measurement_const = ((2, np.square(np.array([1e-1]))[0]),)

    @staticmethod
    def to_measurement(xyxy: np.ndarray) -> np.ndarray:
        z = np.empty((len(xyxy), 4))
        w = xyxy[:, 2] - xyxy[:, 0]
        h = xyxy[:, 3] - xyxy[:, 1]
        z[:, 0] = xyxy[:, 0] + w / 2
        z[:, 1] = xyxy[:, 1] + h / 2
        z[:, 2] = 0.0
        np.divide(w, h, out=z[:, 2], where=h > 0)  # aspect ratio; 0 for a box without height
        z[:, 3] = h
        return z

    @staticmethod
    def measurement_to_xyxy(z: np.ndarray) -> np.ndarray:
        half = np.empty((len(z), 2))
        half[:, 1] = z[:, 3] / 2
        half[:, 0] = z[:, 2] * half[:, 1]
        return np.concatenate([z[:, :2] - half, z[:, :2] + half], axis=1)

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(z)
        mean = np.zeros((n, 8))
        mean[:, :4] = z
        h = z[:, 3]
        pos, vel = 2 * self.std_position * h, 10 * self.std_velocity * h
        std = np.stack([pos, pos, np.full(n, 1e-2), pos, vel, vel, np.full(n, 1e-5), vel], axis=1)
        cov = np.zeros((n, 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std**2
        return mean, cov

    def process_variance(self, mean: np.ndarray) -> np.ndarray:
        return self._height_variance(mean[:, 3], self._process_factor, self._process_const)

    def measurement_variance(self, mean: np.ndarray) -> np.ndarray:
        return self._height_variance(mean[:, 3], self._measurement_factor, self._measurement_const)

    @staticmethod
    def _height_variance(h: np.ndarray, factor: np.ndarray, const: tuple[tuple[int, np.floating], ...]) -> np.ndarray:
        """``(factor * h) ** 2`` per track, with the ``const`` columns' variance fixed."""
        var = np.multiply.outer(h, factor)
        np.square(var, out=var)
        for column, value in const:
            var[:, column] = value
        return var

    def warp_jacobian(self, affine: np.ndarray) -> np.ndarray:
        sx, sy = axis_scales(affine)
        jac = np.zeros((8, 8))
        for base in (0, 4):
            jac[base : base + 2, base : base + 2] = affine[:, :2]
            jac[base + 2, base + 2] = sx / sy if sy > 0 else 1.0
            jac[base + 3, base + 3] = sy
        return jac


class XYSRModel(KalmanModel):
    """State ``[cx, cy, s, r, vcx, vcy, vs]`` with ``s = w * h`` and ``r = w / h`` (constant).

    Fixed noise as in SORT: measurement variance 1 for the centre and 10 for area and ratio,
    initial variance 10 (and 10^4 for the unobserved velocities), process variance 1 for the box
    and 10^-2 (10^-4 for the area velocity) for the velocities.
    """

    dim = 7
    transition = np.eye(7) + np.eye(7, k=4)
    _process = np.array([1.0, 1.0, 1.0, 1.0, 1e-2, 1e-2, 1e-4])
    _measurement = np.array([1.0, 1.0, 10.0, 10.0])
    _initial = np.array([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])

    @staticmethod
    def to_measurement(xyxy: np.ndarray) -> np.ndarray:
        z = np.empty((len(xyxy), 4))
        wh = xyxy[:, 2:] - xyxy[:, :2]
        z[:, :2] = xyxy[:, :2] + wh / 2
        z[:, 2] = wh[:, 0] * wh[:, 1]
        z[:, 3] = wh[:, 0] / (wh[:, 1] + 1e-6)
        return z

    @staticmethod
    def measurement_to_xyxy(z: np.ndarray) -> np.ndarray:
        """Boxes from ``[cx, cy, s, r]``; a state with ``s * r < 0`` has no box and gives NaN."""
        half = np.empty((len(z), 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            half[:, 0] = np.sqrt(z[:, 2] * z[:, 3])
            half[:, 1] = z[:, 2] / half[:, 0]
        half /= 2
        return np.concatenate([z[:, :2] - half, z[:, :2] + half], axis=1)

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(z)
        mean = np.zeros((n, 7))
        mean[:, :4] = z
        cov = np.zeros((n, 7, 7))
        idx = np.arange(7)
        cov[:, idx, idx] = self._initial
        return mean, cov

    def process_variance(self, mean: np.ndarray) -> np.ndarray:
        return self._process

    def measurement_variance(self, mean: np.ndarray) -> np.ndarray:
        return self._measurement

    def warp_jacobian(self, affine: np.ndarray) -> np.ndarray:
        sx, sy = axis_scales(affine)
        jac = np.eye(7)
        jac[0:2, 0:2] = affine[:, :2]
        jac[4:6, 4:6] = affine[:, :2]
        jac[2, 2] = jac[6, 6] = sx * sy
        jac[3, 3] = sx / sy if sy > 0 else 1.0
        return jac


class XYXYModel(KalmanModel):
    """State ``[x1, y1, x2, y2, vx1, vy1, vx2, vy2]``: each corner moves at its own constant velocity.

    Fixed noise in pixels, the same for every box size: initial variance 1 for every component
    (velocities included, so a new track starts almost at rest), process variance 0.01 and
    measurement variance 0.1. With such a small measurement variance the estimate stays close to
    the last detection; width and height may change freely, unlike in :class:`XYAHModel`.
    """

    dim = 8
    transition = np.eye(8) + np.eye(8, k=4)
    initial_variance = 1.0
    process_var = 0.01
    measurement_var = 0.1

    @staticmethod
    def to_measurement(xyxy: np.ndarray) -> np.ndarray:
        return np.array(xyxy, dtype=np.float64, copy=True).reshape(-1, 4)

    @staticmethod
    def measurement_to_xyxy(z: np.ndarray) -> np.ndarray:
        return np.array(z[:, :4], dtype=np.float64, copy=True)

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(z)
        mean = np.zeros((n, 8))
        mean[:, :4] = z
        cov = np.broadcast_to(np.eye(8) * self.initial_variance, (n, 8, 8)).copy()
        return mean, cov

    def process_variance(self, mean: np.ndarray) -> np.ndarray:
        return np.full(8, self.process_var)

    def measurement_variance(self, mean: np.ndarray) -> np.ndarray:
        return np.full(4, self.measurement_var)

    def warp_jacobian(self, affine: np.ndarray) -> np.ndarray:
        jac = np.zeros((8, 8))
        for base in (0, 2, 4, 6):  # each corner, and each corner's velocity, turns with the camera
            jac[base : base + 2, base : base + 2] = affine[:, :2]
        return jac

    def warp(self, mean: np.ndarray, cov: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move states by a camera affine: both corners are translated (velocities only turn)."""
        if len(mean) == 0:
            return mean, cov
        jac = self.warp_jacobian(affine)
        new_mean = mean @ jac.T
        new_mean[:, 0:2] += affine[:, 2]
        new_mean[:, 2:4] += affine[:, 2]
        return new_mean, jac @ cov @ jac.T

    def warp_measurement(self, z: np.ndarray, affine: np.ndarray) -> np.ndarray:
        out = z @ self.warp_jacobian(affine)[:4, :4].T
        out[:, 0:2] += affine[:, 2]
        out[:, 2:4] += affine[:, 2]
        return out
