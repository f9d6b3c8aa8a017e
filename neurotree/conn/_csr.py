"""The compressed-sparse-row connectivity that every builder returns."""

import equinox as eqx
import numpy as np


class CSR(eqx.Module):
    """A connectivity matrix M of shape (n_pre, n_post) in compressed sparse row form.

    Row i lists the post neurons of pre neuron i: `indices[indptr[i]:indptr[i + 1]]`, sorted.
    Arrays are NumPy int32 on the host; communication layers move them to the device.
    """

    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple[int, int] = eqx.field(static=True)

    def __init__(self, indptr, indices, shape: tuple[int, int]):
        if (
            not isinstance(shape, tuple | list)
            or len(shape) != 2
            or not all(isinstance(s, int | np.integer) and s > 0 for s in shape)
        ):
            raise ValueError(
                f"CSR(shape={shape!r}): shape must be (n_pre, n_post), two positive integers."
            )
        self.shape = (int(shape[0]), int(shape[1]))
        indptr = np.asarray(indptr)
        indices = np.asarray(indices)
        n_pre, n_post = self.shape
        if indptr.ndim != 1 or indptr.shape[0] != n_pre + 1:
            raise ValueError(
                f"CSR: indptr has shape {indptr.shape}; expected ({n_pre + 1},) for n_pre={n_pre}."
            )
        if indices.ndim != 1:
            raise ValueError(f"CSR: indices has shape {indices.shape}; expected one axis.")
        for name, a in (("indptr", indptr), ("indices", indices)):
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"CSR: {name} has dtype {a.dtype}; expected integers.")
        if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
            raise ValueError(
                f"CSR: indptr must start at 0, never decrease and end at nnz={indices.shape[0]}; "
                f"got indptr[0]={indptr[0]}, indptr[-1]={indptr[-1]}."
            )
        if indices.size and (indices.min() < 0 or indices.max() >= n_post):
            raise ValueError(
                f"CSR: indices range over [{indices.min()}, {indices.max()}]; post indices must "
                f"lie in [0, {n_post})."
            )
        if indices.shape[0] >= 2**31:
            raise ValueError(f"CSR: {indices.shape[0]} synapses exceed int32 indexing (2**31).")
        self.indptr = indptr.astype(np.int32, copy=False)
        self.indices = indices.astype(np.int32, copy=False)

    @property
    def n_pre(self) -> int:
        return self.shape[0]

    @property
    def n_post(self) -> int:
        return self.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def pre_indices(self) -> np.ndarray:
        """The pre (row) index of every synapse, int32 of shape (nnz,)."""
        return np.repeat(np.arange(self.n_pre, dtype=np.int32), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        """M as a bool array of shape (n_pre, n_post) (for tests and small networks)."""
        dense = np.zeros(self.shape, bool)
        dense[self.pre_indices(), self.indices] = True
        return dense
