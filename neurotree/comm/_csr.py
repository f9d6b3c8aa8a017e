"""Sparse communication through a stored connectivity in compressed-sparse-row form."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .. import kernels
from ..conn import CSR as Connectivity
from ._base import Comm, weight_of_shape


class _Sparse(Comm):
    indptr: Int[Array, " n_pre_plus_1"]
    indices: Int[Array, " nnz"]
    pre_indices: Int[Array, " nnz"]
    weight: Float[Array, "*w"]
    event: ClassVar[bool]

    def __init__(self, conn: Connectivity, weight: ArrayLike):
        owner = type(self).__name__
        if not isinstance(conn, Connectivity):
            raise ValueError(
                f"{owner}(conn={type(conn).__name__}): conn must be an nt.conn.CSR (build one "
                "with a connectivity builder or nt.conn.CSR(indptr, indices, shape))."
            )
        self.n_pre, self.n_post = conn.shape
        nnz = conn.nnz
        self.weight = weight_of_shape(
            owner, weight, ((), (nnz,)), f"a scalar or one weight per synapse, (nnz,) = ({nnz},)"
        )
        self.indptr = jnp.asarray(conn.indptr, jnp.int32)
        self.indices = jnp.asarray(conn.indices, jnp.int32)
        self.pre_indices = jnp.asarray(conn.pre_indices(), jnp.int32)

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def __call__(self, x: ArrayLike, weight: ArrayLike | None = None) -> Array:
        x = self._pre(x)
        w = self._weight(weight, self.weight, ((), (self.nnz,)))
        op = kernels.event_csr_matvec if self.event else kernels.csr_matvec
        shape = (self.n_pre, self.n_post)
        return op(
            x, self.indptr, self.indices, w, shape=shape, transpose=True,
            pre_indices=self.pre_indices,
        )  # fmt: skip

    def plastic_weight(self) -> Float[Array, " nnz"]:
        return jnp.broadcast_to(self.weight, (self.nnz,))

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        a, b = self._pre(a_pre, "a_pre"), self._post(b_post)
        return a[..., self.pre_indices] * b[..., self.indices]

    def synapses(self):
        return self.pre_indices, self.indices


class CSR(_Sparse):
    """Sparse projection over a stored connectivity `conn` (an `nt.conn.CSR`):

        y_j = sum_{i -> j} x_i w_ij

    with `weight` a scalar (every synapse) or one value per synapse (nnz,), in the unit of the
    synaptic variable it feeds per unit of x; trainable. `plastic_weight()` is (nnz,), in the
    order of `conn.indices`. For spikes, `EventCSR` gives the same values.
    """

    event: ClassVar[bool] = False


class EventCSR(_Sparse):
    """`CSR` for spike-like x, through the event-driven kernel `event_csr_matvec`:

        y_j = sum_{i -> j} s_i w_ij

    exact for any x (fractional releases included); an event-driven backend visits only the
    rows of neurons with s_i != 0. `weight`: a scalar or (nnz,), in the unit of the synaptic
    variable per spike; trainable.
    """

    event: ClassVar[bool] = True
