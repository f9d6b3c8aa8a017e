"""Pallas kernels (Triton on GPU) for the `neurotree.kernels` operators.

Raw kernels on 2-D batched arrays, without autodiff rules or argument checks (the dispatch
layer in `neurotree.kernels` provides both). Each takes `interpret=True` to run on CPU through
the Pallas interpreter (tests); otherwise it lowers to Triton for GPUs.

- `csr_matvec(x2, indptr, indices, data, *, shape, transpose, event, interpret)`
- `dense_matvec(x2, weights, *, event, interpret)`
- `jitc_matvec(x2, coefs, seed, K, *, shape, transpose, event, kind, interpret)`
"""

from ._csr import csr_matvec as csr_matvec
from ._dense import dense_matvec as dense_matvec
from ._jitc import jitc_matvec as jitc_matvec
