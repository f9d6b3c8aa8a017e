"""Connectivity builders: callables `builder(n_pre, n_post) -> CSR`, seeded explicitly.

M has shape (n_pre, n_post): row i lists the post neurons of pre neuron i, sorted.
"""

from ._base import Builder as Builder
from ._csr import CSR as CSR
from ._fixed_num import FixedPostNum as FixedPostNum, FixedPreNum as FixedPreNum
from ._fixed_prob import FixedProb as FixedProb
from ._gaussian import GaussianProb as GaussianProb
from ._scale_free import ScaleFree as ScaleFree
from ._simple import AllToAll as AllToAll, OneToOne as OneToOne
from ._small_world import SmallWorld as SmallWorld
