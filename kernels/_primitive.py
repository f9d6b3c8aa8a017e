"""The JAX primitive behind each operator: one name, every backend, JAX's transformations.

An operator's first operand is x of shape (B, n_in) (B batch rows); the others describe the
matrix. `define` registers the evaluation (compiled eagerly), the abstract evaluation, the
lowering (per platform, choosing the implementation of the `backend` parameter, see
`_backends.resolve`) and the batching rule: a vmapped x is folded into the B rows, so every
backend sees one call; vmapped weights over an unmapped connectivity run one call per member;
any other vmapped matrix operand runs the vmapped XLA reference. Each operator
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
    fixed: tuple[int, ...] | None = None,
) -> Primitive:
    """A primitive `neurotree_<name>` whose parameters include `backend`.

    `abstract(*avals, **params)` gives the output shape (the dtype is x's);
    `implementation(impl, **params)` gives the function of the operands that runs backend
    `impl` ("xla", "native", "pallas" or "interpret"); `reference(**params)` the XLA one;
    `fixed`: the operands that describe the connectivity (see `_batch_rule`).
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

    batching.primitive_batchers[prim] = _batch_rule(prim, reference, fixed)
    return prim


def _batch_rule(
    prim: Primitive, reference: Callable[..., Callable], fixed: tuple[int, ...] | None = None
) -> Callable:
    """`define`'s batching rule: a vmapped x is folded into the B rows (one call of any
    backend). With `fixed` (the operands that describe the connectivity, negative indices
    allowed): when those are not mapped but weight operands are (a sweep of weights over one
    connectivity), the members run one call each in a `lax.map`, each exactly the unbatched
    product. Any other mapping runs the vmapped XLA reference."""

    def batch(args, dims, *, backend, **params):
        x, *rest = args
        if all(d is None for d in dims[1:]):  # only x is mapped
            x = jax.numpy.moveaxis(x, dims[0], 0)
            v, b = x.shape[:2]
            y = prim.bind(x.reshape((v * b,) + x.shape[2:]), *rest, backend=backend, **params)
            return y.reshape((v, b) + y.shape[1:]), 0
        if fixed is not None and all(dims[i] is None for i in fixed):
            size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
            # x is looped over too, broadcast when it is not mapped.
            mapped = [i for i, d in enumerate(dims) if d is not None or i == 0]
            looped = [
                jax.numpy.broadcast_to(args[i], (size,) + args[i].shape)
                if dims[i] is None
                else jax.numpy.moveaxis(args[i], dims[i], 0)
                for i in mapped
            ]

            def member(values):
                operands = list(args)
                for i, value in zip(mapped, values):
                    operands[i] = value
                return prim.bind(*operands, backend=backend, **params)

            return jax.lax.map(member, looped), 0
        return jax.vmap(reference(**params), in_axes=tuple(dims))(*args), 0

    return batch
