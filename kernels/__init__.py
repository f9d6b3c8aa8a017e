"""Event-driven sparse operators, shipped as `neurotree.kernels`.

Each operator is one JAX primitive with JVP, transpose and batching rules, and several
implementations chosen by `backend=` (see `_backends.py`): the XLA reference ("xla", the
definition and the fallback), a native C++ kernel on XLA's typed FFI compiled at first use
("native", CPU), a Pallas kernel lowered through Triton ("pallas", GPU) or run by the Pallas
interpreter ("interpret", tests); "auto" picks per platform. This package exists under this
name so that `neurotree.kernels` resolves identically from a wheel, an editable install and a
source checkout.

Orientation: a connectivity matrix M has shape `(n_pre, n_post)` (rows are pre neurons).
`transpose=True` is pre -> post delivery, y = x @ M with x of shape (..., n_pre);
`transpose=False` is y = M @ x with x of shape (..., n_post). Leading axes are batch axes.
The `event_*` operators compute exactly the same values as their plain counterparts (any input,
fractional spikes included) and only skip zero entries where that is faster.

- `event_matvec(spikes, weights)`: dense, spikes (..., n_pre) @ weights (n_pre, n_post).
- `csr_matvec`, `event_csr_matvec(x, indptr, indices, data, *, shape, transpose)`: CSR matrix,
  `data` a scalar or one value per synapse (nnz,).
- `jitc_matvec`, `jitc_event_matvec(x, *, prob, weight, seed, shape, transpose)`: just-in-time
  random connectivity, regenerated from (seed, prob, shape) and never stored, with weights a
  scalar, `Normal(mean, std)` or `Uniform(low, high)`; `jitc_to_dense` materialises it. The
  definition (reproduced bit for bit by every backend) is in `kernels/_jitc_def.py`.
"""

from ._csr import csr_matvec as csr_matvec, event_csr_matvec as event_csr_matvec
from ._dense import event_matvec as event_matvec
from ._jitc import (
    jitc_event_matvec as jitc_event_matvec,
    jitc_matvec as jitc_matvec,
    jitc_to_dense as jitc_to_dense,
)
from ._jitc_def import Normal as Normal, Uniform as Uniform
