"""Event-driven sparse operators, shipped as `neurotree.kernels`.

Each operator has an XLA reference implementation, a native CPU kernel through `jax.ffi` where
speed needs it, and a Pallas kernel (Triton on GPU), with custom gradients. The operators land
with the kernels issue; this package exists so that `neurotree.kernels` resolves identically from
a wheel, an editable install and a source checkout.
"""
