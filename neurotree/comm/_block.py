"""All-to-all communication between consecutive blocks of neurons, one weight per block pair."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..kernels._common import exact_precision
from ._base import Comm, all_pairs, outer_matrix, size, weight_of_shape


class BlockAllToAll(Comm):
    """All-to-all projection whose weight depends only on the blocks of the two neurons:

        y_j = sum_i x_i W[b(i), b(j)] = sum_p W[p, b(j)] (sum_{i in p} x_i)

    computed from block sums in O(n_pre + n_post) instead of O(n_pre n_post). Blocks are
    consecutive ranges of neurons of sizes `pre_sizes` and `post_sizes` (e.g. the selective and
    non-selective pools of Wang 2002); `weight` (len(pre_sizes), len(post_sizes)) is in the unit
    of the synaptic variable per unit of x, and trainable. `plastic_weight()` is the dense
    (n_pre, n_post) matrix, which `__call__` also accepts as `weight` (e.g. under STDP).
    """

    weight: Float[Array, "blocks_pre blocks_post"]
    pre_sizes: tuple[int, ...] = eqx.field(static=True)
    post_sizes: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, pre_sizes, post_sizes, weight: ArrayLike):
        owner = "BlockAllToAll"
        sizes = []
        for name, given in (("pre_sizes", pre_sizes), ("post_sizes", post_sizes)):
            if isinstance(given, int | np.integer) or len(given) == 0:
                raise ValueError(
                    f"{owner}({name}={given!r}): expected a non-empty sequence of block sizes."
                )
            sizes.append(tuple(size(owner, name, n) for n in given))
        self.pre_sizes, self.post_sizes = sizes
        self.n_pre, self.n_post = sum(self.pre_sizes), sum(self.post_sizes)
        shape = (len(self.pre_sizes), len(self.post_sizes))
        self.weight = weight_of_shape(owner, weight, (shape,), f"one weight per block pair {shape}")

    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        x = self._pre(x)
        if weight is not None:
            w = self._weight(weight, None, ((self.n_pre, self.n_post),))
            return jnp.matmul(x, w, precision=exact_precision())
        bounds = np.cumsum((0,) + self.pre_sizes)
        sums = jnp.stack([x[..., a:b].sum(-1) for a, b in zip(bounds[:-1], bounds[1:])], -1)
        per_block = jnp.matmul(sums, self.weight, precision=exact_precision())
        return self._expand(per_block, self.post_sizes, self.n_post, -1)

    @staticmethod
    def _expand(w, sizes, n, axis):
        return jnp.repeat(w, np.asarray(sizes), axis=axis, total_repeat_length=n)

    def plastic_weight(self) -> Float[Array, "n_pre n_post"]:
        rows = self._expand(self.weight, self.pre_sizes, self.n_pre, 0)
        return self._expand(rows, self.post_sizes, self.n_post, 1)

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        return outer_matrix(self._pre(a_pre, "a_pre"), self._post(b_post))

    def synapses(self):
        return all_pairs(self.n_pre, self.n_post)
