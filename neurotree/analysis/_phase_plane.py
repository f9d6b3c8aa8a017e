"""Phase plane of a one- or two-variable (sub)system: flow, nullclines, fixed points, orbits."""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Bool, Float

from ._fixed_points import FixedPoints, _fixed_points
from ._model import VectorField, as_ranges, unit_field

# Trajectories stop once they leave the ranges by this much (in units of the ranges).
_ESCAPE = 1.0


@dataclasses.dataclass(frozen=True)
class Trajectories:
    """Solutions of the analysed system: `x[i, j]` is trajectory i at time `t[j]`.

    `escaped[i]` marks a trajectory stopped because it left the ranges by more than their width
    (or failed to integrate); its later points are NaN.
    """

    variables: tuple[str, ...]
    t: Float[np.ndarray, " T"]
    x: Float[np.ndarray, "m T n"]
    escaped: Bool[np.ndarray, " m"]


@dataclasses.dataclass(frozen=True)
class PhasePlaneResult:
    """What `PhasePlane.analyse` computes, ready for `nt.plot.phase_plane`.

    `axes[i]` is the grid of variable i on which `flow[i]` (dx_i/dt) is sampled; `nullclines[i]`
    are line segments (each two points: `[[x0, y0], [x1, y1]]`) along which dx_i/dt = 0 (two
    variables only; for one variable the fixed points are its zeros).
    """

    variables: tuple[str, ...]
    ranges: Float[np.ndarray, "n 2"]
    axes: tuple[np.ndarray, ...]
    flow: np.ndarray
    nullclines: tuple[np.ndarray, ...]
    fixed_points: FixedPoints
    trajectories: Trajectories | None


class PhasePlane(eqx.Module):
    """Phase-plane analysis of one or two variables of a model, the others held fixed.

    `variables` maps the analysed state variables to their (low, high) ranges; `target`,
    `fixed` and `state_names` are as for `nt.analysis.VectorField` (e.g. `fixed={"input": 0.5}`
    sets the input current). Everything goes through the model's `vector_field`:

    - `flow(resolution)`: dx/dt on a grid;
    - `nullclines(resolution)`: the curves dx_i/dt = 0 by marching squares on a grid, with
      crossings linearly interpolated along cell edges (two variables);
    - `fixed_points()`: Newton from a grid of starts (see `nt.analysis.fixed_points`), classified
      from the Jacobian's eigenvalues;
    - `trajectories(x0, duration)`: solutions by `diffrax.Tsit5` with adaptive steps
      (rtol 1e-6, in units of the ranges);
    - `analyse(...)`: all of these in one `PhasePlaneResult`.

    Reference: BrainPy's `PhasePlane1D` / `PhasePlane2D` (Wang et al. 2023, eLife 12:e86365,
    Fig. 5); Strogatz (2015), Nonlinear Dynamics and Chaos, 2nd ed., Westview, ch. 5-6.
    """

    field: VectorField
    ranges: Float[np.ndarray, "n 2"]
    n_starts: int | None = eqx.field(static=True)

    def __init__(
        self,
        target: Any,
        variables: Mapping[str, Any],
        *,
        fixed: Mapping[str, Any] | None = None,
        state_names: Sequence[str] | None = None,
        n_starts: int | None = None,
    ):
        names, self.ranges = as_ranges("PhasePlane", variables)
        if len(names) > 2:
            raise ValueError(
                f"PhasePlane(variables={tuple(names)}): a phase plane has one or two variables; "
                "use nt.analysis.fixed_points for more."
            )
        self.field = VectorField(target, names, fixed=fixed, state_names=state_names)
        self.n_starts = n_starts

    @property
    def variables(self) -> tuple[str, ...]:
        return self.field.variables

    def axes(self, resolution: int) -> tuple[np.ndarray, ...]:
        if isinstance(resolution, bool) or int(resolution) < 2:
            raise ValueError(f"resolution={resolution!r}: expected an integer >= 2.")
        return tuple(np.linspace(lo, hi, int(resolution)) for lo, hi in self.ranges)

    def flow(self, resolution: int = 30) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """The grid axes and dx/dt on their grid, shape (n, r) or (n, r, r) (`ij` indexing)."""
        axes = self.axes(resolution)
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        values = _on_grid(self.field, jnp.asarray(mesh.reshape(-1, len(axes)), self.field.p0.dtype))
        values = np.asarray(values, np.float64).reshape(*mesh.shape)
        return axes, np.moveaxis(values, -1, 0)

    def nullclines(self, resolution: int = 300) -> tuple[np.ndarray, ...]:
        """For each variable, the segments (m, 2, 2) of its nullcline (two variables only)."""
        if self.field.n != 2:
            raise ValueError("PhasePlane.nullclines: defined for two variables.")
        axes, values = self.flow(resolution)
        return tuple(_zero_contour(axes[0], axes[1], values[i]) for i in range(2))

    def fixed_points(self) -> FixedPoints:
        return _fixed_points(self.field, self.ranges, self.n_starts)

    def trajectories(
        self, x0: ArrayLike | Sequence, duration: float, *, n_save: int = 1000
    ) -> Trajectories:
        """Solutions from each row of `x0` (m, n) over `duration` (the model's time unit)."""
        x0 = np.atleast_2d(np.asarray(x0, np.float64))
        if x0.shape[-1] != self.field.n:
            raise ValueError(
                f"PhasePlane.trajectories: x0 has shape {x0.shape}; expected (m, {self.field.n}),"
                f" one row of {self.variables} per trajectory."
            )
        p = np.tile(np.asarray(self.field.p0, np.float64), (len(x0), 1))
        return integrate(self.field, self.ranges, x0, p, duration, n_save=n_save)

    def analyse(
        self,
        x0: ArrayLike | Sequence | None = None,
        duration: float = 100.0,
        *,
        resolution: int = 30,
        nullcline_resolution: int = 300,
    ) -> PhasePlaneResult:
        """Flow, nullclines, fixed points and (from the rows of `x0`, if given) trajectories."""
        axes, flow = self.flow(resolution)
        nullclines = self.nullclines(nullcline_resolution) if self.field.n == 2 else ()
        trajectories = None if x0 is None else self.trajectories(x0, duration)
        return PhasePlaneResult(
            self.variables, self.ranges, axes, flow, nullclines, self.fixed_points(), trajectories
        )


@eqx.filter_jit
def _on_grid(field, points):
    return jax.vmap(field, in_axes=(0, None))(points, field.p0)


def _zero_contour(xs: np.ndarray, ys: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Marching squares: the segments (m, 2, 2) where f (on the grid xs x ys, `ij`) is zero."""
    pos = f >= 0
    finite = np.isfinite(f)
    # Corners of each cell: c00 (i, j), c10 (i+1, j), c11 (i+1, j+1), c01 (i, j+1).
    c = [f[:-1, :-1], f[1:, :-1], f[1:, 1:], f[:-1, 1:]]
    s = [pos[:-1, :-1], pos[1:, :-1], pos[1:, 1:], pos[:-1, 1:]]
    ok = finite[:-1, :-1] & finite[1:, :-1] & finite[1:, 1:] & finite[:-1, 1:]
    X0, Y0 = np.meshgrid(xs[:-1], ys[:-1], indexing="ij")
    X1, Y1 = np.meshgrid(xs[1:], ys[1:], indexing="ij")
    corners = [(X0, Y0), (X1, Y0), (X1, Y1), (X0, Y1)]
    # Edge e joins corner e and corner e + 1 (mod 4).
    points, crosses = [], []
    for e in range(4):
        a, b = e, (e + 1) % 4
        cross = ok & (s[a] != s[b])
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(cross, c[a] / (c[a] - c[b]), 0.0)
        px = corners[a][0] + w * (corners[b][0] - corners[a][0])
        py = corners[a][1] + w * (corners[b][1] - corners[a][1])
        points.append(np.stack([px, py], axis=-1))
        crosses.append(cross)
    crosses = np.stack(crosses)  # (4, cells)
    count = crosses.sum(axis=0)
    segments = []
    two = count == 2
    if np.any(two):
        first = np.argmax(crosses, axis=0)
        last = 3 - np.argmax(crosses[::-1], axis=0)
        pts = np.stack(points)  # (4, nx-1, ny-1, 2)
        i, j = np.nonzero(two)
        segments.append(np.stack([pts[first[i, j], i, j], pts[last[i, j], i, j]], axis=1))
    four = count == 4
    if np.any(four):
        i, j = np.nonzero(four)
        centre = 0.25 * sum(ci[i, j] for ci in c)
        same = (centre >= 0) == s[0][i, j]  # centre on c00's side: c10 and c01 are cut off
        pairs_a = np.where(same[:, None], [[0, 1]], [[3, 0]])
        pairs_b = np.where(same[:, None], [[2, 3]], [[1, 2]])
        pts = np.stack(points)
        for pairs in (pairs_a, pairs_b):
            segments.append(np.stack([pts[pairs[:, 0], i, j], pts[pairs[:, 1], i, j]], axis=1))
    return np.concatenate(segments) if segments else np.zeros((0, 2, 2))


@eqx.filter_jit
def _solve(field, lo, hi, u0, p, ts):
    g = unit_field(field, lo, hi)
    term = diffrax.ODETerm(lambda t, u, p: g(u, p))

    def left(t, y, args, **kwargs):
        return jnp.max(jnp.abs(y - 0.5)) > 0.5 + _ESCAPE

    def one(u0, p):
        sol = diffrax.diffeqsolve(
            term, diffrax.Tsit5(), 0.0, ts[-1], None, u0, p, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8),
            event=diffrax.Event(left), max_steps=2**18, throw=False,
        )  # fmt: skip
        return sol.ys, sol.result == diffrax.RESULTS.successful

    return jax.vmap(one)(u0, p)


def integrate(
    field: VectorField,
    ranges: np.ndarray,
    x0: np.ndarray,
    p: np.ndarray,
    duration: float,
    *,
    t_start: float = 0.0,
    n_save: int = 1000,
) -> Trajectories:
    """Solve dx/dt = f(x, p[i]) from x0[i] for `duration`, saving n_save points from t_start."""
    duration, t_start = float(duration), float(t_start)
    if not (duration > 0 and 0 <= t_start < duration):
        raise ValueError(
            f"duration={duration!r}, t_start={t_start!r}: expected 0 <= t_start < duration."
        )
    if isinstance(n_save, bool) or int(n_save) < 2:
        raise ValueError(f"n_save={n_save!r}: expected an integer >= 2.")
    lo, hi = ranges[:, 0], ranges[:, 1]
    dtype = field.p0.dtype
    ts = np.linspace(t_start, duration, int(n_save))
    u, ok = _solve(
        field, jnp.asarray(lo, dtype), jnp.asarray(hi, dtype),
        jnp.asarray((x0 - lo) / (hi - lo), dtype), jnp.asarray(p, dtype).reshape(len(x0), -1),
        jnp.asarray(ts, dtype),
    )  # fmt: skip
    x = lo + np.asarray(u, np.float64) * (hi - lo)
    x = np.where(np.isfinite(x), x, np.nan)
    return Trajectories(field.variables, ts, x, ~np.asarray(ok))
