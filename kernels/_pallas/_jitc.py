"""Just-in-time connectivity products as a Pallas kernel, bit for bit as `kernels/_jitc_def.py`.

Each lane of a program is one row i of M: it draws H(i, k, 0) for k = 0, 1, ..., advances its
column by 1 + S(i, k) (the fixed-point log geometric skip, the table passed in as an input)
and stops past n_post; the program loops until all of its rows have stopped. Integer hashing,
the table lookup and the one float32 multiply are exact on every device, so the synapses are
those of `jitc_to_dense`.

- transpose=False, y_bi = sum_j M_ij w_ij x_bj: the lanes gather x at their columns.
- transpose=True, y_bj = sum_i x_bi M_ij w_ij: the lanes scatter x_bi w_ij with atomic adds;
  with `event`, rows whose x is zero start finished, so a block of silent rows does no work.

One program per (block of rows, batch row): with B > 1 the matrix is regenerated per row of x.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

from .._jitc_def import LOG2_TABLE, draw_hash, row_key, unit_normal, unit_uniform
from ._util import any_true, call, load, scatter_add, store

_U = np.uint32


def _skip(h, K, n_post: int, table_ref):
    """S(i, k) of step 3 of the definition from h = H(i, k, 0)."""
    v = (h >> _U(1)) + _U(1)
    e = _U(31) - lax.clz(v)
    f = (v << (_U(31) - e)) & _U(0x7FFFFFFF)
    t = (f >> _U(19)).astype(jnp.int32)
    r = ((f >> _U(8)) & _U(0x7FF)).astype(jnp.int32)
    lo, hi = table_ref[t], table_ref[t + 1]
    lg = lo + (((hi - lo) * r) >> 11)
    L = ((np.int32(31) - e.astype(jnp.int32)) << 24) - lg
    x = L.astype(jnp.float32) * K
    x = jnp.where(jnp.isinf(K), np.float32(n_post), jnp.minimum(x, np.float32(n_post)))
    return jnp.floor(x).astype(jnp.int32)


def _weight(kind: str, coef_ref, keys, rows, k, dtype):
    """The weights of draw k of every lane (None for a scalar weight, applied apart)."""
    if kind == "scalar":
        return None
    h1 = draw_hash(keys, rows, k, 1)
    if kind == "normal":
        z = unit_normal(h1, draw_hash(keys, rows, k, 2)).astype(dtype)
        return coef_ref[0] + coef_ref[1] * z
    low, high = coef_ref[0], coef_ref[1]
    return low + (high - low) * unit_uniform(h1).astype(dtype)


def _kernel(x_ref, seed_ref, k_ref, coef_ref, table_ref, *out, n_pre, n_post, cfg):
    transpose, event, kind, br, interpret = cfg
    y_ref = out[-1]  # after the zeros it starts from, when it accumulates
    dtype = y_ref.dtype
    r0 = pl.program_id(0) * br
    b = pl.program_id(1)
    live = r0 + jnp.arange(br) < n_pre
    rows = (r0 + jnp.arange(br)).astype(jnp.uint32)
    keys = row_key(seed_ref[0], rows)
    K = k_ref[0]
    if transpose:
        xv = load(x_ref, pl.ds(b * n_pre + r0, br), live, 0)
        if kind == "scalar":
            xv = xv * coef_ref[0]
        if event:
            live = live & (xv != 0)

    def more(c):
        return any_true(c[0] < n_post)

    def draw(c):
        j, k, acc = c
        h = draw_hash(keys, rows, k, 0)
        j = jnp.minimum(j + 1 + _skip(h, K, n_post, table_ref), n_post)
        ok = j < n_post
        w = _weight(kind, coef_ref, keys, rows, k, dtype)
        if transpose:
            scatter_add(y_ref, b * n_post + j, xv if w is None else xv * w, ok, interpret)
        else:
            v = load(x_ref, b * n_post + j, ok, 0)
            acc = acc + jnp.where(ok, v if w is None else v * w, 0)
        return j, k + _U(1), acc

    j0 = jnp.where(live, -1, n_post).astype(jnp.int32)
    _, _, acc = lax.while_loop(more, draw, (j0, _U(0), jnp.zeros((br,), dtype)))
    if not transpose:
        if kind == "scalar":
            acc = acc * coef_ref[0]
        store(y_ref, pl.ds(b * n_pre + r0, br), acc, live)


@functools.partial(
    jax.jit, static_argnames=("shape", "transpose", "event", "kind", "interpret", "block_rows")
)
def jitc_matvec(
    x2, coefs, seed, K, *, shape, transpose, event, kind, interpret=False, block_rows=128
):
    """y2 = x2 @ M (transpose=True, x2 (B, n_pre)) or y2 = x2 @ M.T (transpose=False,
    x2 (B, n_post)) for the JIT matrix M of (seed, K, shape) with weights `kind` ("scalar":
    coefs (w,), "normal": (mean, std), "uniform": (low, high)); seed a uint32 scalar, K the
    float32 rate constant. `event` (transpose=True) skips the rows of zero entries of x2.
    `block_rows` rows (lanes) per program, a power of two."""
    n_pre, n_post = shape
    batch = x2.shape[0]
    assert x2.ndim == 2 and x2.shape[1] == (n_pre if transpose else n_post)
    n_out = n_post if transpose else n_pre
    assert batch * max(n_pre, n_post) < 2**31, "int32 offsets"
    if batch == 0 or n_pre == 0 or n_post == 0:
        return jnp.zeros((batch, n_out), x2.dtype)
    coefs = jnp.stack([jnp.asarray(c, x2.dtype) for c in coefs])
    seed = jnp.asarray(seed, jnp.uint32).reshape(1)
    K = jnp.asarray(K, jnp.float32).reshape(1)
    cfg = (bool(transpose), bool(event) and bool(transpose), kind, block_rows, interpret)
    kernel = functools.partial(_kernel, n_pre=n_pre, n_post=n_post, cfg=cfg)
    grid = (pl.cdiv(n_pre, block_rows), batch)
    args = (x2.reshape(-1), seed, K, coefs, jnp.asarray(LOG2_TABLE))
    y = call(kernel, batch * n_out, x2.dtype, grid, interpret, *args, zeroed=transpose)
    return y.reshape(batch, n_out)
