"""Event-driven dense matrix-vector product.

y = s @ W for spikes s (B, n_pre) and W (n_pre, n_post). The primitive is linear in s and in W:
its JVP is the product of the tangents, its transposes are ct @ W^T for s (a plain XLA dot: ct
is dense) and the weight gradient s^T @ ct for W, the primitive `dense_outer`, whose native
kernel skips the zeros of s as the forward product does.
"""

import functools

import jax.numpy as jnp
from jax.interpreters import ad, batching
from jaxtyping import Array, ArrayLike

from ._backends import check_backend, raw_kernel
from ._common import as_float, exact_precision, flatten_batch
from ._primitive import define


def event_matvec(spikes: ArrayLike, weights: ArrayLike, *, backend: str = "auto") -> Array:
    """y_j = sum_i s_i W_ij for spikes s of shape (..., n_pre) and W of shape (n_pre, n_post).

    Exact for any values of s (fractional releases included); an event-driven backend only skips
    the rows where s_i = 0. Leading axes of `spikes` are batch axes. The XLA reference is a
    matmul at full float precision.
    """
    check_backend("event_matvec", backend)
    weights = as_float(weights)
    spikes = as_float(spikes, like=weights)
    if weights.ndim != 2:
        raise ValueError(
            f"event_matvec: weights of shape {weights.shape}; expected a matrix (n_pre, n_post)."
        )
    if spikes.ndim == 0 or spikes.shape[-1] != weights.shape[0]:
        given = "a scalar" if spikes.ndim == 0 else f"length {spikes.shape[-1]}"
        raise ValueError(
            f"event_matvec: spikes of {given} for weights of shape {weights.shape}; expected a "
            f"last axis of n_pre={weights.shape[0]}."
        )
    dtype = jnp.result_type(spikes, weights)
    x2, lead = flatten_batch(spikes.astype(dtype))
    if 0 in x2.shape or 0 in weights.shape:
        return jnp.matmul(spikes.astype(dtype), weights.astype(dtype), precision=exact_precision())
    y2 = event_matvec_p.bind(x2, weights.astype(dtype), backend=backend)
    return y2.reshape(lead + y2.shape[-1:])


def _reference():
    return lambda x2, w: jnp.matmul(x2, w, precision=exact_precision())


def _implementation(impl: str):
    if impl == "xla":
        return _reference()
    return functools.partial(raw_kernel(impl, "dense_matvec"), event=True)


event_matvec_p = define(
    "event_matvec",
    abstract=lambda x2, w, **_: (x2.shape[0], w.shape[1]),
    implementation=_implementation,
    reference=_reference,
)

ad.defjvp(
    event_matvec_p,
    lambda g, x2, w, **params: event_matvec_p.bind(g, w, **params),
    lambda g, x2, w, **params: event_matvec_p.bind(x2, g, **params),
)


def _transpose(ct, x2, w, **params):
    if type(ct) is ad.Zero:
        return None, None
    ct_x = jnp.matmul(ct, w.T, precision=exact_precision()) if ad.is_undefined_primal(x2) else None
    ct_w = dense_outer_p.bind(x2, ct, **params) if ad.is_undefined_primal(w) else None
    return ct_x, ct_w


ad.primitive_transposes[event_matvec_p] = _transpose


def _outer_reference():
    return lambda x2, ct: jnp.matmul(x2.T, ct, precision=exact_precision())


def _outer_implementation(impl: str):
    if impl == "native":
        return functools.partial(raw_kernel(impl, "dense_outer"), event=True)
    return _outer_reference()  # on GPUs the product of two dense operands is a matmul


# g = x2^T @ ct (n_pre, n_post): the weight gradient of event_matvec, linear in x2 and in ct.
dense_outer_p = define(
    "dense_outer",
    abstract=lambda x2, ct, **_: (x2.shape[1], ct.shape[1]),
    implementation=_outer_implementation,
    reference=_outer_reference,
)

ad.defjvp(
    dense_outer_p,
    lambda g, x2, ct, **params: dense_outer_p.bind(g, ct, **params),
    lambda g, x2, ct, **params: dense_outer_p.bind(x2, g, **params),
)


def _outer_transpose(cg, x2, ct, **params):
    if type(cg) is ad.Zero:
        return None, None
    ct_x = jnp.matmul(ct, cg.T, precision=exact_precision()) if ad.is_undefined_primal(x2) else None
    ct_ct = event_matvec_p.bind(x2, cg, **params) if ad.is_undefined_primal(ct) else None
    return ct_x, ct_ct


ad.primitive_transposes[dense_outer_p] = _outer_transpose


def _outer_batch(args, dims, **params):
    # The rows of x2 and ct are summed over, so a vmapped operand cannot be folded into them:
    # the vmapped reference runs instead.
    x2, ct = (jnp.moveaxis(a, d, 0) if d is not None else a[None] for a, d in zip(args, dims))
    return jnp.einsum("vbi,vbj->vij", x2, ct, precision=exact_precision()), 0


batching.primitive_batchers[dense_outer_p] = _outer_batch
