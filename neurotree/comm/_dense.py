"""Dense communication: every pre neuron reaches every post neuron through a weight matrix."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .. import kernels
from ..kernels._common import exact_precision
from ._base import Comm, all_pairs, outer_matrix, param


class _Matrix(Comm):
    weight: Float[Array, "n_pre n_post"]
    event: ClassVar[bool]

    def __init__(self, weight: ArrayLike):
        owner = type(self).__name__
        w = param(owner, "weight", weight)
        if w.ndim != 2 or 0 in w.shape:
            raise ValueError(
                f"{owner}: weight of shape {w.shape}; expected a non-empty matrix (n_pre, n_post)."
            )
        self.weight = w
        self.n_pre, self.n_post = w.shape

    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        x = self._pre(x)
        w = self._weight(weight, self.weight, ((self.n_pre, self.n_post),))
        if self.event:
            return kernels.event_matvec(x, w)
        return jnp.matmul(x, w, precision=exact_precision())

    def plastic_weight(self) -> Float[Array, "n_pre n_post"]:
        return self.weight

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        return outer_matrix(self._pre(a_pre, "a_pre"), self._post(b_post))

    def synapses(self):
        return all_pairs(self.n_pre, self.n_post)


class Dense(_Matrix):
    """Dense projection through a weight matrix W (n_pre, n_post):

        y_j = sum_i x_i W_ij

    W is in the unit of the synaptic variable it feeds, per unit of x; trainable. For spikes,
    `EventDense` gives the same values. `plastic_weight()` is W.
    """

    event: ClassVar[bool] = False


class EventDense(_Matrix):
    """`Dense` for spike-like x, through the event-driven kernel `event_matvec`:

        y_j = sum_i s_i W_ij

    exact for any x (fractional releases included); an event-driven backend skips rows with
    s_i = 0. W (n_pre, n_post) is in the unit of the synaptic variable per spike; trainable.
    """

    event: ClassVar[bool] = True
