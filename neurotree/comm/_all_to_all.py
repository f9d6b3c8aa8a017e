"""All-to-all communication, with or without self-connections."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..kernels._common import exact_precision
from ._base import Comm, all_pairs, outer_matrix, size, weight_of_shape


class AllToAll(Comm):
    """All-to-all projection:

        y_j = sum_i w_ij x_i       (sum over i != j when include_self=False)

    `weight` is a scalar (then y_j = w sum_i x_i, computed in O(n)) or a matrix (n_pre, n_post),
    in the unit of the synaptic variable per unit of x; trainable. `include_self=False` (only
    for n_pre == n_post, i.e. a population onto itself) removes the diagonal: its entries in
    `plastic_weight()`, `outer` and `synapses()` are kept as placeholders held at zero, so the
    layout stays the full (n_pre, n_post) matrix in row-major order.
    """

    weight: Float[Array, "*w"]
    include_self: bool = eqx.field(static=True)

    def __init__(self, n_pre: int, n_post: int, weight: ArrayLike, include_self: bool = True):
        self.n_pre = size("AllToAll", "n_pre", n_pre)
        self.n_post = size("AllToAll", "n_post", n_post)
        if not include_self and self.n_pre != self.n_post:
            raise ValueError(
                f"AllToAll(n_pre={self.n_pre}, n_post={self.n_post}, include_self=False): "
                "excluding self-connections needs n_pre == n_post (a population onto itself)."
            )
        self.include_self = bool(include_self)
        self.weight = weight_of_shape(
            "AllToAll", weight, ((), (self.n_pre, self.n_post)),
            f"a scalar or a matrix (n_pre, n_post) = ({self.n_pre}, {self.n_post})",
        )  # fmt: skip

    def _mask(self, w):
        if self.include_self:
            return w
        return jnp.where(jnp.eye(self.n_pre, dtype=bool), jnp.zeros((), w.dtype), w)

    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        x = self._pre(x)
        w = self._weight(weight, self.weight, ((), (self.n_pre, self.n_post)))
        if w.ndim == 2:
            return jnp.matmul(x, self._mask(w), precision=exact_precision())
        total = jnp.sum(x, axis=-1, keepdims=True)
        y = total if self.include_self else total - x
        return jnp.broadcast_to(w * y, x.shape[:-1] + (self.n_post,))

    def plastic_weight(self) -> Float[Array, "n_pre n_post"]:
        return self._mask(jnp.broadcast_to(self.weight, (self.n_pre, self.n_post)))

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        return self._mask(outer_matrix(self._pre(a_pre, "a_pre"), self._post(b_post)))

    def synapses(self):
        return all_pairs(self.n_pre, self.n_post)
