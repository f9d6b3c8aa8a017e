"""Deterministic patterns: one-to-one and all-to-all."""

import equinox as eqx
import numpy as np

from ._base import Builder, check_nnz, sizes, square
from ._csr import CSR


class OneToOne(Builder):
    """Pre neuron i connects to post neuron i only: M = identity (n_pre == n_post required).

    Reference: BrainPy's `One2One` (Wang et al. 2023, eLife 12:e86365); NEST's `one_to_one`.
    """

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        n = square("OneToOne()", *sizes("OneToOne()", n_pre, n_post))
        return CSR(np.arange(n + 1), np.arange(n), (n, n))


class AllToAll(Builder):
    """Every pre neuron connects to every post neuron: M_ij = 1.

    With `allow_self=False` and n_pre == n_post (a recurrent projection) the diagonal i == j is
    left out. The CSR holds n_pre * n_post indices; for large dense projections prefer a dense
    communication layer.

    Reference: BrainPy's `All2All` (Wang et al. 2023, eLife 12:e86365); NEST's `all_to_all`.
    """

    allow_self: bool = eqx.field(static=True)

    def __init__(self, allow_self: bool = True):
        self.allow_self = allow_self

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"AllToAll(allow_self={self.allow_self})"
        n_pre, n_post = sizes(owner, n_pre, n_post)
        skip_self = not self.allow_self and n_pre == n_post
        n_cols = n_post - skip_self
        check_nnz(owner, n_pre * n_cols)
        cols = np.broadcast_to(np.arange(n_cols, dtype=np.int32), (n_pre, n_cols))
        if skip_self:  # row i: 0..i-1, i+1..n-1
            cols = cols + (cols >= np.arange(n_pre, dtype=np.int32)[:, None])
        indptr = np.arange(n_pre + 1, dtype=np.int64) * n_cols
        return CSR(indptr, np.ascontiguousarray(cols).reshape(-1), (n_pre, n_post))
