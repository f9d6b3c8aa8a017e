"""One-to-one communication: pre neuron i drives post neuron i."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._base import Comm, size, weight_of_shape


class OneToOne(Comm):
    """One-to-one projection between two populations of n neurons:

        y_i = w_i x_i

    `weight` is a scalar or one value per neuron (n,), in the unit of the synaptic variable per
    unit of x; trainable. `plastic_weight()` is (n,).
    """

    weight: Float[Array, "*n"]

    def __init__(self, n: int, weight: ArrayLike):
        n = size("OneToOne", "n", n)
        self.n_pre = self.n_post = n
        self.weight = weight_of_shape(
            "OneToOne", weight, ((), (n,)), f"a scalar or one weight per neuron, ({n},)"
        )

    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        x = self._pre(x)
        return x * self._weight(weight, self.weight, ((), (self.n_pre,)))

    def plastic_weight(self) -> Float[Array, " n"]:
        return jnp.broadcast_to(self.weight, (self.n_pre,))

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        return self._pre(a_pre, "a_pre") * self._post(b_post)

    def synapses(self):
        i = jnp.arange(self.n_pre, dtype=jnp.int32)
        return i, i
