"""Matrix-vector products with a compressed-sparse-row matrix.

M has shape (n_pre, n_post); row i holds `data[s]` at column `indices[s]` for
`indptr[i] <= s < indptr[i + 1]` (`data` a scalar for a homogeneous weight). transpose=True is
pre -> post delivery, y_j = sum_i x_i M_ij; transpose=False is y_i = sum_j M_ij x_j.

XLA reference: the row of each synapse comes from `indptr` (`jnp.repeat` with a static total
length), the product is a gather and a `jax.ops.segment_sum`, and plain autodiff differentiates
it with respect to x and `data`. Index arrays are trusted (`nt.conn.CSR` validates them):
out-of-range entries are dropped by the segment sum rather than checked on every call.
"""

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._common import as_float, check_backend, check_input, check_shape, flatten_batch


def _check_csr(fn: str, indptr, indices, data, shape):
    n_pre, n_post = check_shape(fn, shape)
    indptr, indices, data = jnp.asarray(indptr), jnp.asarray(indices), as_float(data)
    for name, a in (("indptr", indptr), ("indices", indices)):
        if not jnp.issubdtype(a.dtype, jnp.integer):
            raise ValueError(f"{fn}: {name} has dtype {a.dtype}; expected integers (int32).")
    if indptr.shape != (n_pre + 1,):
        raise ValueError(
            f"{fn}: indptr of shape {indptr.shape} for shape={shape}; expected (n_pre + 1,) = "
            f"({n_pre + 1},)."
        )
    if indices.ndim != 1:
        raise ValueError(f"{fn}: indices of shape {indices.shape}; expected one axis (nnz,).")
    nnz = indices.shape[0]
    if data.shape not in ((), (nnz,)):
        raise ValueError(
            f"{fn}: data of shape {data.shape}; expected a scalar (one weight for every synapse) "
            f"or one weight per synapse, shape (nnz,) = ({nnz},)."
        )
    return (n_pre, n_post), indptr.astype(jnp.int32), indices.astype(jnp.int32), data


def _pre_index(indptr, nnz: int, n_pre: int):
    """The row (pre index) of every synapse, int32 (nnz,)."""
    rows = jnp.arange(n_pre, dtype=jnp.int32)
    return jnp.repeat(rows, jnp.diff(indptr), total_repeat_length=nnz)


def _matvec(fn, x, indptr, indices, data, shape, transpose, backend, pre_indices):
    check_backend(fn, backend)
    shape, indptr, indices, data = _check_csr(fn, indptr, indices, data, shape)
    x = as_float(x, like=data)
    check_input(fn, "spikes" if fn.startswith("event") else "x", x, shape, transpose)
    if pre_indices is not None:
        pre_indices = jnp.asarray(pre_indices)
        if pre_indices.shape != indices.shape:
            raise ValueError(
                f"{fn}: pre_indices of shape {pre_indices.shape}; expected one row index per "
                f"synapse, shape {indices.shape}."
            )
        pre_indices = pre_indices.astype(jnp.int32)
    return _xla(x, indptr, indices, data, pre_indices, shape, bool(transpose))


@functools.partial(jax.jit, static_argnums=(5, 6))
def _xla(x, indptr, indices, data, pre, shape, transpose):
    n_pre, n_post = shape
    if pre is None:  # computing it costs a cumulative sum over nnz (slow on CPU)
        pre = _pre_index(indptr, indices.shape[0], n_pre)

    def one(v):
        if transpose:
            return jax.ops.segment_sum(v[pre] * data, indices, num_segments=n_post)
        return jax.ops.segment_sum(
            v[indices] * data, pre, num_segments=n_pre, indices_are_sorted=True
        )

    x2, lead = flatten_batch(x)
    y2 = jax.vmap(one)(x2)
    return y2.reshape(lead + y2.shape[-1:])


def csr_matvec(
    x: ArrayLike,
    indptr: ArrayLike,
    indices: ArrayLike,
    data: ArrayLike,
    *,
    shape: tuple[int, int],
    transpose: bool = False,
    backend: str = "auto",
    pre_indices: ArrayLike | None = None,
) -> Array:
    """y = M @ x (transpose=False, x of shape (..., n_post)) or y = x @ M (transpose=True, x of
    shape (..., n_pre)) for the CSR matrix M of `shape = (n_pre, n_post)`; `data` is a scalar or
    one value per synapse (nnz,). Leading axes of x are batch axes. `pre_indices` (optional,
    (nnz,)): the row of every synapse, as `nt.conn.CSR.pre_indices()` gives it; passing it
    saves recomputing it from `indptr` on every call."""
    return _matvec("csr_matvec", x, indptr, indices, data, shape, transpose, backend, pre_indices)


def event_csr_matvec(
    spikes: ArrayLike,
    indptr: ArrayLike,
    indices: ArrayLike,
    data: ArrayLike,
    *,
    shape: tuple[int, int],
    transpose: bool = False,
    backend: str = "auto",
    pre_indices: ArrayLike | None = None,
) -> Array:
    """`csr_matvec` for spike-like inputs: the same value for any input (fractional releases are
    exact); event-driven backends only skip the zero entries. The XLA reference is
    `csr_matvec`'s."""
    return _matvec(
        "event_csr_matvec", spikes, indptr, indices, data, shape, transpose, backend, pre_indices
    )
