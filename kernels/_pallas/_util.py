"""Pieces shared by the Pallas kernels: Triton compiler parameters, masked loads, scatter-adds.

Every kernel works on flat (1-D) views of its arrays and computes its own offsets, so that the
same code lowers to Triton (pointer arithmetic, masked loads) and runs in interpret mode
(gathers and scatters of JAX arrays). Tensor shapes inside a kernel are powers of two (Triton
requires it); sizes that are not multiples of a block are handled with masks.
"""

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton


def compiler_params(num_warps: int = 4) -> pltriton.CompilerParams:
    return pltriton.CompilerParams(num_warps=num_warps)


def any_true(mask):
    """jnp.any for Triton, which has no boolean reduction."""
    return jnp.max(mask.astype(jnp.int32)) > 0


def load(ref, idx, mask, other=0):
    """ref[idx] where `mask`, `other` elsewhere; `idx` an offset array or a `pl.ds` slice."""
    return pltriton.load(ref.at[idx], mask=mask, other=other)


def store(ref, idx, value, mask):
    pltriton.store(ref.at[idx], value, mask=mask)


def scatter_add(ref, idx, value, mask, interpret: bool):
    """ref[idx] += value where `mask`; duplicate offsets accumulate (atomic adds on GPU).

    The interpreter's `atomic_add` rejects masks and keeps only one of several equal offsets,
    so interpret mode adds zeros at the masked lanes with an indexed add-update instead.
    """
    if interpret:
        jax.ref.addupdate(ref, (jnp.where(mask, idx, 0),), jnp.where(mask, value, 0))
    else:
        pltriton.atomic_add(ref, idx, value, mask=mask)


def call(kernel, out_size: int, dtype, grid, interpret: bool, *args, zeroed: bool = False):
    """pallas_call of `kernel` over `grid` writing one flat output of `out_size` elements.

    Every argument is passed whole (kernels index them with their own offsets). With
    `zeroed`, the output starts as zeros (for kernels that accumulate into it with atomics).
    """
    out = jax.ShapeDtypeStruct((out_size,), dtype)
    aliases = {}
    if zeroed:
        args = args + (jnp.zeros((out_size,), dtype),)
        aliases = {len(args) - 1: 0}
    return pl.pallas_call(
        kernel,
        out_shape=out,
        grid=grid,
        input_output_aliases=aliases,
        interpret=interpret,
        compiler_params=compiler_params(),
    )(*args)
