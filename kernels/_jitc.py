"""Matrix-vector products with just-in-time connectivity (the matrix is never stored).

M (n_pre, n_post) and its weights are defined in `_jitc_def` (hash, geometric skipping, weight
streams). transpose=True is pre -> post delivery, y_j = sum_i x_i M_ij w_ij (x of shape
(..., n_pre)); transpose=False is y_i = sum_j M_ij w_ij x_j (x of shape (..., n_post)).

XLA reference: rows are generated in blocks, each block in chunks of a fixed number of draws
inside a `lax.while_loop` that runs until every row of the block has passed n_post, so the work
is proportional to the synapses visited (plus the chunk padding). The event version of the
transpose=True product visits only the rows where some batch entry of x is non-zero.

One primitive runs the product on every backend. It is linear in x and, jointly, in the weight
parameters (scalar w; Normal mean + std z; Uniform low (1 - u) + high u), so its JVP is the
product of the tangents; its transpose for x is the transposed product, and for the weight
parameters a sum over the synapses (computed by the XLA reference on every backend).

Reference: the just-in-time connectivity operators of BrainPy; Wang et al. (2023), BrainPy,
a flexible, integrative, efficient, and extensible framework for general-purpose brain dynamics
programming, eLife 12:e86365.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.interpreters import ad
from jaxtyping import Array, ArrayLike

from ._backends import check_backend, raw_kernel
from ._common import as_float, check_input, check_shape, flatten_batch
from ._jitc_def import (
    MAX_N_POST,
    Normal,
    Uniform,
    as_seed,
    draw_hash,
    geometric_skip,
    rate_constant,
    row_key,
    unit_normal,
    unit_uniform,
)
from ._primitive import define

_CHUNK_ELEMENTS = 1 << 17  # rows x draws x batch held at once
_EVENT_BLOCK = 64  # rows per block when only active rows are visited


class _Cfg(NamedTuple):
    shape: tuple[int, int]
    transpose: bool
    event: bool
    kind: str  # "scalar", "normal" or "uniform"
    draws: int  # draws per chunk


class _Chunk(NamedTuple):
    rows: Array  # (R,) int32
    rows_u: Array  # (R,) uint32
    keys: Array  # (R,) uint32 key_i
    k: Array  # (D,) uint32 draw numbers
    pos: Array  # (R, D) int32 columns
    valid: Array  # (R, D) bool: a synapse of a live row


def _draws_per_chunk(p: float | None, n_post: int) -> int:
    if p is None:
        d = 32
    else:
        m = p * n_post
        d = 1 << max(0, math.ceil(math.log2(m + 3.0 * math.sqrt(m) + 2.0)))
        d = min(max(d, 8), 128)
    return max(1, min(d, (2**31 - 1) // (n_post + 1) - 2))


def _row_set(x2, n_rows: int, block: int, event: bool):
    """Rows to visit (padded to whole blocks) and how many are live."""
    n_blocks = -(-n_rows // block)
    if event:
        active = jnp.any(x2 != 0, axis=0)
        slot = jnp.cumsum(active, dtype=jnp.int32) - 1
        order = jnp.arange(n_rows, dtype=jnp.int32)
        rows = jnp.zeros(n_rows, jnp.int32).at[jnp.where(active, slot, n_rows)].set(order)
        n_live = slot[-1] + 1
    else:
        rows = jnp.arange(n_rows, dtype=jnp.int32)
        n_live = jnp.int32(n_rows)
    return jnp.pad(rows, (0, n_blocks * block - n_rows)), n_live


def _traverse(seed, K, n_post: int, rows, n_live, block: int, draws: int, init, body):
    """Fold `body(acc, chunk)` over every synapse of rows[:n_live], chunk by chunk.

    One while loop: each iteration takes the next chunk of draws of the current block of rows,
    moving to the next block once every live row of the current one has passed n_post.
    """
    lanes = jnp.arange(block, dtype=jnp.int32)
    fresh = jnp.full((block,), -1, jnp.int32)

    def pending(b, j):
        return jnp.any((b * block + lanes < n_live) & (j < n_post))

    def more(c):
        b, j, _, _ = c
        return (b * block < n_live) & (pending(b, j) | ((b + 1) * block < n_live))

    def chunk(c):
        b, j, k0, acc = c
        move = ~pending(b, j)  # the current block is done: start the next one
        b = jnp.where(move, b + 1, b)
        j = jnp.where(move, fresh, j)
        k0 = jnp.where(move, np.uint32(0), k0)
        r = lax.dynamic_slice(rows, (b * block,), (block,))
        live = b * block + lanes < n_live
        ru = r.astype(jnp.uint32)
        keys = row_key(seed, ru)
        k = k0 + jnp.arange(draws, dtype=jnp.uint32)
        h = draw_hash(keys[:, None], ru[:, None], k[None, :], 0)
        pos = j[:, None] + jnp.cumsum(1 + geometric_skip(h, K, n_post), axis=1)
        valid = live[:, None] & (pos < n_post)
        acc = body(acc, _Chunk(r, ru, keys, k, pos, valid))
        return b, jnp.minimum(pos[:, -1], n_post), k0 + np.uint32(draws), acc

    _, _, _, acc = lax.while_loop(more, chunk, (jnp.int32(0), fresh, jnp.uint32(0), init))
    return acc


def _hashes(c: _Chunk, stream: int):
    return draw_hash(c.keys[:, None], c.rows_u[:, None], c.k[None, :], stream)


def _weights(kind: str, coefs, c: _Chunk, dtype):
    """Per-synapse weights (R, D), or None for a scalar weight (applied after the sum)."""
    if kind == "scalar":
        return None
    if kind == "normal":
        mean, std = coefs
        return mean + std * unit_normal(_hashes(c, 1), _hashes(c, 2)).astype(dtype)
    low, high = coefs
    return low + (high - low) * unit_uniform(_hashes(c, 1)).astype(dtype)


def _bases(kind: str, c: _Chunk, dtype):
    """d w / d coef for every weight parameter, each (R, D) or a scalar."""
    if kind == "scalar":
        return (jnp.ones((), dtype),)
    if kind == "normal":
        return jnp.ones((), dtype), unit_normal(_hashes(c, 1), _hashes(c, 2)).astype(dtype)
    u = unit_uniform(_hashes(c, 1)).astype(dtype)
    return 1 - u, u


def _block(cfg: _Cfg, batch: int, n_rows: int, event: bool) -> int:
    b = max(1, min(n_rows, _CHUNK_ELEMENTS // (cfg.draws * max(batch, 1))))
    return min(b, _EVENT_BLOCK) if event else b


def _product(cfg: _Cfg, x2, coefs, seed, K):
    n_pre, n_post = cfg.shape
    batch = x2.shape[0]
    dtype = jnp.result_type(x2, *coefs)
    n_out = n_post if cfg.transpose else n_pre
    if n_pre == 0 or n_post == 0:
        return jnp.zeros((batch, n_out), dtype)
    event = cfg.event
    block = _block(cfg, batch, n_pre, event)
    rows, n_live = _row_set(x2, n_pre, block, event)
    x2 = x2.astype(dtype)

    if cfg.transpose:

        def body(y, c):
            vals = jnp.take(x2, c.rows, axis=1, mode="clip")[:, :, None]
            w = _weights(cfg.kind, coefs, c, dtype)
            vals = jnp.broadcast_to(vals if w is None else vals * w, (batch,) + c.pos.shape)
            idx = jnp.where(c.valid, c.pos, n_post)
            return y.at[:, idx].add(vals, mode="drop")

    else:

        def body(y, c):
            idx = jnp.where(c.valid, c.pos, 0)
            w = _weights(cfg.kind, coefs, c, dtype)
            vals = x2[:, idx] if w is None else x2[:, idx] * w
            part = jnp.sum(jnp.where(c.valid, vals, 0), axis=-1)
            return y.at[:, c.rows].add(part, mode="drop")

    init = jnp.zeros((batch, n_out), dtype)
    y = _traverse(seed, K, n_post, rows, n_live, block, cfg.draws, init, body)
    return y * coefs[0] if cfg.kind == "scalar" else y


def _weight_grads(cfg: _Cfg, a_pre, b_post, coefs, seed, K):
    """sum over batch and synapses of a_pre[i] b_post[j] d w_ij / d coef, per coef."""
    n_pre, n_post = cfg.shape
    dtype = jnp.result_type(a_pre, b_post, *coefs)
    zeros = tuple(jnp.zeros((), dtype) for _ in coefs)
    if n_pre == 0 or n_post == 0:
        return zeros
    event = cfg.event
    block = _block(cfg, a_pre.shape[0], n_pre, event)
    rows, n_live = _row_set(a_pre, n_pre, block, event)

    def body(acc, c):
        a = jnp.take(a_pre, c.rows, axis=1, mode="clip")[:, :, None]
        b = b_post[:, jnp.where(c.valid, c.pos, 0)]
        ab = jnp.where(c.valid, jnp.sum(a * b, axis=0), 0)
        return tuple(g + jnp.sum(ab * base) for g, base in zip(acc, _bases(cfg.kind, c, dtype)))

    return _traverse(seed, K, n_post, rows, n_live, block, cfg.draws, zeros, body)


def _reference(*, shape, transpose, event, kind, draws):
    cfg = _Cfg(shape, transpose, event, kind, draws)

    def run(x2, *rest):
        *coefs, seed, K = rest
        return _product(cfg, x2, tuple(coefs), seed, K).astype(x2.dtype)

    return run


def _implementation(impl: str, **params):
    if impl == "xla":
        return _reference(**params)
    kernel = raw_kernel(impl, "jitc_matvec")
    keep = {k: params[k] for k in ("shape", "transpose", "event", "kind")}

    def run(x2, *rest):
        *coefs, seed, K = rest
        return kernel(x2, tuple(coefs), seed, K, **keep)

    return run


jitc_matvec_p = define(
    "jitc_matvec",
    abstract=lambda x2, *_, shape, transpose, **__: (
        x2.shape[0],
        shape[1] if transpose else shape[0],
    ),
    implementation=_implementation,
    reference=_reference,
    fixed=(-2, -1),  # seed and K: vmapped weights over one matrix run once per member
)


def _jvp(primals, tangents, **params):
    x2, *rest = primals
    coefs, (seed, K) = rest[:-2], rest[-2:]
    y = jitc_matvec_p.bind(*primals, **params)
    terms = []
    if type(tangents[0]) is not ad.Zero:
        terms.append(jitc_matvec_p.bind(tangents[0], *coefs, seed, K, **params))
    for i, dc in enumerate(tangents[1 : 1 + len(coefs)]):
        if type(dc) is not ad.Zero:  # the product is linear in the coefficients jointly
            cs = [dc if j == i else jnp.zeros_like(c) for j, c in enumerate(coefs)]
            terms.append(jitc_matvec_p.bind(x2, *cs, seed, K, **params))
    if not terms:
        return y, ad.Zero(jax.core.get_aval(y).to_tangent_aval())
    return y, functools.reduce(jnp.add, terms)


ad.primitive_jvps[jitc_matvec_p] = _jvp


def _transpose(ct, x2, *rest, **params):
    coefs, (seed, K) = rest[:-2], rest[-2:]
    none = [None] * len(rest)
    if type(ct) is ad.Zero:
        return [None] + none
    if ad.is_undefined_primal(x2):
        flipped = {**params, "transpose": not params["transpose"], "event": False}
        return [jitc_matvec_p.bind(ct, *coefs, seed, K, **flipped)] + none
    cfg = _Cfg(*(params[k] for k in ("shape", "transpose", "event", "kind", "draws")))
    a_pre, b_post = (x2, ct) if cfg.transpose else (ct, x2)
    like = [jnp.zeros((), c.aval.dtype if ad.is_undefined_primal(c) else c.dtype) for c in coefs]
    grads = _weight_grads(cfg, a_pre, b_post, like, seed, K)
    out = [
        g.astype(c.aval.dtype) if ad.is_undefined_primal(c) else None for g, c in zip(grads, coefs)
    ]
    return [None] + out + [None, None]


ad.primitive_transposes[jitc_matvec_p] = _transpose


def _weight_spec(fn: str, weight):
    """(kind, coefficients) of a scalar, `Normal` or `Uniform` weight."""
    if isinstance(weight, Normal):
        return "normal", (weight.mean, weight.std)
    if isinstance(weight, Uniform):
        return "uniform", (weight.low, weight.high)
    if isinstance(weight, bool) or weight is None:
        raise ValueError(f"{fn}(weight={weight!r}): weight must be a number, Normal or Uniform.")
    w = as_float(weight)
    if w.shape != ():
        raise ValueError(
            f"{fn}: weight of shape {w.shape}; JIT connectivity stores no per-synapse data, so "
            "weight must be a scalar (homogeneous), Normal(mean, std) or Uniform(low, high)."
        )
    return "scalar", (w,)


def _check_size(fn: str, shape) -> tuple[int, int]:
    shape = check_shape(fn, shape)
    if shape[1] > MAX_N_POST or shape[0] >= 2**31:
        raise ValueError(
            f"{fn}(shape={shape}): JIT connectivity supports n_pre < 2**31 and n_post <= 2**29."
        )
    return shape


def _setup(fn, prob, weight, seed, shape, backend):
    check_backend(fn, backend)
    shape = _check_size(fn, shape)
    K, p = rate_constant(fn, prob)
    kind, coefs = _weight_spec(fn, weight)
    return shape, K, p, kind, coefs, as_seed(fn, seed)


def _matvec(fn, x, prob, weight, seed, shape, transpose, event, backend):
    shape, K, p, kind, coefs, seed = _setup(fn, prob, weight, seed, shape, backend)
    x = as_float(x, like=coefs[0])
    check_input(fn, "spikes" if event else "x", x, shape, transpose)
    event = event and bool(transpose)  # without transpose every row is visited anyway
    params = dict(
        shape=shape, transpose=bool(transpose), event=event, kind=kind,
        draws=_draws_per_chunk(p, shape[1]), backend=backend,
    )  # fmt: skip
    x2, lead = flatten_batch(x)
    coefs = tuple(jnp.asarray(c, x.dtype) for c in coefs)
    y2 = jitc_matvec_p.bind(x2, *coefs, seed, K, **params)
    return y2.reshape(lead + y2.shape[-1:])


def jitc_matvec(
    x: ArrayLike,
    *,
    prob: ArrayLike,
    weight: ArrayLike | Normal | Uniform,
    seed: ArrayLike,
    shape: tuple[int, int],
    transpose: bool = False,
    backend: str = "auto",
) -> Array:
    """y = M @ x (transpose=False, x of shape (..., n_post)) or y = x @ M (transpose=True, x of
    shape (..., n_pre)) for the JIT matrix of (seed, prob, shape = (n_pre, n_post)) with
    weights `weight` (a scalar, `Normal` or `Uniform`). Leading axes of x are batch axes."""
    return _matvec("jitc_matvec", x, prob, weight, seed, shape, transpose, False, backend)


def jitc_event_matvec(
    spikes: ArrayLike,
    *,
    prob: ArrayLike,
    weight: ArrayLike | Normal | Uniform,
    seed: ArrayLike,
    shape: tuple[int, int],
    transpose: bool = False,
    backend: str = "auto",
) -> Array:
    """`jitc_matvec` for spike-like inputs: the same value for any input (fractional releases
    are exact); with transpose=True only the rows of non-zero entries are generated."""
    return _matvec("jitc_event_matvec", spikes, prob, weight, seed, shape, transpose, True, backend)


def jitc_to_dense(
    *,
    prob: ArrayLike,
    weight: ArrayLike | Normal | Uniform,
    seed: ArrayLike,
    shape: tuple[int, int],
) -> Array:
    """The JIT matrix with its weights as a dense (n_pre, n_post) array (tests, small sizes).

    Differentiable with respect to the weight parameters (plain autodiff)."""
    fn = "jitc_to_dense"
    shape, K, p, kind, coefs, seed = _setup(fn, prob, weight, seed, shape, "xla")
    return _dense(shape, kind, _draws_per_chunk(p, shape[1]), coefs, seed, K)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _dense(shape, kind, draws, coefs, seed, K):
    n_pre, n_post = shape
    dtype = jnp.result_type(*coefs)
    init = jnp.zeros((len(coefs), n_pre, n_post), dtype)
    if n_pre == 0 or n_post == 0:
        return init[0]
    block = max(1, min(n_pre, _CHUNK_ELEMENTS // draws))
    rows, n_live = _row_set(None, n_pre, block, False)

    def body(m, c):
        idx = jnp.where(c.valid, c.pos, n_post)
        bases = _bases(kind, c, dtype)
        vals = jnp.stack([jnp.broadcast_to(b, c.pos.shape) for b in bases])
        return m.at[:, c.rows[:, None], idx].set(vals, mode="drop")

    structure = _traverse(seed, K, n_post, rows, n_live, block, draws, init, body)
    structure = lax.stop_gradient(structure)
    if kind == "uniform":  # low (1 - u) + high u, evaluated as low + (high - low) u
        low, high = coefs
        return jnp.where(structure[0] != 0, low + (high - low) * structure[1], 0)
    return sum(c * s for c, s in zip(coefs, structure))
