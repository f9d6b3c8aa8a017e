"""Readouts: a record (T, *batch, n) of membrane potentials (or rates) reduced over time.

The record's axis 0 is time, as `nt.simulate` returns it. `start` skips the first `start`
records (a warm-up while the network fills with input), so e.g. `mean_readout(v, start=10)`
is the mean over records 10, ..., T - 1. The result, (*batch, n), is used as the logits of
`nt.training.cross_entropy`.

Reference: Zenke & Vogels (2021), The remarkable robustness of surrogate gradient learning
for instilling complex function in spiking neural networks, Neural Computation 33(4):899-925
(max-over-time and mean readouts of leaky output units).
"""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def _record(owner: str, v: ArrayLike, start) -> Float[Array, " t *rest"]:
    v = jnp.asarray(v)
    if v.ndim < 1 or v.shape[0] == 0:
        raise ValueError(
            f"{owner}: a record of shape {v.shape}; expected a leading time axis of length >= 1, "
            "(T, *batch, n) as returned by nt.simulate."
        )
    if isinstance(start, bool) or not isinstance(start, int | np.integer):
        raise ValueError(f"{owner}(start={start!r}): start must be an integer (records).")
    if not 0 <= start < v.shape[0]:
        raise ValueError(
            f"{owner}(start={start}): start must be in [0, {v.shape[0]}) for a record of "
            f"{v.shape[0]} time points, so that at least one remains."
        )
    return v[start:]


def mean_readout(v: ArrayLike, *, start: int = 0) -> Float[Array, "*rest"]:
    """The time average over records start, ..., T - 1: (1 / (T - start)) sum_t v_t."""
    return jnp.mean(_record("mean_readout", v, start), axis=0)


def max_readout(v: ArrayLike, *, start: int = 0) -> Float[Array, "*rest"]:
    """The maximum over records start, ..., T - 1 (its gradient reaches the argmax time)."""
    return jnp.max(_record("max_readout", v, start), axis=0)


def last_readout(v: ArrayLike) -> Float[Array, "*rest"]:
    """The last record, v_{T-1}."""
    return _record("last_readout", v, 0)[-1]
