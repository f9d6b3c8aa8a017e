"""Independent random connections with a fixed probability (Erdos-Renyi / Gilbert)."""

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike

from ._base import MAX_NNZ, Builder, as_float, as_seed, check_nnz, sizes
from ._csr import CSR
from ._sample import MAX_SPAN, bernoulli_positions

# Blocks keep each temporary well below glibc's 32 MB mmap threshold, so freed temporaries are
# reused from the heap instead of being page-faulted in afresh (costly on some VMs).
_BLOCK_SYNAPSES = 2**20  # expected synapses per block of rows


class FixedProb(Builder):
    """Each pair (i, j) is connected independently with probability `p` (exact Bernoulli).

        P(M_ij = 1) = p,  row degrees ~ Binomial(n_post, p),  column degrees ~ Binomial(n_pre, p)

    With `allow_self=False` and n_pre == n_post (a recurrent projection of a population onto
    itself) the diagonal i == j is excluded, so degrees are Binomial(n - 1, p); for
    n_pre != n_post (two populations) `allow_self` has no effect.

    Built in blocks of rows by geometric skipping over the row-major index space, so time and
    memory scale with the number of synapses, not with n_pre * n_post (4e6 x 4e6 with
    p = 2e-5, 3.2e8 synapses: about 10 s of CPU, peak memory the 1.28 GB of indices plus
    ~0.1 GB). `seed` fixes the result.

    Reference: Gilbert (1959), Ann. Math. Statist. 30:1141-1144; Erdos & Renyi (1959), Publ.
    Math. Debrecen 6:290-297; Batagelj & Brandes (2005), Phys. Rev. E 71:036113 (sampling).
    """

    p: float = eqx.field(static=True)
    allow_self: bool = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(self, p: ArrayLike, allow_self: bool = False, seed: int | np.integer = 0):
        self.p = as_float(
            "FixedProb", "p", p, lambda v: (v >= 0) & (v <= 1), "a probability in [0, 1]"
        )
        self.allow_self = allow_self
        self.seed = as_seed("FixedProb", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"FixedProb(p={self.p})"
        n_pre, n_post = sizes(owner, n_pre, n_post)
        skip_self = not self.allow_self and n_pre == n_post
        n_cols = n_post - skip_self  # candidate columns per row
        rng = np.random.default_rng(self.seed)
        p = self.p
        counts = np.zeros(n_pre, np.int64)
        if n_cols == 0 or p == 0.0:
            return CSR(np.zeros(n_pre + 1, np.int64), np.zeros(0, np.int32), (n_pre, n_post))
        mean = n_pre * n_cols * p
        check_nnz(owner, int(mean - 10 * np.sqrt(mean)) if mean > 100 else 0)
        capacity = int(min(n_pre * n_cols, MAX_NNZ, mean + 8 * np.sqrt(mean) + 1024))
        indices = np.empty(capacity, np.int32)
        nnz = 0
        block = max(1, min(n_pre, int(_BLOCK_SYNAPSES / max(1.0, n_cols * p)), MAX_SPAN // n_cols))
        for r0 in range(0, n_pre, block):
            r1 = min(n_pre, r0 + block)
            pos = bernoulli_positions(rng, (r1 - r0) * n_cols, p)
            # Split the positions into rows: column = position + offset, the offset constant on
            # each segment of a row (before and after the skipped diagonal).
            base = np.arange(r1 - r0, dtype=np.int64) * n_cols
            if skip_self:
                starts = np.stack([base, base + np.arange(r0, r1)], axis=1).reshape(-1)
                offsets = np.stack([-base, 1 - base], axis=1).reshape(-1)
            else:
                starts, offsets = base, -base
            bounds = np.searchsorted(pos, np.append(starts, (r1 - r0) * n_cols))
            segments = np.diff(bounds)
            counts[r0:r1] = segments.reshape(r1 - r0, -1).sum(axis=1)
            end = nnz + pos.shape[0]
            check_nnz(owner, end)
            if end > capacity:  # beyond 8 standard deviations: grow
                capacity = min(MAX_NNZ, max(end, capacity + capacity // 8))
                indices.resize(capacity, refcheck=False)
            np.add(pos, np.repeat(offsets, segments), out=indices[nnz:end], casting="unsafe")
            nnz = end
        indices.resize(nnz, refcheck=False)  # shrinks in place
        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        return CSR(indptr, indices, (n_pre, n_post))
