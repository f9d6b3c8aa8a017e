"""What conductance-based neurons share: the resting potential and spike detection by upward
threshold crossing."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..surrogate import SpikeFunction


def resting_potential(
    ionic_current: Callable[[Array], Array], v0: Float[Array, "*shape"], n_iter: int = 25
) -> Float[Array, "*shape"]:
    """The zero of `ionic_current(v)` (the total current with every gate at steady state) near
    `v0`, elementwise, by Newton's method with steps of at most 5 mV.

    The iterations run compiled and without gradients (a model's bound method is a PyTree, so
    one compilation serves every parameter value); gradients flow through one last step, which at
    the root gives the implicit-function derivative dv/dp = -(dI/dp) / (dI/dv).
    """
    frozen = jax.tree.map(_stop_gradient, ionic_current)
    v = _newton_iterations(frozen, jax.lax.stop_gradient(v0), n_iter - 1)
    return _newton_step(ionic_current, v)


def _stop_gradient(x):
    return jax.lax.stop_gradient(x) if eqx.is_array(x) else x


def _newton_step(ionic_current, v):
    i, di = jax.jvp(ionic_current, (v,), (jnp.ones_like(v),))
    ok = di != 0
    step = jnp.where(ok, i / jnp.where(ok, di, 1.0), 0.0)
    return v - jnp.clip(step, -5.0, 5.0)


@eqx.filter_jit
def _newton_iterations(ionic_current, v0, n_iter: int):
    return jax.lax.fori_loop(0, n_iter, lambda _, v: _newton_step(ionic_current, v), v0)


def upward_crossing(
    spike_fn: SpikeFunction,
    v_prev: Float[Array, "*shape"],
    v: Float[Array, "*shape"],
    v_th,
) -> Float[Array, "*shape"]:
    """1 where v reached v_th during the step (v_prev < v_th <= v), else 0; the gradient is the
    surrogate's, through v."""
    return spike_fn(v - v_th) * (1.0 - jax.lax.stop_gradient(spike_fn(v_prev - v_th)))
