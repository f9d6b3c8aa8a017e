"""Transmission delays: how many steps a delay takes, and the ring buffers holding spikes in flight.

A delay follows NEST: it is the whole transmission time, at least one step; a spike emitted at
step n changes the post population's input at step n + round(delay / dt). Without a buffer a
projection reads its pre population's last spikes, which is a delay of one step; a delay of D
steps keeps the last D spike vectors in a ring buffer of D slots.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._core import concrete


class Ring(eqx.Module):
    """A ring buffer of `buffer.shape[0]` slots; `index` is the slot of the current step."""

    buffer: Float[Array, "..."]
    index: Int[Array, "*batch"]


def init_ring(slots: int, shape: tuple[int, ...], dtype, batch_shape: tuple[int, ...]) -> Ring:
    buffer = jnp.zeros((slots,) + tuple(batch_shape) + tuple(shape), dtype)
    return Ring(buffer=buffer, index=jnp.zeros(batch_shape, jnp.int32))


def _steps(delay, dt: float):
    return np.floor(np.asarray(delay, np.float64) / dt + 0.5).astype(np.int64)


def delay_steps(owner: str, delay, dt) -> int | None:
    """The largest number of steps of the concrete `delay` (ms) at step `dt` (ms); None if dt is
    not concrete.

    Raises when a delay is shorter than dt: the clock-driven schedule cannot deliver a spike in
    the step that emitted it.
    """
    d, h = np.asarray(delay), concrete(dt)
    if h is None:
        return None
    h = float(h)
    if not (h > 0 and math.isfinite(h)):
        raise ValueError(f"{owner}(dt={h}): dt must be a positive step in ms.")
    steps = _steps(d, h)
    if d.size and np.any(d < h * (1 - 1e-6)):
        low = str(d.min())
        raise ValueError(
            f"{owner}(delay={low}, dt={h}): a delay must be at least one step dt (the spike of "
            "step n acts from step n + 1 at the earliest); use delay=None for one step."
        )
    return int(steps.max()) if d.size else 1


def steps_at(delay: Array, dt) -> Int[Array, "..."]:
    """round(delay / dt) as int32, computed where dt may be traced (halves round up)."""
    return jnp.floor(delay / dt + 0.5).astype(jnp.int32)


def check_slots(owner: str, steps: Array, slots: int, dt, x: Array) -> Array:
    """Fail unless 1 <= `steps` <= `slots` (a buffer built for another dt or max_delay, or a
    delay shorter than dt); returns `x`, which carries the check into the computation when the
    steps are traced."""
    bad = (steps.max() > slots) | (steps.min() < 1)
    message = (
        f"{owner}: the delay buffer holds {slots} steps, and round(delay / dt) at the dt of this "
        "call is outside 1..{slots}; build the state with the dt you simulate with, and keep "
        "delays within max_delay and at least one step."
    ).replace("{slots}", str(slots))
    v = concrete(bad)
    if v is not None:
        if bool(v):
            raise ValueError(message + f" (dt={concrete(dt)})")
        return x
    return eqx.error_if(x, bad, message)


def push_pop(
    ring: Ring, x: Float[Array, "*batch n"], steps: Int[Array, ""]
) -> tuple[Ring, Float[Array, "*batch n"]]:
    """Store `x` and return what was stored `steps - 1` calls ago (a delay of `steps` steps,
    1 <= steps <= len(buffer)). Writing before reading lets XLA update the buffer in place."""
    slots = ring.buffer.shape[0]

    def one(buffer, index, x):
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, x, index, 0)
        then = jax.lax.dynamic_index_in_dim(buffer, (index + 1 - steps) % slots, keepdims=False)
        return buffer, then

    one_b = _over_batch(one, x.ndim - 1)
    buffer, then = one_b(ring.buffer, ring.index, x)
    return Ring(buffer=buffer, index=(ring.index + 1) % slots), then


def _over_batch(fn, n_batch: int, n_inputs: int = 1, out_axes=(1, 0)):
    """vmap `fn(buffer, index, *inputs)` over `n_batch` leading batch axes (the buffer's batch
    axes follow its slot axis)."""
    for _ in range(n_batch):
        fn = jax.vmap(fn, in_axes=(1, 0) + (0,) * n_inputs, out_axes=out_axes)
    return fn


def scatter_ahead(
    ring: Ring,
    values: Float[Array, "*batch nnz"],
    ahead: Int[Array, " nnz"],
    target: Int[Array, " nnz"],
) -> tuple[Ring, Float[Array, "*batch n"]]:
    """Add `values[s]` to slot `index + ahead[s]` at `target[s]`; pop and clear the current slot.

    The post-side buffer of heterogeneous delays: with ahead = steps - 1, a value sent at step n
    is read at step n + ahead.
    """
    slots = ring.buffer.shape[0]
    n = ring.buffer.shape[-1]

    def one(buffer, index, values):
        slot = (index + ahead) % slots
        flat = buffer.reshape(slots * n).at[slot * n + target].add(values)
        buffer = flat.reshape(slots, n)
        now = jax.lax.dynamic_index_in_dim(buffer, index, keepdims=False)
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, jnp.zeros_like(now), index, 0)
        return buffer, now

    buffer, now = _over_batch(one, values.ndim - 1)(ring.buffer, ring.index, values)
    return Ring(buffer=buffer, index=(ring.index + 1) % slots), now


def record_history(ring: Ring, x: Float[Array, "*batch n"]) -> Ring:
    """Store this step's `x` in the current slot and advance; slot index - j then holds x of j
    steps ago (j < number of slots)."""
    slots = ring.buffer.shape[0]

    def one(buffer, index, x):
        return jax.lax.dynamic_update_index_in_dim(buffer, x, index, 0), index

    buffer, _ = _over_batch(one, x.ndim - 1)(ring.buffer, ring.index, x)
    return Ring(buffer=buffer, index=(ring.index + 1) % slots)


def gather_history(
    ring: Ring, back: Int[Array, " nnz"], source: Int[Array, " nnz"]
) -> Float[Array, "*batch nnz"]:
    """x[source[s]] as it was `back[s]` steps before the last `record_history` (back >= 0)."""
    slots = ring.buffer.shape[0]
    n = ring.buffer.shape[-1]

    def one(buffer, index):
        slot = (index - 1 - back) % slots
        return buffer.reshape(slots * n)[slot * n + source], index

    fn = _over_batch(one, ring.index.ndim, n_inputs=0, out_axes=(0, 0))
    values, _ = fn(ring.buffer, ring.index)
    return values
