"""Native CPU kernels (C++17 on XLA's typed FFI), compiled with the system compiler at first use.

Raw kernels with the backend signature of `neurotree.kernels` (2-D batched x2, no autodiff):
`csr_matvec`, `dense_matvec`, `dense_outer` (the weight gradient of `dense_matvec`),
`jitc_matvec`. `available()` says whether they can be used here (a C++ compiler is found, the
build succeeds, `NEUROTREE_NATIVE` is not "0"); `why_unavailable()` names the reason otherwise.
"""

from ._build import (
    Unavailable as Unavailable,
    available as available,
    why_unavailable as why_unavailable,
)
from ._ops import (
    csr_matvec as csr_matvec,
    dense_matvec as dense_matvec,
    dense_outer as dense_outer,
    jitc_matvec as jitc_matvec,
)
