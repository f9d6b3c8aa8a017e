"""Communication layers as one device of a neuron-sharded network sees them (see `nt.shard`).

Inside `jax.shard_map`, a device holds a block of `n_local` consecutive neurons of every sharded
population (device d: neurons d n_local ... (d + 1) n_local - 1; the padding, if any, at the end
of the last blocks). A layer here takes the pre activity of its own block (or of the whole
population when the pre side is replicated), all-gathers it along the mesh axis when needed,
and returns the input of the post neurons of its own block:

- `RowsCSR`: a CSR/EventCSR split by post neuron: each device keeps every pre row but only the
  synapses onto its own post neurons, with local post indices, padded to a common nnz by
  synapses whose post index is out of range (dropped by every kernel backend). The per-post
  order of accumulation (rows in increasing pre index) is that of the unsharded kernel.
- `ColumnsDense`: a Dense/EventDense weight matrix split by columns.
- `LocalOneToOne`: OneToOne between two equally sharded populations: no exchange at all.
- `Full`: any other layer, computed whole on every device from the gathered activity, then
  sliced to the block (correct for every layer; the work is not divided).

These are private: they exist only inside the model `nt.shard` returns.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .. import kernels
from ..kernels._common import exact_precision
from ._base import Comm
from ._csr import _Sparse
from ._dense import _Matrix
from ._one_to_one import OneToOne

_NO_SYNAPSES = (
    "{name}: a sharded projection keeps only each device's slice of its synapses, so it has no "
    "global per-synapse {what} (STDP and per-synapse delays are not supported by nt.shard)."
)


class _Local(Comm):
    """Shared by the sharded layers: the gather of the pre side and the missing synapse views."""

    axis: str = eqx.field(static=True)
    gather: bool = eqx.field(static=True)
    n_pre_full: int = eqx.field(static=True)

    def _full_pre(self, x) -> Array:
        """The whole pre population's activity (..., n_pre_full) from this device's block."""
        x = self._pre(x)
        if not self.gather:
            return x
        x = jax.lax.all_gather(x, self.axis, axis=x.ndim - 1, tiled=True)
        return x[..., : self.n_pre_full]

    def _no_override(self, weight) -> None:
        if weight is not None:
            raise ValueError(_NO_SYNAPSES.format(name=self._name(), what="weights"))

    def plastic_weight(self) -> Array:
        raise ValueError(_NO_SYNAPSES.format(name=self._name(), what="weights"))

    def outer(self, a_pre, b_post) -> Array:
        raise ValueError(_NO_SYNAPSES.format(name=self._name(), what="weights (outer)"))

    def synapses(self):
        raise ValueError(_NO_SYNAPSES.format(name=self._name(), what="synapse list"))


def _sizes(n_pre_local: int, n_post_local: int, axis: str, gather: bool, n_pre_full: int):
    return dict(
        n_pre=n_pre_local, n_post=n_post_local, axis=axis, gather=gather, n_pre_full=n_pre_full
    )


class RowsCSR(_Local):
    """The synapses of a CSR layer onto this device's post neurons (arrays stacked over devices
    on their leading axis; shard_map hands each device a leading axis of 1)."""

    indptr: Int[Array, "devices n_pre_plus_1"]
    indices: Int[Array, "devices nnz"]
    pre_indices: Int[Array, "devices nnz"]
    weight: Float[Array, "*devices_nnz"]
    event: bool = eqx.field(static=True)

    def __init__(
        self, comm: _Sparse, n_devices: int, n_local: int, axis: str, gather: bool, n_pre_local: int
    ):
        for name, value in _sizes(n_pre_local, n_local, axis, gather, comm.n_pre).items():
            setattr(self, name, value)
        self.event = type(comm).event
        indices = np.asarray(comm.indices)
        pre = np.asarray(comm.pre_indices)
        weight = np.asarray(comm.weight)
        blocks = []
        for d in range(n_devices):
            keep = (indices >= d * n_local) & (indices < (d + 1) * n_local)
            blocks.append((indices[keep] - d * n_local, pre[keep], keep))
        nnz = max(1, max(b[0].size for b in blocks))
        indptr = np.zeros((n_devices, comm.n_pre + 1), np.int32)
        local = np.full((n_devices, nnz), n_local, np.int32)  # padding: out of range, dropped
        rows = np.full((n_devices, nnz), comm.n_pre - 1, np.int32)
        w = np.zeros((n_devices, nnz), weight.dtype)
        for d, (idx, p, keep) in enumerate(blocks):
            indptr[d, 1:] = np.cumsum(np.bincount(p, minlength=comm.n_pre))
            indptr[d, -1] = nnz  # the last row also holds the padding
            local[d, : idx.size], rows[d, : idx.size] = idx, p
            if weight.ndim:
                w[d, : idx.size] = weight[keep]
        self.indptr, self.indices, self.pre_indices = map(jnp.asarray, (indptr, local, rows))
        self.weight = jnp.asarray(weight if weight.ndim == 0 else w)

    def __call__(self, x, weight=None) -> Array:
        self._no_override(weight)
        x = self._full_pre(x)
        w = self.weight if self.weight.ndim == 0 else self.weight[0]
        op = kernels.event_csr_matvec if self.event else kernels.csr_matvec
        return op(
            x, self.indptr[0], self.indices[0], w, shape=(self.n_pre_full, self.n_post),
            transpose=True, pre_indices=self.pre_indices[0],
        )  # fmt: skip


class ColumnsDense(_Local):
    """The columns of a Dense/EventDense weight matrix that feed this device's post neurons."""

    weight: Float[Array, "n_pre n_post_padded"]
    event: bool = eqx.field(static=True)

    def __init__(
        self, comm: _Matrix, n_devices: int, n_local: int, axis: str, gather: bool, n_pre_local: int
    ):
        for name, value in _sizes(n_pre_local, n_local, axis, gather, comm.n_pre).items():
            setattr(self, name, value)
        self.event = type(comm).event
        w = np.asarray(comm.weight)
        self.weight = jnp.asarray(np.pad(w, ((0, 0), (0, n_devices * n_local - w.shape[1]))))

    def __call__(self, x, weight=None) -> Array:
        self._no_override(weight)
        x = self._full_pre(x)
        if self.event:
            return kernels.event_matvec(x, self.weight)
        return jnp.matmul(x, self.weight, precision=exact_precision())


class LocalOneToOne(_Local):
    """OneToOne between two populations sharded alike: each device weights its own block."""

    weight: Float[Array, "*n_padded"]

    def __init__(self, comm: OneToOne, n_devices: int, n_local: int, axis: str):
        for name, value in _sizes(n_local, n_local, axis, False, comm.n_pre).items():
            setattr(self, name, value)
        w = np.asarray(comm.weight)
        pad = n_devices * n_local - comm.n_pre
        self.weight = jnp.asarray(w if w.ndim == 0 else np.pad(w, (0, pad), mode="edge"))

    def __call__(self, x, weight=None) -> Array:
        self._no_override(weight)
        return self._pre(x) * self.weight


class Full(_Local):
    """Any layer, computed whole on every device from the gathered pre activity; with `split`,
    the result is cut to this device's block of post neurons."""

    comm: Comm
    split: bool = eqx.field(static=True)
    n_post_full: int = eqx.field(static=True)

    def __init__(
        self, comm: Comm, n_pre_local: int, n_post_local: int, axis: str, gather: bool, split: bool
    ):
        for name, value in _sizes(n_pre_local, n_post_local, axis, gather, comm.n_pre).items():
            setattr(self, name, value)
        self.comm, self.split, self.n_post_full = comm, split, comm.n_post

    def __call__(self, x, weight=None) -> Array:
        self._no_override(weight)
        y = self.comm(self._full_pre(x))
        if not self.split:
            return y
        n_padded = jax.lax.axis_size(self.axis) * self.n_post
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n_padded - self.n_post_full)])
        start = jax.lax.axis_index(self.axis) * self.n_post
        return jax.lax.dynamic_slice_in_dim(y, start, self.n_post, axis=y.ndim - 1)
