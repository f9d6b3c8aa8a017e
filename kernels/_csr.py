"""Matrix-vector products with a compressed-sparse-row matrix.

M has shape (n_pre, n_post); row i holds `data[s]` at column `indices[s]` for
`indptr[i] <= s < indptr[i + 1]` (`data` a scalar for a homogeneous weight). transpose=True is
pre -> post delivery, y_j = sum_i x_i M_ij; transpose=False is y_i = sum_j M_ij x_j.

One primitive runs the product on every backend. It is linear in x and in `data`, so its JVP
is the same product of the tangents, and its transpose with respect to x is the product with
the transposed matrix; with respect to data it is the per-synapse sum
ct_data[s] = sum_b x[b, pre(s)] ct[b, post(s)] (summed over synapses for a scalar weight).

XLA reference: the row of each synapse comes from `indptr` (`jnp.repeat` with a static total
length) unless given, the product is a gather and a `jax.ops.segment_sum`. Index arrays are
trusted (`nt.conn.CSR` validates them).
"""

import functools

import jax
import jax.numpy as jnp
from jax.interpreters import ad
from jaxtyping import Array, ArrayLike

from ._backends import check_backend, raw_kernel
from ._common import as_float, check_input, check_shape, flatten_batch
from ._primitive import define


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
    transpose = bool(transpose)
    data = data.astype(x.dtype)
    x2, lead = flatten_batch(x)
    n_out = shape[1] if transpose else shape[0]
    if indices.shape[0] == 0 or x2.shape[0] == 0:
        y2 = jnp.zeros((x2.shape[0], n_out), x.dtype) + 0 * jnp.sum(data)
    else:
        has_pre = pre_indices is not None
        pre = pre_indices if has_pre else jnp.zeros((0,), jnp.int32)
        params = dict(
            shape=shape, transpose=transpose, event=fn.startswith("event"), backend=backend,
            has_pre=has_pre,
        )  # fmt: skip
        y2 = csr_matvec_p.bind(x2, indptr, indices, data, pre, **params)
    return y2.reshape(lead + (n_out,))


def _reference(x2, indptr, indices, data, pre, *, shape, transpose, has_pre):
    """The XLA definition: (B, n_in) -> (B, n_out)."""
    n_pre, n_post = shape
    if not has_pre:  # computing it costs a cumulative sum over nnz (slow on CPU)
        pre = _pre_index(indptr, indices.shape[0], n_pre)

    def one(v):
        if transpose:
            return jax.ops.segment_sum(v[pre] * data, indices, num_segments=n_post)
        return jax.ops.segment_sum(
            v[indices] * data, pre, num_segments=n_pre, indices_are_sorted=True
        )

    return jax.vmap(one)(x2)


def _implementation(impl: str, *, shape, transpose, event, has_pre):
    if impl == "xla":
        return _xla(shape=shape, transpose=transpose, event=event, has_pre=has_pre)
    kernel = raw_kernel(impl, "csr_matvec")

    def run(x2, indptr, indices, data, pre):
        return kernel(x2, indptr, indices, data, shape=shape, transpose=transpose, event=event)

    return run


def _xla(*, shape, transpose, event, has_pre):
    return functools.partial(_reference, shape=shape, transpose=transpose, has_pre=has_pre)


def _out_shape(x2, *_, shape, transpose, **__):
    return (x2.shape[0], shape[1] if transpose else shape[0])


# Operands x2, indptr, indices, data, pre: vmapped weights over one connectivity (a weight
# sweep) run the backend once per member.
csr_matvec_p = define(
    "csr_matvec", abstract=_out_shape, implementation=_implementation, reference=_xla,
    fixed=(1, 2, 4),
)  # fmt: skip


def _jvp_x(g, x2, indptr, indices, data, pre, **params):
    return csr_matvec_p.bind(g, indptr, indices, data, pre, **params)


def _jvp_data(g, x2, indptr, indices, data, pre, **params):
    return csr_matvec_p.bind(x2, indptr, indices, g, pre, **params)


ad.defjvp(csr_matvec_p, _jvp_x, None, None, _jvp_data, None)


def _transpose(ct, x2, indptr, indices, data, pre, *, shape, transpose, event, backend, has_pre):
    if type(ct) is ad.Zero:
        return None, None, None, None, None
    ct_x = ct_data = None
    if ad.is_undefined_primal(x2):
        ct_x = csr_matvec_p.bind(
            ct, indptr, indices, data, pre, shape=shape, transpose=not transpose, event=False,
            backend=backend, has_pre=has_pre,
        )  # fmt: skip
    if ad.is_undefined_primal(data):
        rows = pre if has_pre else _pre_index(indptr, indices.shape[0], shape[0])
        a, b = (x2, ct) if transpose else (ct, x2)  # a on the pre side, b on the post side
        per_synapse = jnp.sum(a[:, rows] * b[:, indices], axis=0)
        ct_data = per_synapse if data.aval.shape else jnp.sum(per_synapse)
    return ct_x, None, None, ct_data, None


ad.primitive_transposes[csr_matvec_p] = _transpose


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
