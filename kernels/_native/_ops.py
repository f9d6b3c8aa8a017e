"""The raw native kernels: `jax.ffi.ffi_call`s on 2-D batched arrays.

Every function takes x2 of shape (B, n_in) and returns y2 of shape (B, n_out) with x2's dtype
(float32 or float64); see `kernels/_native/*.cc` for the loops. They have no autodiff rules and
check their arguments only with asserts; `jax.vmap` over them runs sequentially (the batch axis
B is taken natively). Calling one builds and registers the kernels on first use and raises
`Unavailable` when that is impossible.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._build import load

_KINDS = ("scalar", "normal", "uniform")


def _call(target: str, x2, n_out: int, *args, **attrs):
    load()
    assert x2.ndim == 2 and x2.dtype in (jnp.float32, jnp.float64), (x2.shape, x2.dtype)
    out = jax.ShapeDtypeStruct((x2.shape[0], n_out), x2.dtype)
    return jax.ffi.ffi_call(target, out, vmap_method="sequential")(x2, *args, **attrs)


def csr_matvec(x2, indptr, indices, data, *, shape, transpose: bool, event: bool):
    """y2 = x2 @ M (transpose=True) or y2 = (M @ x2.T).T for the CSR matrix M (n_pre, n_post);
    `data` a scalar or (nnz,). With `event` (and transpose), only rows with x != 0 are read."""
    x2 = jnp.asarray(x2)
    n_pre, n_post = shape
    indptr, indices = jnp.asarray(indptr, jnp.int32), jnp.asarray(indices, jnp.int32)
    data = jnp.asarray(data, x2.dtype)
    assert indptr.shape == (n_pre + 1,) and indices.ndim == 1, (indptr.shape, indices.shape)
    assert data.shape in ((), indices.shape), data.shape
    assert x2.shape[-1] == (n_pre if transpose else n_post), (x2.shape, shape, transpose)
    n_out = n_post if transpose else n_pre
    return _call(
        "neurotree_csr_matvec", x2, n_out, indptr, indices, data,
        transpose=bool(transpose), event=bool(event),
    )  # fmt: skip


def dense_matvec(x2, weights, *, event: bool):
    """y2 = x2 @ weights for weights (n_pre, n_post); with `event`, zero entries of x2 are
    skipped (their rows of weights are never read)."""
    x2 = jnp.asarray(x2)
    weights = jnp.asarray(weights, x2.dtype)
    assert weights.ndim == 2 and x2.shape[-1] == weights.shape[0], (x2.shape, weights.shape)
    return _call("neurotree_dense_matvec", x2, weights.shape[1], weights, event=bool(event))


def dense_outer(x2, ct, *, event: bool):
    """g = x2^T @ ct, of shape (n_pre, n_post) for x2 (B, n_pre) and ct (B, n_post): the weight
    gradient of `dense_matvec`. With `event`, zero entries of x2 are skipped."""
    x2 = jnp.asarray(x2)
    ct = jnp.asarray(ct, x2.dtype)
    assert ct.ndim == 2 and ct.shape[0] == x2.shape[0], (x2.shape, ct.shape)
    load()
    out = jax.ShapeDtypeStruct((x2.shape[1], ct.shape[1]), x2.dtype)
    return jax.ffi.ffi_call("neurotree_dense_outer", out, vmap_method="sequential")(
        x2, ct, event=bool(event)
    )


def jitc_matvec(x2, coefs, seed, K, *, shape, transpose: bool, event: bool, kind: str):
    """y2 = x2 @ M (transpose=True) or (M @ x2.T).T for the JIT matrix of `_jitc_def` with
    seed (uint32 scalar), rate constant K (float32 scalar) and weights of `kind` ("scalar":
    coefs (w,), "normal": (mean, std), "uniform": (low, high)). With `event` and transpose,
    only the rows where some x2[b, i] != 0 are generated."""
    x2 = jnp.asarray(x2)
    n_pre, n_post = shape
    assert kind in _KINDS and len(coefs) == (1 if kind == "scalar" else 2), (kind, coefs)
    assert x2.shape[-1] == (n_pre if transpose else n_post), (x2.shape, shape, transpose)
    coefs = jnp.stack([jnp.asarray(c, x2.dtype).reshape(()) for c in coefs])
    seed = jnp.asarray(seed).astype(jnp.uint32).reshape(())
    K = jnp.asarray(K, jnp.float32).reshape(())
    n_out = n_post if transpose else n_pre
    return _call(
        "neurotree_jitc_matvec", x2, n_out, coefs, seed, K,
        transpose=bool(transpose), event=bool(event), kind=np.int32(_KINDS.index(kind)),
    )  # fmt: skip
