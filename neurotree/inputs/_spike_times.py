"""A spike source replaying given spike times."""

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, check_dt, concrete

# Events scattered per loop iteration in a step: a step with m events takes ceil(m / _BLOCK)
# iterations, a step with none takes none.
_BLOCK = 64


class SpikeTimesState(eqx.Module):
    spike: Float[Array, "*shape"]


class SpikeTimes(DynamicalSystem):
    """Spikes at given times: neuron `indices[k]` fires at `times[k]` (ms).

    Event k is emitted in the step that starts at t_n = t0 + n dt with
    n = round((times[k] - t0) / dt), i.e. in the step whose window [t_n - dt/2, t_n + dt/2)
    holds times[k] (a time half a step after t_n goes to step n + 1; the comparison is done in
    the float precision of t, so give times on or near step starts when it matters); events
    outside the run are never emitted. Several events of one neuron in one step add up (spike
    value 2, 3, ...), so none is dropped. `indices` index the flattened population (C order),
    0 <= indices < prod(size). Events are sorted by time at construction; each step finds its
    window by binary search, so the cost per step does not grow with the number of events.

    Input: none (passing one raises). Outputs: the spikes (floats).

    Reference: Brian2's `SpikeGeneratorGroup` (Stimberg, Brette & Goodman 2019, eLife
    8:e47314); NEST's `spike_generator` (Gewaltig & Diesmann 2007, Scholarpedia 2:1430).
    """

    size: tuple[int, ...] = eqx.field(static=True)
    times: Float[Array, " k"]
    indices: Int[Array, " k"]

    def __init__(
        self,
        size: int | tuple[int, ...],
        times: ArrayLike | Sequence,
        indices: ArrayLike | Sequence,
    ):
        self.size = as_shape("SpikeTimes", size)
        n = math.prod(self.size)
        t, i = concrete(times), concrete(indices)
        if t is None or i is None:
            raise ValueError(
                "SpikeTimes(times, indices): times and indices must be concrete arrays (they are "
                "validated and sorted at construction), not traced values."
            )
        if t.ndim != 1 or i.ndim != 1 or t.shape != i.shape:
            raise ValueError(
                f"SpikeTimes(times of shape {t.shape}, indices of shape {i.shape}): times and "
                "indices must be 1-D arrays of equal length, one entry per spike."
            )
        if not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
            raise ValueError(f"SpikeTimes(times of dtype {t.dtype}): times must be numbers (ms).")
        if not np.all(np.isfinite(t)):
            raise ValueError(
                f"SpikeTimes(times={t[~np.isfinite(t)][:5]}...): times must be finite (ms)."
            )
        if not np.issubdtype(i.dtype, np.integer):
            raise ValueError(
                f"SpikeTimes(indices of dtype {i.dtype}): indices must be integers (neuron "
                "indices into the flattened population)."
            )
        bad = (i < 0) | (i >= n)
        if np.any(bad):
            raise ValueError(
                f"SpikeTimes(indices={i[bad][:5]}): indices must be in [0, {n}) for a population "
                f"of size {self.size}."
            )
        t = np.asarray(t, jnp.result_type(float))
        order = np.argsort(t, kind="stable")
        self.times = jnp.asarray(t[order])
        self.indices = jnp.asarray(i[order], jnp.int32)

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> SpikeTimesState:
        shape = tuple(batch_shape) + self.size
        return SpikeTimesState(spike=jnp.zeros(shape, self.times.dtype))

    def __call__(
        self, state: SpikeTimesState, inputs=None, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[SpikeTimesState, Float[Array, "*shape"]]:
        check_dt("SpikeTimes", dt)
        if inputs is not None:
            raise ValueError(
                f"SpikeTimes takes no input (its spikes are set by times and indices); got "
                f"{type(inputs).__name__}. Pass None."
            )
        counts = self._counts(t, dt, state.spike.dtype).reshape(self.size)
        spike = jnp.broadcast_to(counts, state.spike.shape)
        return SpikeTimesState(spike=spike), spike

    def _counts(self, t, dt, dtype) -> Float[Array, " n"]:
        """Spike counts per (flat) neuron of the events in [t - dt/2, t + dt/2)."""
        n, k = math.prod(self.size), self.times.shape[0]
        if k == 0:
            return jnp.zeros(n, dtype)
        half = jnp.asarray(dt, self.times.dtype) / 2
        t = jnp.asarray(t, self.times.dtype)
        lo = jnp.searchsorted(self.times, t - half, side="left")
        hi = jnp.searchsorted(self.times, t + half, side="left")
        offsets = jnp.arange(_BLOCK, dtype=lo.dtype)

        def scatter(carry):
            start, counts = carry
            pos = start + offsets
            neuron = self.indices[jnp.minimum(pos, k - 1)]
            counts = counts.at[neuron].add((pos < hi).astype(dtype))
            return start + _BLOCK, counts

        _, counts = jax.lax.while_loop(lambda c: c[0] < hi, scatter, (lo, jnp.zeros(n, dtype)))
        return counts
