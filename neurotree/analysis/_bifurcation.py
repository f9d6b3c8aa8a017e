"""Codimension-1 and -2 bifurcation analysis: fixed points along parameters, saddle-node and Hopf
points, limit-cycle extents."""

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Complex, Float, Shaped

from ._fixed_points import describe, roots_over
from ._model import VectorField, as_ranges, unit_field
from ._phase_plane import integrate

_TOL = 1e-5  # Newton's tolerance on the extended systems, in units of the ranges
_MERGE = 1e-3  # bifurcation points closer than this (units of the ranges and the grid) are one
_FLAT = 1e-3  # a simulated orbit whose extent is below this (units of the ranges) is a point
_SETTLED = 1e-2  # an orbit's extents in the two halves of the window agree to this (ranges)
_RETURN = 0.1  # ... and its last point comes back this close to the first half (its extent)
_NUDGE = 1e-3  # start a limit-cycle run this far from the unstable fixed point


@dataclasses.dataclass(frozen=True)
class BifurcationPoints:
    """Saddle-node (`kind="saddle-node"`) or Hopf (`kind="hopf"`) points.

    Row i is one point: parameters `p[i]` (in the order of `parameters`), the fixed point
    `x[i]` there, and for Hopf points the angular `frequency[i]` = |Im lambda| of the eigenvalues
    crossing the imaginary axis (radians per time unit; 0 for saddle-nodes).
    """

    kind: str
    parameters: tuple[str, ...]
    variables: tuple[str, ...]
    p: Float[np.ndarray, "j n_params"]
    x: Float[np.ndarray, "j n"]
    frequency: Float[np.ndarray, " j"]

    def __len__(self) -> int:
        return len(self.p)


@dataclasses.dataclass(frozen=True)
class LimitCycles:
    """Extent of simulated periodic orbits: at parameters `p[i]`, each variable ranges over
    [`x_min[i]`, `x_max[i]`] after the transient; NaN where the run settled to a fixed point,
    was still drifting (its extents over the two halves of the window differ by more than 1% of
    the ranges, or it does not return near an earlier point: lengthen the run) or left the
    ranges."""

    parameters: tuple[str, ...]
    variables: tuple[str, ...]
    p: Float[np.ndarray, "m n_params"]
    x_min: Float[np.ndarray, "m n"]
    x_max: Float[np.ndarray, "m n"]


@dataclasses.dataclass(frozen=True)
class BifurcationResult:
    """What `Bifurcation.analyse` computes, ready for `nt.plot.bifurcation`.

    `values[i]` is the grid of parameter i; at grid point `idx` (one index per parameter) the
    fixed points are `x[idx][:count]` with Jacobian `eigenvalues[idx]` and `kind[idx]` (see
    `nt.analysis.FixedPoints`), padded with NaN and "" up to the largest count `k`.
    """

    variables: tuple[str, ...]
    parameters: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    x: Float[np.ndarray, "*grid k n"]
    eigenvalues: Complex[np.ndarray, "*grid k n"]
    kind: Shaped[np.ndarray, "*grid k"]
    saddle_nodes: BifurcationPoints
    hopf: BifurcationPoints
    cycles: LimitCycles | None

    @property
    def stable(self) -> np.ndarray:
        return np.char.startswith(self.kind.astype(str), "stable")

    @property
    def count(self) -> np.ndarray:
        """The number of fixed points at each grid point."""
        return (self.kind != "").sum(axis=-1)


class Bifurcation(eqx.Module):
    """Fixed points and their stability along one or two parameters (codimension 1 or 2).

    `variables` maps the analysed state variables to (low, high) ranges and `parameters` maps
    one or two parameter names (`"input"`, a model field, a held state variable; see
    `nt.analysis.VectorField`) to 1-D grids of values. At every grid point the fixed points are
    found by vmapped Newton from a grid of starts and classified by the eigenvalues of the
    Jacobian (`jax.jacfwd`). Along each grid line (each parameter in turn, the other held):

    - a saddle-node (fold) is where the numbers of fixed points with det J > 0 and < 0 change
      between neighbours (a real eigenvalue crosses 0 as two branches merge);
    - a Hopf point is where, along a branch (nearest neighbours with the same sign of det J),
      the bialternate-product test det(2J (.) I) changes sign (a pair lambda_i + lambda_j
      crosses 0; in 2-D this is tr J) and the crossing pair is complex.

    Each detection is refined by Newton on the extended system f(x, p) = 0, test(J(x, p)) = 0
    for (x, p), so points are located to solver precision, not to the grid spacing. In codim 2
    the points trace the saddle-node and Hopf curves in the parameter plane.

    For one parameter, `analyse(cycles=True)` also simulates the system (diffrax Tsit5) where no
    fixed point is stable, from next to a fixed point with every eigenvalue unstable (or from the
    middle of the ranges if there is none), and records each variable's extent after
    `transient`: the limit cycle's amplitude.

    Reference: Kuznetsov (2004), Elements of Applied Bifurcation Theory, 3rd ed., Springer,
    ch. 10 (test functions, bialternate product); Govaerts (2000), Numerical Methods for
    Bifurcations of Dynamical Equilibria, SIAM; BrainPy's `Bifurcation1D` / `Bifurcation2D`
    (Wang et al. 2023, eLife 12:e86365, Fig. 5).
    """

    field: VectorField
    ranges: Float[np.ndarray, "n 2"]
    values: tuple[np.ndarray, ...]
    n_starts: int | None = eqx.field(static=True)

    def __init__(
        self,
        target: Any,
        variables: Mapping[str, Any],
        parameters: Mapping[str, Any],
        *,
        fixed: Mapping[str, Any] | None = None,
        state_names: Sequence[str] | None = None,
        n_starts: int | None = None,
    ):
        names, self.ranges = as_ranges("Bifurcation", variables)
        if not isinstance(parameters, Mapping) or len(parameters) not in (1, 2):
            raise ValueError(
                f"Bifurcation(parameters={parameters!r}): expected a dict of one or two "
                "parameter names to 1-D grids of values, e.g. {'input': np.linspace(0, 2, 201)}."
            )
        values = []
        for name, grid in parameters.items():
            grid = np.asarray(grid, np.float64)
            if grid.ndim != 1 or len(grid) < 2 or not np.all(np.diff(grid) > 0):
                raise ValueError(
                    f"Bifurcation: the grid of {name!r} has shape {grid.shape}; expected at "
                    "least two increasing values."
                )
            values.append(grid)
        self.values = tuple(values)
        self.field = VectorField(
            target, names, tuple(parameters), fixed=fixed, state_names=state_names
        )
        self.n_starts = n_starts

    def analyse(
        self,
        *,
        cycles: bool = True,
        duration: float = 1000.0,
        transient: float | None = None,
        n_save: int = 2000,
    ) -> BifurcationResult:
        """Fixed points on the grid, saddle-node and Hopf points, and (one parameter, `cycles`)
        limit-cycle extents from runs of `duration` (default transient: its first half)."""
        field, lo, hi = self.field, self.ranges[:, 0], self.ranges[:, 1]
        shape = tuple(len(v) for v in self.values)
        grid = np.stack(np.meshgrid(*self.values, indexing="ij"), axis=-1).reshape(-1, len(shape))
        roots = roots_over(field, lo, hi, grid, self.n_starts)
        k = max(1, max(len(r) for r in roots))
        n = field.n
        u = np.full((len(grid), k, n), np.nan)
        lam = np.full((len(grid), k, n), np.nan + 0j)
        kind = np.full((len(grid), k), "", dtype="<U16")
        det = np.full((len(grid), k), np.nan)
        hopf = np.full((len(grid), k), np.nan)
        flat = [(g, i) for g, r in enumerate(roots) for i in range(len(r))]
        if flat:
            rows = np.array(flat)
            xs = lo + np.concatenate([r for r in roots if len(r)]) * (hi - lo)
            J, ev, _, kinds = describe(field, xs, grid[rows[:, 0]])
            u[rows[:, 0], rows[:, 1]] = (xs - lo) / (hi - lo)
            lam[rows[:, 0], rows[:, 1]] = ev
            kind[rows[:, 0], rows[:, 1]] = kinds
            det[rows[:, 0], rows[:, 1]] = np.linalg.det(J)
            if n > 1:
                hopf[rows[:, 0], rows[:, 1]] = np.linalg.det(_bialternate_np(J))
        u, lam, kind = (a.reshape(*shape, *a.shape[1:]) for a in (u, lam, kind))
        det, hopf = det.reshape(*shape, k), hopf.reshape(*shape, k)
        grid = grid.reshape(*shape, len(shape))
        sn_starts, hopf_starts = [], []
        for axis in range(len(shape)):
            for line in itertools.product(*(range(s) for i, s in enumerate(shape) if i != axis)):
                index = list(line)
                index.insert(axis, slice(None))
                index = tuple(index)
                args = (u[index], det[index], hopf[index], grid[index], axis)
                sn_starts += _fold_starts(*args)
                hopf_starts += _hopf_starts(*args) if n > 1 else []
        bounds = np.array([[v[0], v[-1]] for v in self.values])
        steps = np.array([np.max(np.diff(v)) for v in self.values])
        saddle_nodes = self._refine(sn_starts, "saddle-node", bounds, steps)
        hopf_points = self._refine(hopf_starts, "hopf", bounds, steps)
        x = lo + u * (hi - lo)
        limit_cycles = None
        if cycles and len(shape) == 1:
            limit_cycles = self._cycles(x, lam, kind, grid, duration, transient, n_save)
        return BifurcationResult(
            field.variables, field.parameters, self.values, x, lam, kind, saddle_nodes,
            hopf_points, limit_cycles,
        )  # fmt: skip

    def _refine(self, starts, kind, bounds, steps) -> BifurcationPoints:
        field, lo, hi = self.field, self.ranges[:, 0], self.ranges[:, 1]
        n, m = field.n, len(field.parameters)
        found_p, found_x, freq = [], [], []
        by_axis = {}
        for s in starts:
            by_axis.setdefault(s[0], []).append(s)
        for axis, group in by_axis.items():
            u0 = np.array([s[1] for s in group])
            p0 = np.array([s[2] for s in group])
            span = (bounds[axis, 0], bounds[axis, 1])
            q0 = (p0[:, axis] - span[0]) / (span[1] - span[0])
            dtype = field.p0.dtype
            z, ok = _extended_newton(
                field, jnp.asarray(lo, dtype), jnp.asarray(hi, dtype),
                jnp.asarray(np.column_stack([u0, q0]), dtype), jnp.asarray(p0, dtype), axis,
                jnp.asarray(span, dtype), kind,
            )  # fmt: skip
            z, ok = np.asarray(z, np.float64), np.asarray(ok)
            for zi, oki, pi, s in zip(z, ok, p0, group):
                p_star = span[0] + zi[-1] * (span[1] - span[0])
                lo_p, hi_p = s[3]
                inside = np.all((zi[:n] > -1e-3) & (zi[:n] < 1 + 1e-3))
                near = lo_p - steps[axis] <= p_star <= hi_p + steps[axis]
                if not (oki and inside and near and span[0] <= p_star <= span[1]):
                    continue
                p = pi.copy()
                p[axis] = p_star
                found_p.append(p)
                found_x.append(lo + zi[:n] * (hi - lo))
        p = np.array(found_p).reshape(-1, m)
        x = np.array(found_x).reshape(-1, n)
        if len(p):
            _, ev, _, _ = describe(field, x, p)
            scale = bounds[:, 1] - bounds[:, 0]
            keep, freq = [], []
            for i in range(len(p)):
                w = _crossing_frequency(ev[i]) if kind == "hopf" else 0.0
                if w is None:
                    continue  # lambda_i + lambda_j = 0 with real lambdas: a neutral saddle
                key = np.concatenate([(x[i] - lo) / (hi - lo), p[i] / scale])
                if any(np.max(np.abs(key - q)) < _MERGE for q, _ in keep):
                    continue
                keep.append((key, i))
                freq.append(w)
            idx = np.array([i for _, i in keep], int)
            p, x, freq = p[idx], x[idx], np.array(freq, np.float64)
            order = np.lexsort(p.T[::-1])
            p, x, freq = p[order], x[order], freq[order]
        else:
            freq = np.zeros(0)
        return BifurcationPoints(kind, field.parameters, field.variables, p, x, freq)

    def _cycles(self, x, lam, kind, grid, duration, transient, n_save) -> LimitCycles:
        stable = np.char.startswith(kind, "stable")
        where = np.flatnonzero(~stable.any(axis=-1))
        n = self.field.n
        starts = []
        for g in where:
            unstable = np.flatnonzero(np.all(lam[g].real > 0, axis=-1) & (kind[g] != ""))
            centre = self.ranges.mean(axis=1)
            starts.append(x[g, unstable[0]] if len(unstable) else centre)
        p = grid[where].reshape(len(where), -1)
        x_min, x_max = limit_cycle_extent(
            self.field, self.ranges, np.array(starts).reshape(-1, n), p, duration, transient,
            n_save,
        )  # fmt: skip
        return LimitCycles(self.field.parameters, self.field.variables, p, x_min, x_max)


def limit_cycle_extent(field, ranges, x_start, p, duration, transient, n_save):
    """Per row: each variable's (min, max) after the transient of a run from next to x_start;
    NaN where the run settles to a point, has not settled (the two halves of the window differ
    by more than 1% of the ranges, or its end is not within 10% of its extent of a point of the
    first half: a drift, not an orbit) or leaves the ranges."""
    n = field.n
    if len(p) == 0:
        return np.zeros((0, n)), np.zeros((0, n))
    transient = 0.5 * float(duration) if transient is None else float(transient)
    width = ranges[:, 1] - ranges[:, 0]
    x0 = x_start + _NUDGE * width
    run = integrate(field, ranges, x0, p, duration, t_start=transient, n_save=n_save)
    x_min, x_max = np.min(run.x, axis=1), np.max(run.x, axis=1)
    flat = np.max((x_max - x_min) / width, axis=-1) < _FLAT
    # On a limit cycle both halves of the window cover the same extent; not so while the orbit
    # is still drifting (a slow spiral, a long excursion near a homoclinic loop).
    half = run.x.shape[1] // 2
    first, second = run.x[:, :half], run.x[:, half:]
    drift = np.maximum(
        np.abs(first.min(axis=1) - second.min(axis=1)),
        np.abs(first.max(axis=1) - second.max(axis=1)),
    )
    unsettled = np.max(drift / width, axis=-1) > _SETTLED
    # An orbit returns: the last point is close (on the scale of the orbit) to one of the first
    # half; a slow drift (past the ghost of a saddle-node) does not.
    u = run.x / width
    extent = np.max(np.ptp(u, axis=1), axis=-1)
    recurrence = np.min(np.max(np.abs(u[:, :half] - u[:, -1:]), axis=-1), axis=-1)
    drifting = ~(recurrence < _RETURN * extent)
    bad = run.escaped | flat | unsettled | drifting | ~np.all(np.isfinite(run.x), axis=(1, 2))
    x_min[bad], x_max[bad] = np.nan, np.nan
    return x_min, x_max


def _fold_starts(u, det, hopf, p, axis):
    """Starts (axis, u, p, interval) for saddle-node refinement along one grid line."""
    starts = []
    pos, neg = (det > 0).sum(-1), (det < 0).sum(-1)
    for j in range(len(p) - 1):
        if pos[j] == pos[j + 1] and neg[j] == neg[j + 1]:
            continue
        interval = (p[j, axis], p[j + 1, axis])
        for side in (j, j + 1):
            valid = np.flatnonzero(np.isfinite(det[side]) & (det[side] != 0))
            for i in valid:
                starts.append((axis, u[side, i], p[side], interval))
                partners = valid[np.sign(det[side, valid]) != np.sign(det[side, i])]
                if len(partners):
                    d = np.max(np.abs(u[side, partners] - u[side, i]), axis=-1)
                    mid = 0.5 * (u[side, i] + u[side, partners[np.argmin(d)]])
                    starts.append((axis, mid, p[side], interval))
    return starts


def _hopf_starts(u, det, hopf, p, axis):
    """Starts for Hopf refinement: sign changes of the test function along matched branches."""
    starts = []
    for j in range(len(p) - 1):
        here = np.flatnonzero(np.isfinite(hopf[j]))
        there = np.flatnonzero(np.isfinite(hopf[j + 1]))
        for i in here:
            same = there[np.sign(det[j + 1, there]) == np.sign(det[j, i])]
            if not len(same):
                continue
            d = np.max(np.abs(u[j + 1, same] - u[j, i]), axis=-1)
            i2 = same[np.argmin(d)]
            h0, h1 = hopf[j, i], hopf[j + 1, i2]
            if h0 * h1 > 0 or h0 == h1:
                continue
            w = h0 / (h0 - h1)
            start_u = u[j, i] + w * (u[j + 1, i2] - u[j, i])
            start_p = p[j] + w * (p[j + 1] - p[j])
            starts.append((axis, start_u, start_p, (p[j, axis], p[j + 1, axis])))
    return starts


def _crossing_frequency(ev: np.ndarray) -> float | None:
    """|Im lambda| of the complex pair on the imaginary axis, or None if lambda_i + lambda_j = 0
    only for a real pair."""
    n = len(ev)
    best, pair = np.inf, None
    for i in range(n):
        for j in range(i + 1, n):
            s = abs(ev[i] + ev[j])
            if s < best:
                best, pair = s, (i, j)
    if pair is None:
        return None
    w = abs(ev[pair[0]].imag)
    scale = max(np.abs(ev).max(), np.finfo(np.float32).tiny)
    return float(w) if w > 1e-4 * scale else None


def _bialternate_index(n: int):
    return [(p, q) for p in range(1, n) for q in range(p)]


def _bialternate(J):
    """The bialternate product 2J (.) I, whose eigenvalues are lambda_i + lambda_j (i < j).

    Kuznetsov (2004), Elements of Applied Bifurcation Theory, 3rd ed., section 10.2.2.
    """
    n = J.shape[-1]
    index = _bialternate_index(n)
    rows = []
    for p, q in index:
        row = []
        for r, s in index:
            if r == q:
                v = -J[p, s]
            elif r != p and s == q:
                v = J[p, r]
            elif r == p and s == q:
                v = J[p, p] + J[q, q]
            elif r == p and s != q:
                v = J[q, s]
            elif s == p:
                v = -J[q, r]
            else:
                v = 0.0 * J[0, 0]
            row.append(v)
        rows.append(jnp.stack(row) if isinstance(J, jax.Array) else np.array(row))
    return jnp.stack(rows) if isinstance(J, jax.Array) else np.array(rows)


def _bialternate_np(J: np.ndarray) -> np.ndarray:
    return np.array([_bialternate(j) for j in J])


@eqx.filter_jit
def _extended_newton(field, lo, hi, z0, p0, axis: int, span, kind: str):
    """Newton on (f(x, p) = 0, test(J) = 0) for (x, p[axis]); z = (u, q) in units of the ranges
    and of the parameter's grid span."""
    g = unit_field(field, lo, hi)

    def F(z, p0):
        u, q = z[:-1], z[-1]
        p = p0.at[axis].set(span[0] + q * (span[1] - span[0]))
        J = jax.jacfwd(g)(u, p)
        test = jnp.linalg.det(J) if kind == "saddle-node" else jnp.linalg.det(_bialternate(J))
        return jnp.concatenate([g(u, p), test[None]])

    def one(z, p0):
        sol = optx.root_find(F, optx.Newton(rtol=_TOL, atol=_TOL), z, p0, max_steps=64, throw=False)
        z = sol.value
        step = jnp.linalg.solve(jax.jacfwd(F)(z, p0), F(z, p0))
        return z, jnp.all(jnp.isfinite(z)) & (jnp.max(jnp.abs(step)) < 10 * _TOL)

    return jax.vmap(one)(z0, p0)
