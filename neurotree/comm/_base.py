"""The interface every communication layer provides."""

import abc

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Int

from .._core import param


class Comm(eqx.Module):
    """A linear map from pre activity x (..., n_pre) to post input y (..., n_post).

        y_j = sum_i x_i w_ij

    over the synapses (i, j) of the layer. Leading axes of x are batch axes. The weights are in
    the unit of the synaptic variable the layer feeds (e.g. nA for a current-based synapse, uS
    for a conductance), per unit of x (one spike, a release fraction, a rate).

    `plastic_weight()` returns the stored per-synapse weights (the state a plasticity rule
    updates), `__call__(x, weight)` accepts such an array in place of the stored one, and
    `outer(a_pre, b_post)` gives a_pre[pre(s)] * b_post[post(s)] for every synapse s in the same
    layout; `synapses()` lists (pre(s), post(s)) in the order of `plastic_weight().ravel()`.
    """

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)

    @abc.abstractmethod
    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        """y (..., n_post) for x (..., n_pre); `weight` overrides the stored weights."""

    @abc.abstractmethod
    def plastic_weight(self) -> Array:
        """The per-synapse weights, in the layout `outer` and `__call__(weight=...)` use."""

    @abc.abstractmethod
    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        """a_pre[..., pre(s)] * b_post[..., post(s)] for every synapse s."""

    @abc.abstractmethod
    def synapses(self) -> tuple[Int[Array, " n_syn"], Int[Array, " n_syn"]]:
        """(pre_idx, post_idx), int32, in the order of `plastic_weight().ravel()`."""

    def _name(self) -> str:
        return f"{type(self).__name__}(n_pre={self.n_pre}, n_post={self.n_post})"

    def _side(self, name: str, x, n: int, side: str) -> Array:
        """`x` as a float array whose last axis is `n`, or an error naming the layer."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        if x.ndim == 0 or x.shape[-1] != n:
            given = "a scalar" if x.ndim == 0 else f"size {x.shape[-1]} (shape {x.shape})"
            raise ValueError(
                f"{self._name()}: {name} of {given}; expected a last axis of {side}={n}."
            )
        return x

    def _pre(self, x, name: str = "x") -> Array:
        return self._side(name, x, self.n_pre, "n_pre")

    def _post(self, x, name: str = "b_post") -> Array:
        return self._side(name, x, self.n_post, "n_post")

    def _weight(self, weight, stored, shapes: tuple[tuple[int, ...], ...]) -> Array:
        """The stored weight, or an override checked against the allowed `shapes`."""
        if weight is None:
            return stored
        w = param(type(self).__name__, "weight", weight)
        if w.shape not in shapes:
            raise ValueError(
                f"{self._name()}: weight of shape {w.shape}; expected one of {list(shapes)}."
            )
        return w


def size(owner: str, name: str, n) -> int:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"{owner}({name}={n!r}): {name} must be a positive integer.")
    return int(n)


def weight_of_shape(owner: str, weight, shapes: tuple[tuple[int, ...], ...], what: str) -> Array:
    w = param(owner, "weight", weight)
    if w.shape not in shapes:
        raise ValueError(f"{owner}: weight of shape {w.shape}; expected {what}.")
    return w


def all_pairs(n_pre: int, n_post: int) -> tuple[Array, Array]:
    """Every (i, j) in row-major order, int32."""
    pre = jnp.repeat(jnp.arange(n_pre, dtype=jnp.int32), n_post)
    post = jnp.tile(jnp.arange(n_post, dtype=jnp.int32), n_pre)
    return pre, post


def outer_matrix(a, b) -> Array:
    return a[..., :, None] * b[..., None, :]
