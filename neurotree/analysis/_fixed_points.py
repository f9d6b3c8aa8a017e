"""Fixed points by vmapped Newton root finding from a grid of starts, and their stability."""

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Complex, Float, Int

from ._model import VectorField, as_ranges, unit_field

# Starts per dimension when not given: a denser grid where it is cheap.
_STARTS = {1: 64, 2: 20, 3: 8}
# Newton's tolerance, and the distance below which two roots are one, in units of the ranges.
_ROOT_TOL = 1e-5
_DEDUP_TOL = 1e-3
# Roots may lie this far outside the ranges (in units of the ranges) and still count.
_MARGIN = 1e-3
# A real part within this fraction of the largest eigenvalue's modulus counts as zero.
_ZERO_REAL = 1e-6


@dataclasses.dataclass(frozen=True)
class FixedPoints:
    """Fixed points of a vector field and their linear stability.

    `x[i]` is the i-th fixed point (the analysed `variables`, in order), `jacobian[i]` the
    Jacobian df/dx there (by `jax.jacfwd`), `eigenvalues[i]` its eigenvalues (by decreasing real
    part), `n_unstable[i]` how many have a positive real part, and `kind[i]` the classification:
    1-D "stable point", "unstable point"; 2-D "stable node", "unstable node", "stable focus",
    "unstable focus", "saddle", "centre"; n-D "stable", "unstable", "saddle"; "degenerate"
    wherever a real eigenvalue is zero (or, beyond 2-D, any real part is).
    """

    variables: tuple[str, ...]
    x: Float[np.ndarray, "k n"]
    jacobian: Float[np.ndarray, "k n n"]
    eigenvalues: Complex[np.ndarray, "k n"]
    n_unstable: Int[np.ndarray, " k"]
    kind: tuple[str, ...]

    @property
    def stable(self) -> np.ndarray:
        """True where every eigenvalue has a negative real part."""
        return np.array([k.startswith("stable") for k in self.kind], bool)

    def __len__(self) -> int:
        return len(self.kind)


def classify(eigenvalues: np.ndarray) -> tuple[str, int]:
    """The kind of a fixed point with these Jacobian eigenvalues, and how many are unstable."""
    lam = np.asarray(eigenvalues, np.complex128)
    n = lam.size
    zero = _ZERO_REAL * max(np.abs(lam).max(initial=0.0), np.finfo(np.float32).tiny)
    re, im = lam.real, lam.imag
    n_unstable = int(np.sum(re > zero))
    is_zero = np.abs(re) <= zero
    if np.any(is_zero & (np.abs(im) <= zero)):
        return "degenerate", n_unstable
    if n == 1:
        return ("unstable point" if n_unstable else "stable point"), n_unstable
    if n == 2:
        if np.any(np.abs(im) > zero):
            if np.all(is_zero):
                return "centre", 0
            return ("unstable focus" if re[0] > 0 else "stable focus"), n_unstable
        if n_unstable == 1:
            return "saddle", 1
        return ("unstable node" if n_unstable == 2 else "stable node"), n_unstable
    if np.any(is_zero):
        return "degenerate", n_unstable
    if n_unstable == 0:
        return "stable", 0
    return ("unstable" if n_unstable == n else "saddle"), n_unstable


def start_grid(lo: np.ndarray, hi: np.ndarray, n_starts: int | None) -> np.ndarray:
    """`n_starts` points per dimension in box units, at cell centres (none on an edge)."""
    n = len(lo)
    per_dim = _STARTS.get(n, 4) if n_starts is None else int(n_starts)
    if per_dim < 1:
        raise ValueError(f"n_starts={n_starts!r}: expected a positive number of starts per axis.")
    axis = (np.arange(per_dim) + 0.5) / per_dim
    return np.array(list(itertools.product(axis, repeat=n)), np.float64).reshape(-1, n)


@eqx.filter_jit
def _newton(field: VectorField, lo, hi, u0, p):
    """Newton from each start u0[i] (box units) at parameters p[i]: (u, converged)."""
    g = unit_field(field, lo, hi)

    def one(u, p):
        sol = optx.root_find(
            lambda u, p: g(u, p), optx.Newton(rtol=_ROOT_TOL, atol=_ROOT_TOL), u, p,
            max_steps=64, throw=False,
        )  # fmt: skip
        u = sol.value
        # Converged: the Newton step from the root is negligible on the scale of the ranges.
        gu, J = g(u, p), jax.jacfwd(g)(u, p)
        step = jnp.linalg.solve(J, gu)
        return u, jnp.all(jnp.isfinite(u)) & (jnp.max(jnp.abs(step)) < 10 * _ROOT_TOL)

    return jax.vmap(one)(u0, p)


@eqx.filter_jit
def jacobians(field: VectorField, x, p):
    """df/dx at each x[i] with parameters p[i]."""
    return jax.vmap(jax.jacfwd(field))(x, p)


def dedup(u: np.ndarray, ok: np.ndarray, tol: float = _DEDUP_TOL) -> np.ndarray:
    """The distinct converged roots inside the box (box units), sorted lexicographically."""
    keep = ok & np.all((u > -_MARGIN) & (u < 1 + _MARGIN), axis=-1)
    roots = u[keep]
    out: list[np.ndarray] = []
    for r in roots[np.lexsort(roots.T[::-1])] if len(roots) else roots:
        if not any(np.max(np.abs(r - q)) < tol for q in out):
            out.append(r)
    return np.array(out, np.float64).reshape(-1, u.shape[-1])


def roots_over(
    field: VectorField, lo: np.ndarray, hi: np.ndarray, params: np.ndarray, n_starts: int | None
) -> list[np.ndarray]:
    """For each parameter vector params[j], the distinct fixed points in the box (box units)."""
    starts = start_grid(lo, hi, n_starts)
    m, s = len(params), len(starts)
    dtype = field.p0.dtype
    u0 = jnp.asarray(np.tile(starts, (m, 1)), dtype)
    p = jnp.asarray(np.repeat(params, s, axis=0).reshape(m * s, -1), dtype)
    u, ok = _newton(field, jnp.asarray(lo, dtype), jnp.asarray(hi, dtype), u0, p)
    u = np.asarray(u, np.float64).reshape(m, s, -1)
    ok = np.asarray(ok).reshape(m, s)
    return [dedup(u[j], ok[j]) for j in range(m)]


def describe(
    field: VectorField, x: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Jacobians, eigenvalues (by decreasing real part), unstable counts and kinds at x[i], p[i]."""
    n = field.n
    if len(x) == 0:
        return np.zeros((0, n, n)), np.zeros((0, n), complex), np.zeros(0, int), ()
    dtype = field.p0.dtype
    J = np.asarray(
        jacobians(field, jnp.asarray(x, dtype), jnp.asarray(p, dtype).reshape(len(x), -1)),
        np.float64,
    )
    lam = np.linalg.eigvals(J).astype(np.complex128)
    lam = np.take_along_axis(lam, np.argsort(-lam.real, axis=-1, kind="stable"), axis=-1)
    kinds, counts = zip(*(classify(row) for row in lam))
    return J, lam, np.array(counts, int), tuple(kinds)


def fixed_points(
    target: Any,
    variables: Mapping[str, Any],
    *,
    fixed: Mapping[str, Any] | None = None,
    state_names=None,
    n_starts: int | None = None,
) -> FixedPoints:
    """The fixed points of `target` inside the `variables`' ranges, with their stability.

    `target`, `fixed` and `state_names` are as for `nt.analysis.VectorField`. Newton's method
    (`optimistix.Newton`) runs from a grid of `n_starts` points per variable (default 64, 20,
    8 for 1-3 variables, else 4), vmapped; converged roots inside the ranges are kept and those
    closer than 1e-3 of the ranges merged. Stability is from the eigenvalues of the Jacobian
    (`jax.jacfwd`); see `FixedPoints` for the classification.
    """
    names, bounds = as_ranges("fixed_points", variables)
    field = VectorField(target, names, fixed=fixed, state_names=state_names)
    return _fixed_points(field, bounds, n_starts)


def _fixed_points(field: VectorField, bounds: np.ndarray, n_starts) -> FixedPoints:
    lo, hi = bounds[:, 0], bounds[:, 1]
    p = np.asarray(field.p0, np.float64)[None]
    (u,) = roots_over(field, lo, hi, p, n_starts)
    x = lo + u * (hi - lo)
    J, lam, counts, kinds = describe(field, x, np.repeat(p, len(x), axis=0))
    return FixedPoints(field.variables, x, J, lam, counts, kinds)
