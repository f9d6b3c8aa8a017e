"""Fixed and slow points of high-dimensional dynamics, and their linearisation."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Bool, Complex, Float, Int, PyTree

_OWNER = "SlowPointFinder"


class SlowPoints(eqx.Module):
    """What `SlowPointFinder.find` found, and what it dropped and why.

    Per candidate (leading axis n, in the order given): `candidates` (the initial states, flat),
    `optimised` (where the minimisation ended), `q_all` (q there), and the masks `converged`
    (q < tol_q), `unique` (converged, and farther than tol_unique from every point with lower
    q kept before it), `inlier` (unique, and not isolated: see `SlowPointFinder`) and
    `kept = inlier`. Per kept point (leading axis k, sorted by q): `points` (flat), `q`,
    `jacobians` (dF/dx for a flow, d(map)/dx for a map), `eigenvalues` (sorted: largest real
    part first for a flow, largest modulus first for a map) and `eigenvectors` (column j of
    `eigenvectors[i]` belongs to `eigenvalues[i, j]`). `history` is the mean q over the
    candidates before each optimisation step. `states()` gives the kept points in the
    model's state structure.
    """

    candidates: Float[Array, "n d"]
    optimised: Float[Array, "n d"]
    q_all: Float[Array, " n"]
    converged: Bool[Array, " n"]
    unique: Bool[Array, " n"]
    inlier: Bool[Array, " n"]
    index: Int[Array, " k"]  # the candidate each kept point came from
    points: Float[Array, "k d"]
    q: Float[Array, " k"]
    jacobians: Float[Array, "k d d"]
    eigenvalues: Complex[Array, "k d"]
    eigenvectors: Complex[Array, "k d d"]
    history: Float[Array, " steps"]
    discrete: bool = eqx.field(static=True)
    unravel: Callable = eqx.field(static=True)

    @property
    def kept(self) -> Bool[Array, " n"]:
        return self.inlier

    def __len__(self) -> int:
        return self.points.shape[0]

    def states(self) -> PyTree:
        """The kept points as states of the model (each leaf with a leading axis k)."""
        return jax.vmap(self.unravel)(self.points)

    def n_unstable(self, tol: float = 0.0) -> Array:
        """Unstable directions of each kept point: eigenvalues with Re > tol (a flow) or
        |lambda| > 1 + tol (a map). 0 is a stable point, 1 a saddle with one unstable
        direction; a marginal direction (a line attractor) counts only if above `tol`."""
        if self.discrete:
            return jnp.sum(jnp.abs(self.eigenvalues) > 1.0 + tol, axis=-1)
        return jnp.sum(self.eigenvalues.real > tol, axis=-1)

    def summary(self) -> str:
        return (
            f"{self.q_all.shape[0]} candidates: {int(self.converged.sum())} converged, "
            f"{int(self.unique.sum())} unique, {int(self.inlier.sum())} inliers kept"
        )


class SlowPointFinder(eqx.Module):
    """Fixed and slow points by minimising the speed q(x) = 0.5 |F(x)|^2 (Sussillo & Barak 2013).

    F is the vector field of a flow dx/dt = F(x) (`model.vector_field(t, y, args)`, diffrax's
    signature, at the given `t` and `args`: the model's input, passed as is, e.g. 0.0 for
    `nt.zoo.CANN1D` or `jnp.zeros(n_in)` for `nt.training.RateRNN`; or a plain function F(x),
    closing over anything else it needs), or, with `discrete=True`, F(x) = f(x) - x for a map
    x_{t+1} = f(x) given as a plain function f. A state that is a PyTree is flattened with
    `jax.flatten_util.ravel_pytree`. Zeros of q are fixed points; local minima with small
    q > 0 are slow points, around which the linearisation dx/dt ~ J (x - x*) still describes
    the dynamics.

    `find(candidates)` runs `n_steps` of `optimizer` (default Adam whose learning rate
    `learning_rate` decays exponentially by 100x over the run) from every candidate at once,
    on sum_i q(x_i): the candidates do not interact (Adam is elementwise), so this is the
    vmapped per-candidate minimisation in one `jax.lax.scan`. Then, as BrainPy's
    `SlowPointFinder` (`filter_loss`, `keep_unique`, `exclude_outliers`):

      1. converged: q < `tol_q`;
      2. unique: greedily by increasing q, a point within `tol_unique` (Euclidean, in the
         flat state's units) of an already kept one is a duplicate;
      3. inlier: with `outlier` set, a unique point whose nearest unique neighbour is farther
         than `outlier` times the median nearest-neighbour distance is an outlier (a lone
         point stays: it has no neighbour to measure).

    At each kept point the Jacobian is `jax.jacfwd` (vmapped) of F (of f for a map) and its
    eigen-decomposition `jnp.linalg.eig`, computed on the CPU (XLA has no GPU eig). A flow's
    point is stable if every eigenvalue has Re < 0; a map's if every |lambda| < 1.
    Units: q is in (state unit / time unit of F)^2; tol_unique in the state's unit.

    Reference: Sussillo & Barak (2013), Opening the black box: low-dimensional dynamics in
    high-dimensional recurrent neural networks, Neural Comput 25(3):626-649; Golub & Sussillo
    (2018), FixedPointFinder, J Open Source Softw 3(31):1003; BrainPy's SlowPointFinder (Wang
    et al. 2023, eLife 12:e86365).
    """

    f: Any
    args: Any
    t: Float[Array, ""]
    discrete: bool = eqx.field(static=True)
    optimizer: optax.GradientTransformation = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    tol_q: float = eqx.field(static=True)
    tol_unique: float = eqx.field(static=True)
    outlier: float | None = eqx.field(static=True)

    def __init__(
        self,
        f,
        args=None,
        *,
        t: ArrayLike = 0.0,
        discrete: bool = False,
        optimizer: optax.GradientTransformation | None = None,
        learning_rate: float = 1e-2,
        n_steps: int = 5000,
        tol_q: float = 1e-8,
        tol_unique: float = 1e-3,
        outlier: float | None = 10.0,
    ):
        has_field = hasattr(f, "vector_field")
        if not has_field and not callable(f):
            raise ValueError(
                f"{_OWNER}(f={f!r}): expected a model with `vector_field(t, y, args)` or a "
                "function F(x) (f(x) for a map)."
            )
        if has_field and discrete:
            raise ValueError(
                f"{_OWNER}(discrete=True): a model's `vector_field` is a flow; for a map pass "
                "the one-step function f(x) itself."
            )
        if not has_field and args is not None:
            raise ValueError(
                f"{_OWNER}(args={args!r}): args are passed to a model's `vector_field`; a plain "
                "function is called as f(x), so close over its arguments instead."
            )
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
            raise ValueError(f"{_OWNER}(n_steps={n_steps!r}): n_steps must be a positive integer.")
        for name, value in (("learning_rate", learning_rate), ("tol_q", tol_q),
                            ("tol_unique", tol_unique)):  # fmt: skip
            if not (isinstance(value, int | float | np.number) and value > 0):
                raise ValueError(f"{_OWNER}({name}={value!r}): {name} must be a positive number.")
        if outlier is not None and not (isinstance(outlier, int | float) and outlier > 1):
            raise ValueError(
                f"{_OWNER}(outlier={outlier!r}): expected a factor > 1 on the median "
                "nearest-neighbour distance, or None to keep every unique point."
            )
        if optimizer is None:
            schedule = optax.exponential_decay(learning_rate, int(n_steps), 0.01)
            optimizer = optax.adam(schedule)
        self.f, self.args, self.t = f, args, jnp.asarray(t, dtype=jnp.result_type(float))
        self.discrete = bool(discrete)
        self.optimizer = optimizer
        self.n_steps = int(n_steps)
        self.tol_q, self.tol_unique = float(tol_q), float(tol_unique)
        self.outlier = None if outlier is None else float(outlier)

    def function(self, x: PyTree) -> PyTree:
        """F(x) for a flow (the vector field), f(x) for a map, on a state x."""
        if hasattr(self.f, "vector_field"):
            return self.f.vector_field(self.t, x, self.args)
        return self.f(x)

    def _flat(self, unravel: Callable) -> Callable:
        def g(x):
            out = ravel_pytree(self.function(unravel(x)))[0]
            if out.shape != x.shape:
                raise ValueError(
                    f"{_OWNER}: F(x) has {out.shape[0]} entries for a state of {x.shape[0]}; "
                    "the function must map a state to a state of the same structure."
                )
            return out

        return g

    def _residual(self, unravel: Callable) -> Callable:
        g = self._flat(unravel)
        return (lambda x: g(x) - x) if self.discrete else g

    def speed(self, x: PyTree) -> Float[Array, ""]:
        """q(x) = 0.5 |F(x)|^2 at one state x."""
        flat, unravel = ravel_pytree(x)
        return 0.5 * jnp.sum(jnp.square(self._residual(unravel)(flat)))

    def find(self, candidates: PyTree) -> SlowPoints:
        """Minimise q from each candidate (a state with a leading axis of n candidates), filter,
        and linearise at the points kept."""
        leaves = jax.tree.leaves(candidates)
        if not leaves or any(jnp.ndim(leaf) < 1 for leaf in leaves):
            raise ValueError(
                f"{_OWNER}.find: candidates must be states with a leading axis of candidates "
                f"(n, ...); got leaves of shapes {[jnp.shape(leaf) for leaf in leaves]}."
            )
        n = {jnp.shape(leaf)[0] for leaf in leaves}
        if len(n) != 1:
            raise ValueError(
                f"{_OWNER}.find: the candidates' leaves disagree on the number of candidates "
                f"(leading axes {sorted(n)})."
            )
        dtype = jnp.result_type(float)
        candidates = jax.tree.map(lambda leaf: jnp.asarray(leaf, dtype), candidates)
        _, unravel = ravel_pytree(jax.tree.map(lambda leaf: leaf[0], candidates))
        x0 = jax.vmap(lambda tree: ravel_pytree(tree)[0])(candidates)
        x, q, history = _minimise(self, x0, unravel)

        x_np, q_np = np.asarray(x), np.asarray(q)
        converged = np.isfinite(q_np) & (q_np < self.tol_q)
        unique = _unique(x_np, q_np, converged, self.tol_unique)
        inlier = _inliers(x_np, unique, self.outlier)
        index = np.flatnonzero(inlier)
        index = index[np.argsort(q_np[index], kind="stable")]
        points = x[index]
        jac = _jacobians(self, points, unravel)
        values, vectors = _eig(jac, self.discrete)
        return SlowPoints(
            candidates=x0, optimised=x, q_all=q, converged=jnp.asarray(converged),
            unique=jnp.asarray(unique), inlier=jnp.asarray(inlier), index=jnp.asarray(index),
            points=points, q=q[index], jacobians=jac, eigenvalues=values, eigenvectors=vectors,
            history=history, discrete=self.discrete, unravel=unravel,
        )  # fmt: skip


@eqx.filter_jit
def _minimise(finder: SlowPointFinder, x0, unravel):
    residual = finder._residual(unravel)

    def qs(x):
        return 0.5 * jnp.sum(jnp.square(jax.vmap(residual)(x)), axis=-1)

    def total(x):
        q = qs(x)
        return jnp.sum(q), q

    def step(carry, _):
        x, opt_state = carry
        (_, q), grad = jax.value_and_grad(total, has_aux=True)(x)
        updates, opt_state = finder.optimizer.update(grad, opt_state, x)
        return (optax.apply_updates(x, updates), opt_state), jnp.mean(q)

    carry = (x0, finder.optimizer.init(x0))
    (x, _), history = jax.lax.scan(step, carry, None, length=finder.n_steps)
    return x, qs(x), history


@eqx.filter_jit
def _jacobians(finder: SlowPointFinder, points, unravel):
    return jax.vmap(jax.jacfwd(finder._flat(unravel)))(points)


def _eig(jac, discrete: bool):
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        values, vectors = jnp.linalg.eig(jax.device_put(jac, cpu))
        key = -jnp.abs(values) if discrete else -values.real
        order = jnp.argsort(key, axis=-1, stable=True)
        values = jnp.take_along_axis(values, order, axis=-1)
        vectors = jnp.take_along_axis(vectors, order[..., None, :], axis=-1)
    return values, vectors


def _unique(x, q, converged, tol):
    """Greedy by increasing q: keep a point unless it lies within `tol` of one already kept."""
    unique = np.zeros(len(q), bool)
    kept = []
    for i in np.flatnonzero(converged)[np.argsort(q[converged], kind="stable")]:
        if kept and np.min(np.linalg.norm(x[kept] - x[i], axis=-1)) <= tol:
            continue
        kept.append(i)
        unique[i] = True
    return unique


def _inliers(x, unique, factor):
    inlier = unique.copy()
    idx = np.flatnonzero(unique)
    if factor is None or len(idx) < 2:
        return inlier
    pts = x[idx]
    sq = np.sum(pts**2, -1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pts @ pts.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    nearest = np.sqrt(d2.min(-1))
    inlier[idx[nearest > factor * np.median(nearest)]] = False
    return inlier
