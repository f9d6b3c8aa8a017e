"""diffrax glue: one clock-driven step of a model's vector field, and the exponential Euler solver.

Every model holds a diffrax solver in its static `solver` field and advances its continuous
variables with `integrate`, which takes one `solver.step` from `t` to `t + dt`. Stochastic models
add a diagonal `diffusion` term driven by a Brownian increment drawn from the step's key: with
`diffrax.Euler()` (or `ExponentialEuler()`) this is the Ito (Euler-Maruyama) scheme, with
`diffrax.Heun()` the Stratonovich one.

Solvers that keep state between steps (FSAL Runge-Kutta methods such as `diffrax.Tsit5`) carry it
in the model's state as a `StepCarry`. The cached stage is reused only when it is still valid: the
step starts from the state the solver ended at (no reset or clamp happened in between) and the
input is the one the cache was computed with; otherwise the first stage is recomputed.
"""

import functools
from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PRNGKeyArray, PyTree

from ._core import require_key, tree_any_differs

__all__ = [
    "DiagonalNoise",
    "ExponentialEuler",
    "ExponentialRK2",
    "StepCarry",
    "init_carry",
    "integrate",
]


def _phi1(z: Array) -> Array:
    """(exp(z) - 1) / z, accurate and differentiable at z = 0."""
    small = jnp.abs(z) < 1e-4
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 + z / 2 + z * z / 6, jnp.expm1(z_safe) / z_safe)


def _phi2(z: Array) -> Array:
    """(exp(z) - 1 - z) / z^2, accurate and differentiable at z = 0."""
    small = jnp.abs(z) < 1e-2
    z_safe = jnp.where(small, 1.0, z)
    series = 0.5 + z / 6 + z * z / 24 + z * z * z / 120
    return jnp.where(small, series, (jnp.expm1(z_safe) - z_safe) / (z_safe * z_safe))


def _diagonal_jacobian(f: Callable[[PyTree], PyTree], y: PyTree) -> tuple[PyTree, PyTree]:
    """`f(y)` and the diagonal of its Jacobian, assuming elements within a leaf are uncoupled.

    For each leaf, a JVP of that leaf's component of f with respect to that leaf alone, with a
    tangent of ones, gives d f_i / d y_i for every element i of the leaf (exact when element i
    of f depends on element i of the leaf only, as for a population of independent neurons).
    The other leaves enter as constants, so the JVP carries tangents only along the paths from
    the leaf to its own derivative (a linearization of all of f would carry zeros through all
    of it, once per leaf).
    """
    leaves, treedef = jax.tree.flatten(y)
    fy = f(y)

    def component(i, x):
        return jax.tree.leaves(f(jax.tree.unflatten(treedef, [*leaves[:i], x, *leaves[i + 1 :]])))[
            i
        ]

    diag = [
        jax.jvp(functools.partial(component, i), (x,), (jnp.ones_like(x),))[1]
        for i, x in enumerate(leaves)
    ]
    return fy, jax.tree.unflatten(treedef, diag)


class ExponentialEuler(diffrax.AbstractItoSolver):
    """Exponential Euler: exact for linear dynamics, first order (at least) otherwise.

    For dy/dt = f(t, y), with a = diag(df/dy) evaluated at the step's start,

        y1 = y0 + dt * phi1(a dt) * f(t0, y0),    phi1(z) = (exp(z) - 1) / z.

    When f is linear in y with a diagonal Jacobian (a LIF membrane, a gating variable
    dm/dt = alpha (1 - m) - beta m, an exponential synapse) this is the exact solution over the
    step, so it is stable for any dt. The diagonal is taken per leaf of y, element by element, so
    elements within a leaf must be uncoupled (true of neuron populations; not of a rate network
    with recurrent weights inside one leaf, where it remains a consistent first-order method).
    Where the Jacobian is exactly diagonal and f does not depend on t, using the exact diagonal
    makes it the exponential Rosenbrock-Euler method, which is second order.

    With a `diffrax.MultiTerm(ODETerm, noise_term)` it solves an SDE: the drift as above plus the
    Ito (Euler-Maruyama) increment of the noise term (strong order 0.5).

    Reference: Hochbruck & Ostermann (2010), Exponential integrators, Acta Numerica 19, 209-286;
    the per-variable form is BrainPy's `exp_euler` (Wang et al. 2023, eLife 12:e86365).
    """

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = (
        diffrax.LocalLinearInterpolation
    )

    def order(self, terms):
        return 1

    def strong_order(self, terms):
        return 0.5

    def init(self, terms, t0, t1, y0, args) -> None:
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        drift, noise = _split_terms(terms, type(self).__name__)
        dt = drift.contr(t0, t1)
        f0, a = _diagonal_jacobian(lambda y: drift.vf(t0, y, args), y0)
        y1 = jax.tree.map(lambda y, f, ai: y + dt * _phi1(ai * dt) * f, y0, f0, a)
        y1 = _add_noise(y1, noise, t0, t1, y0, args)
        return y1, None, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)


class ExponentialRK2(ExponentialEuler):
    """Second-order exponential Runge-Kutta (ETD2RK) with the diagonal linear part of f.

    With a = diag(df/dy) at the step's start and N(y) = f(y) - a y the remainder,

        u  = y0 + dt * phi1(a dt) * f(t0, y0)
        y1 = u + dt * phi2(a dt) * (f(t1, u) - f(t0, y0) - a (u - y0)),
        phi2(z) = (exp(z) - 1 - z) / z^2.

    Exact for linear dynamics with a diagonal Jacobian, second order in general (including the
    coupling between leaves that ExponentialEuler treats only to first order), and stable for
    stiff diagonal parts such as fast gating variables: the choice for conductance-based neurons,
    where it is accurate at dt = 0.01-0.05 ms and still stable at 0.1 ms. Two evaluations of f
    per step. Noise, as for ExponentialEuler, adds an Ito (Euler-Maruyama) increment.

    Reference: Cox & Matthews (2002), Exponential time differencing for stiff systems,
    J Comput Phys 176:430-455; Hochbruck & Ostermann (2010), Acta Numerica 19:209-286.
    """

    def order(self, terms):
        return 2

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        drift, noise = _split_terms(terms, type(self).__name__)
        dt = drift.contr(t0, t1)
        f0, a = _diagonal_jacobian(lambda y: drift.vf(t0, y, args), y0)
        u = jax.tree.map(lambda y, f, ai: y + dt * _phi1(ai * dt) * f, y0, f0, a)
        f1 = drift.vf(t1, u, args)
        y1 = jax.tree.map(
            lambda u, y, f0, f1, ai: u + dt * _phi2(ai * dt) * (f1 - f0 - ai * (u - y)),
            u, y0, f0, f1, a,
        )  # fmt: skip
        y1 = _add_noise(y1, noise, t0, t1, y0, args)
        return y1, None, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful


def _split_terms(terms, solver_name: str):
    """(drift, [noise terms]) from an ODETerm or a MultiTerm(ODETerm, noise...)."""
    if isinstance(terms, diffrax.MultiTerm):
        drift, *noise = terms.terms
    else:
        drift, noise = terms, []
    inner = drift
    while hasattr(inner, "term") and hasattr(inner, "direction"):
        inner = inner.term  # diffeqsolve wraps each term to handle the time direction
    if not isinstance(inner, diffrax.ODETerm):
        raise ValueError(
            f"{solver_name} needs an ODETerm (or a MultiTerm whose first term is the "
            f"ODETerm drift); got {type(inner).__name__}."
        )
    return drift, noise


def _add_noise(y1, noise, t0, t1, y0, args):
    for term in noise:
        dy = term.vf_prod(t0, y0, args, term.contr(t0, t1))
        y1 = jax.tree.map(jnp.add, y1, dy)
    return y1


class DiagonalNoise(diffrax.AbstractTerm):
    """Diagonal noise g(t, y, args) * dW: each element of y has its own Brownian motion.

    `diffusion` returns a PyTree shaped like y (zeros where a variable has no noise); `path` is
    a Brownian path over the same structure.
    """

    diffusion: Callable[..., PyTree]
    path: diffrax.AbstractPath

    def vf(self, t, y, args):
        return self.diffusion(t, y, args)

    def contr(self, t0, t1, **kwargs):
        return self.path.evaluate(t0, t1, **kwargs)

    def prod(self, vf, control):
        return jax.tree.map(jnp.multiply, vf, control)


class StepCarry(eqx.Module):
    """What a stateful solver keeps between clock-driven steps.

    `y` and `args` are the solver's end state and the input of the step that produced
    `solver_state`; a cached stage is valid only if the next step starts from the same values.
    """

    solver_state: PyTree
    y: PyTree
    args: PyTree


def _terms(vector_field, diffusion, y0, key) -> diffrax.AbstractTerm:
    ode = diffrax.ODETerm(vector_field)
    if diffusion is None:
        return ode
    shape = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), y0)
    path = diffrax.UnsafeBrownianPath(shape=shape, key=key)
    return diffrax.MultiTerm(ode, DiagonalNoise(diffusion, path))


def _shifted(fn, t):
    """`fn` of the time since `t`."""
    return lambda s, y, args: fn(t + s, y, args)


def init_carry(
    solver: diffrax.AbstractSolver,
    vector_field: Callable[..., PyTree],
    y0: PyTree,
    args: PyTree,
    diffusion: Callable[..., PyTree] | None = None,
) -> StepCarry | None:
    """The carry for `solver` starting at `y0`, or None for solvers without state."""
    terms = _terms(vector_field, diffusion, y0, jax.random.key(0))
    solver_state = solver.init(terms, 0.0, 1.0, y0, args)
    if solver_state is None:
        return None
    return StepCarry(solver_state=solver_state, y=y0, args=args)


def integrate(
    solver: diffrax.AbstractSolver,
    vector_field: Callable[..., PyTree],
    t: ArrayLike,
    dt: ArrayLike,
    y0: PyTree,
    args: PyTree,
    carry: StepCarry | None,
    *,
    diffusion: Callable[..., PyTree] | None = None,
    key: PRNGKeyArray | None = None,
    owner: str = "model",
) -> tuple[PyTree, StepCarry | None]:
    """One step of `solver` on `vector_field` (plus `diffusion` noise) from `t` to `t + dt`."""
    if diffusion is not None:
        key = require_key(owner, key)
    t = jnp.asarray(t)
    # The solver steps in time since t, from 0 to dt: its step t1 - t0 is then dt exactly (not
    # (t + dt) - t, which rounds differently at every t) and loop-invariant, so the
    # step-dependent factors (e.g. exp(-dt / tau)) are computed once per run, not per step.
    local_field = _shifted(vector_field, t)
    local_diffusion = None if diffusion is None else _shifted(diffusion, t)
    terms = _terms(local_field, local_diffusion, y0, key)
    t0 = jnp.zeros_like(t)
    t1 = jnp.asarray(dt, t.dtype)
    if carry is None:
        y1, _, _, _, _ = solver.step(terms, t0, t1, y0, args, None, False)
        return y1, None
    made_jump = tree_any_differs(y0, carry.y) | tree_any_differs(args, carry.args)
    y1, _, _, solver_state, _ = solver.step(terms, t0, t1, y0, args, carry.solver_state, made_jump)
    return y1, StepCarry(solver_state=solver_state, y=y1, args=args)
