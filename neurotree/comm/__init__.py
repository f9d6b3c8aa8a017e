"""Communication layers: how pre activity x (..., n_pre) becomes post input y (..., n_post).

Every layer subclasses `Comm` and computes y_j = sum_i x_i w_ij over its synapses, through the
operators of `neurotree.kernels`.
"""

from ..kernels import Normal as Normal, Uniform as Uniform
from ._all_to_all import AllToAll as AllToAll
from ._base import Comm as Comm
from ._block import BlockAllToAll as BlockAllToAll
from ._csr import CSR as CSR, EventCSR as EventCSR
from ._dense import Dense as Dense, EventDense as EventDense
from ._jit import JITConn as JITConn
from ._one_to_one import OneToOne as OneToOne
