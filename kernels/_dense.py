"""Event-driven dense matrix-vector product."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._common import as_float, check_backend


def event_matvec(spikes: ArrayLike, weights: ArrayLike, *, backend: str = "auto") -> Array:
    """y_j = sum_i s_i W_ij for spikes s of shape (..., n_pre) and W of shape (n_pre, n_post).

    Exact for any values of s (fractional releases included); an event-driven backend only skips
    the rows where s_i = 0. Leading axes of `spikes` are batch axes. The XLA reference is a
    matmul at full float precision.
    """
    check_backend("event_matvec", backend)
    weights = as_float(weights)
    spikes = as_float(spikes, like=weights)
    if weights.ndim != 2:
        raise ValueError(
            f"event_matvec: weights of shape {weights.shape}; expected a matrix (n_pre, n_post)."
        )
    if spikes.ndim == 0 or spikes.shape[-1] != weights.shape[0]:
        given = "a scalar" if spikes.ndim == 0 else f"length {spikes.shape[-1]}"
        raise ValueError(
            f"event_matvec: spikes of {given} for weights of shape {weights.shape}; expected a "
            f"last axis of n_pre={weights.shape[0]}."
        )
    return jnp.matmul(spikes, weights, precision=jax.lax.Precision.HIGHEST)
