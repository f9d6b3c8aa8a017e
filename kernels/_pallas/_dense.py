"""Dense event-driven matrix-vector product as a Pallas kernel.

y_bj = sum_i x_bi W_ij for x2 (B, n_pre) and W (n_pre, n_post). One program per (block of
columns, batch row) walks down W in tiles of (block_k rows, block_n columns). The product is
an elementwise multiply and a sum in x's dtype (no tensor-core dot, whose TF32 inputs would
round), so the values are exact for any x. With `event`, rows of W whose x is zero are masked
out of the loads (no memory traffic), and a tile whose x entries are all zero is skipped.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl

from ._util import any_true, call, load, store


def _kernel(x_ref, w_ref, y_ref, *, n_pre, n_post, event, bk, bn):
    j0 = pl.program_id(0) * bn
    b = pl.program_id(1)
    cols = j0 + jnp.arange(bn)
    col_ok = cols < n_post

    def tile(t, acc):
        rows = t * bk + jnp.arange(bk)
        row_ok = rows < n_pre
        xv = load(x_ref, pl.ds(b * n_pre + t * bk, bk), row_ok, 0)
        if event:
            row_ok = row_ok & (xv != 0)
        m = row_ok[:, None] & col_ok[None, :]

        def add(acc):
            w = load(w_ref, rows[:, None] * n_post + cols[None, :], m, 0)
            return acc + jnp.sum(xv[:, None] * w, axis=0)

        return lax.cond(any_true(row_ok), add, lambda acc: acc, acc) if event else add(acc)

    acc = lax.fori_loop(0, pl.cdiv(n_pre, bk), tile, jnp.zeros((bn,), y_ref.dtype))
    store(y_ref, pl.ds(b * n_post + j0, bn), acc, col_ok)


@functools.partial(jax.jit, static_argnames=("event", "interpret", "block_k", "block_n"))
def dense_matvec(x2, weights, *, event, interpret=False, block_k=32, block_n=64):
    """y2 = x2 @ weights for x2 (B, n_pre) and weights (n_pre, n_post), exact for any x2;
    `event` skips the rows of weights where x2 is zero. `block_k` rows and `block_n` columns
    per tile (powers of two)."""
    n_pre, n_post = weights.shape
    batch = x2.shape[0]
    assert x2.ndim == 2 and x2.shape[1] == n_pre
    assert max(batch, n_pre) * n_post < 2**31, "int32 offsets"
    if batch == 0 or n_pre == 0 or n_post == 0:
        return jnp.zeros((batch, n_post), x2.dtype)
    kernel = functools.partial(
        _kernel, n_pre=n_pre, n_post=n_post, event=bool(event), bk=block_k, bn=block_n
    )
    grid = (pl.cdiv(n_post, block_n), batch)
    w = weights.astype(x2.dtype).reshape(-1)
    y = call(kernel, batch * n_post, x2.dtype, grid, interpret, x2.reshape(-1), w)
    return y.reshape(batch, n_post)
