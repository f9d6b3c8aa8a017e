"""What integrate-and-fire neurons share: parameter checks and the threshold/reset/refractory events
applied after each solver step."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check, concrete, param
from ..surrogate import SpikeFunction


def check_if_params(owner: str, shape, v_reset, v_th, tau_ref) -> tuple[Array, Array, Array]:
    """Convert and validate `v_reset`, `v_th` (mV) and `tau_ref` (ms)."""
    v_reset = param(owner, "v_reset", v_reset, shape)
    v_th = param(owner, "v_th", v_th, shape)
    tau_ref = param(owner, "tau_ref", tau_ref, shape)
    check(owner, "tau_ref", tau_ref, lambda v: v >= 0, "a non-negative time in ms")
    check_below(owner, "v_reset", v_reset, "v_th", v_th)
    return v_reset, v_th, tau_ref


def check_below(owner: str, low_name: str, low, high_name: str, high) -> None:
    """Raise `ValueError` unless `low < high` (when both are concrete), naming both values."""
    lo, hi = concrete(low), concrete(high)
    if lo is not None and hi is not None and not np.all(lo < hi):
        # str() of a NumPy scalar prints a float32 0.1 as 0.1, not 0.10000000149011612.
        shown = [str(x[()]) if x.ndim == 0 else str(x) for x in (lo, hi)]
        raise ValueError(
            f"{owner}({low_name}={shown[0]}, {high_name}={shown[1]}): {low_name} must be "
            f"below {high_name}."
        )


def check_solver(owner: str, solver, spike_fn=None) -> None:
    """`solver` is a diffrax solver and (for spiking models) `spike_fn` a surrogate."""
    if not isinstance(solver, diffrax.AbstractSolver):
        raise ValueError(
            f"{owner}(solver={solver!r}): solver must be a diffrax solver instance, e.g. "
            "diffrax.Heun() or nt.integrators.ExponentialEuler()."
        )
    if spike_fn is not None and not isinstance(spike_fn, SpikeFunction):
        raise ValueError(
            f"{owner}(spike_fn={spike_fn!r}): spike_fn must be an nt.surrogate spike function, "
            "e.g. nt.surrogate.Sigmoid()."
        )


def fire(
    spike_fn: SpikeFunction,
    v_start: Float[Array, "*shape"],
    v_step: Float[Array, "*shape"],
    v_th,
    v_reset,
    refractory: Float[Array, "*shape"],
    tau_ref,
    dt,
    detach_reset: bool,
) -> tuple[Float[Array, "*shape"], Float[Array, "*shape"], Float[Array, "*shape"]]:
    """Refractory clamp, threshold and reset after a step; returns (v, spike, refractory).

    `refractory` is the refractory time left (ms). A neuron with time left holds `v_start`; a
    spike at the end of step n holds v for the next round(tau_ref / dt) steps. The reset
    v -> v_reset is written (1 - spike) v + spike v_reset so gradients flow through the spike
    (unless `detach_reset`); unlike v - spike (v - v_reset) it lands exactly on v_reset however
    far a step overshoots the threshold (exponential and quadratic models can overshoot by
    orders of magnitude within one step).
    """
    in_ref = refractory > 0.5 * dt
    v = jnp.where(in_ref, v_start, v_step)
    spike = spike_fn(v - v_th)
    gate = jax.lax.stop_gradient(spike) if detach_reset else spike
    v = (1.0 - gate) * v + gate * v_reset
    refractory = jnp.where(spike > 0, tau_ref, jnp.maximum(refractory - dt, 0.0))
    return v, spike, refractory
