"""CSR matrix-vector products as Pallas kernels.

M (n_pre, n_post) holds `data[s]` at column `indices[s]` of row i for
`indptr[i] <= s < indptr[i + 1]` (`data` a scalar or one value per synapse).

- transpose=False, y_bi = sum_s data_s x_b,indices_s: one program per (block of rows, batch
  row); the rows of the block advance together through their synapses in tiles of
  (block_rows, block_cols), gathering x at the columns.
- transpose=True, y_bj = sum_i x_bi M_ij: one program per (block of pre rows, batch row)
  scatters data_s x_bi into y with atomic adds. With `event`, rows whose x is zero get no
  synapse at all: a block without active rows does no work.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from ._util import call, load, scatter_add, store


def _row_bounds(indptr_ref, n_pre: int, block_rows: int):
    r0 = pl.program_id(0) * block_rows
    live = r0 + jnp.arange(block_rows) < n_pre
    start = load(indptr_ref, pl.ds(r0, block_rows), live, 0)
    end = load(indptr_ref, pl.ds(r0 + 1, block_rows), live, 0)
    return r0, live, start, end - start


def _tiles(length, block_cols: int):
    """Number of (rows, block_cols) tiles that cover the longest row."""
    return (jnp.max(length) + block_cols - 1) // block_cols


def _synapses(t, start, length, block_cols: int):
    """Synapse offsets (rows, cols) of tile t and which of them exist."""
    off = t * block_cols + jnp.arange(block_cols)[None, :]
    return start[:, None] + off, off < length[:, None]


def _gather_kernel(x_ref, indptr_ref, indices_ref, data_ref, y_ref, *, n_pre, n_post, hom, br, bc):
    b = pl.program_id(1)
    r0, live, start, length = _row_bounds(indptr_ref, n_pre, br)

    def tile(t, acc):
        s, m = _synapses(t, start, length, bc)
        col = load(indices_ref, s, m, 0)
        v = load(x_ref, b * n_post + col, m, 0)
        if not hom:
            v = v * load(data_ref, s, m, 0)
        return acc + jnp.sum(jnp.where(m, v, 0), axis=1)

    acc = lax.fori_loop(0, _tiles(length, bc), tile, jnp.zeros((br,), y_ref.dtype))
    if hom:
        acc = acc * data_ref[0]
    store(y_ref, pl.ds(b * n_pre + r0, br), acc, live)


def _scatter_kernel(
    x_ref, indptr_ref, indices_ref, data_ref, _, y_ref, *, n_pre, n_post, hom, event, br, bc, interp
):
    b = pl.program_id(1)
    r0, live, start, length = _row_bounds(indptr_ref, n_pre, br)
    xv = load(x_ref, pl.ds(b * n_pre + r0, br), live, 0)
    if hom:
        xv = xv * data_ref[0]
    if event:
        length = jnp.where(xv != 0, length, 0)

    def tile(t, carry):
        s, m = _synapses(t, start, length, bc)
        col = load(indices_ref, s, m, 0)
        v = jnp.broadcast_to(xv[:, None], s.shape)
        if not hom:
            v = v * load(data_ref, s, m, 0)
        scatter_add(y_ref, b * n_post + col, v, m, interp)
        return carry

    lax.fori_loop(0, _tiles(length, bc), tile, 0)


@functools.partial(
    jax.jit,
    static_argnames=("shape", "transpose", "event", "interpret", "block_rows", "block_cols"),
)
def csr_matvec(
    x2,
    indptr,
    indices,
    data,
    *,
    shape,
    transpose,
    event,
    interpret=False,
    block_rows=None,
    block_cols=32,
):
    """y2 = x2 @ M (transpose=True, x2 (B, n_pre)) or y2 = x2 @ M.T (transpose=False,
    x2 (B, n_post)) for the CSR matrix M of `shape`; `data` of shape () or (nnz,).

    `event` (transpose=True) skips the rows of zero entries of x2; the values are the same for
    any x2. Block sizes are powers of two: `block_rows` rows per program (default 16 for the
    gather, 8 for the scatter), `block_cols` synapses per row and step.
    """
    n_pre, n_post = shape
    batch = x2.shape[0]
    assert x2.ndim == 2 and x2.shape[1] == (n_pre if transpose else n_post)
    assert indptr.shape == (n_pre + 1,) and indices.ndim == 1
    n_out = n_post if transpose else n_pre
    assert batch * max(n_pre, n_post) < 2**31 and indices.shape[0] < 2**31, "int32 offsets"
    data = jnp.asarray(data, x2.dtype)
    hom = data.shape == ()
    if batch == 0 or n_out == 0 or indices.shape[0] == 0 or n_pre == 0:
        return jnp.zeros((batch, n_out), x2.dtype)
    br = block_rows or (8 if transpose else 16)
    grid = (pl.cdiv(n_pre, br), batch)
    params = dict(n_pre=n_pre, n_post=n_post, hom=hom, br=br, bc=block_cols)
    args = (x2.reshape(-1), indptr.astype(jnp.int32), indices.astype(jnp.int32))
    args += (data.reshape(-1),)
    if transpose:
        kernel = functools.partial(_scatter_kernel, event=bool(event), interp=interpret, **params)
        y = call(kernel, batch * n_post, x2.dtype, grid, interpret, *args, zeroed=True)
    else:
        kernel = functools.partial(_gather_kernel, **params)
        y = call(kernel, batch * n_pre, x2.dtype, grid, interpret, *args)
    return y.reshape(batch, n_out)
