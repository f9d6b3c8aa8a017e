"""The JAX primitive behind each operator: one name, every backend, JAX's transformations.

An operator's first operand is x of shape (B, n_in) (B batch rows); the others describe the
matrix. `define` registers the evaluation (compiled eagerly), the abstract evaluation, the
lowering (per platform, choosing the implementation of the `backend` parameter, see
`_backends.resolve`) and the batching rule: a vmapped x is folded into the B rows, so every
backend sees one call; a vmapped matrix operand runs the vmapped XLA reference. Each operator
adds its own JVP and transpose rules (all products here are linear in x and in the weights).
"""

import functools
from collections.abc import Callable

import jax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from ._backends import GPU_PLATFORMS, resolve


def define(
    name: str,
    *,
    abstract: Callable[..., tuple[int, ...]],
    implementation: Callable[..., Callable],
    reference: Callable[..., Callable],
) -> Primitive:
    """A primitive `neurotree_<name>` whose parameters include `backend`.

    `abstract(*avals, **params)` gives the output shape (the dtype is x's);
    `implementation(impl, **params)` gives the function of the operands that runs backend
    `impl` ("xla", "native", "pallas" or "interpret"); `reference(**params)` the XLA one.
    """
    prim = Primitive(f"neurotree_{name}")

    @functools.cache
    def eager(params):
        return jax.jit(functools.partial(prim.bind, **dict(params)))

    prim.def_impl(lambda *args, **params: eager(tuple(sorted(params.items())))(*args))
    prim.def_abstract_eval(
        lambda x, *rest, **params: jax.core.ShapedArray(abstract(x, *rest, **params), x.dtype)
    )

    def lowering(platform):
        def rule(ctx, *args, backend, **params):
            fn = implementation(resolve(name, backend, platform or "other"), **params)
            return mlir.lower_fun(fn, multiple_results=False)(ctx, *args)

        return rule

    mlir.register_lowering(prim, lowering(None))
    for platform in ("cpu",) + GPU_PLATFORMS:
        mlir.register_lowering(prim, lowering(platform), platform=platform)

    batching.primitive_batchers[prim] = fold_batch_rule(prim, reference)
    return prim


def fold_batch_rule(prim: Primitive, reference: Callable[..., Callable]) -> Callable:
    """`define`'s batching rule: a vmapped x is folded into the B rows (one call of any
    backend); any other mapped operand runs the vmapped XLA reference."""

    def batch(args, dims, *, backend, **params):
        x, *rest = args
        if all(d is None for d in dims[1:]):  # only x is mapped
            x = jax.numpy.moveaxis(x, dims[0], 0)
            v, b = x.shape[:2]
            y = prim.bind(x.reshape((v * b,) + x.shape[2:]), *rest, backend=backend, **params)
            return y.reshape((v, b) + y.shape[1:]), 0
        return jax.vmap(reference(**params), in_axes=tuple(dims))(*args), 0

    return batch
