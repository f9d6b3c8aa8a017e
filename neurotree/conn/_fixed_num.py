"""Random connections with a fixed number of inputs per post or outputs per pre neuron."""

import sys

import equinox as eqx
import numpy as np

from ._base import Builder, as_int, as_seed, check_nnz, sizes
from ._csr import CSR
from ._sample import distinct_rows

# Blocks keep each temporary well below glibc's 32 MB mmap threshold, so freed temporaries are
# reused from the heap instead of being page-faulted in afresh (costly on some VMs).
_BLOCK_SYNAPSES = 2**20  # synapses sampled per block of rows
_BLOCK_DENSE = 2**20  # bytes of the (rows, n_values) mask when drawing the complement


def _rows_per_block(n_rows: int, k: int, n_values: int) -> int:
    per_row = n_values if 2 * k > n_values - 1 else max(k, 1)
    budget = _BLOCK_DENSE if 2 * k > n_values - 1 else _BLOCK_SYNAPSES
    return max(1, min(n_rows, budget // per_row))


def _sample_rows(
    rng: np.random.Generator, n_rows: int, k: int, n_values: int, skip_self: bool, out: np.ndarray
) -> None:
    """Fill `out` (n_rows, k) with a sorted uniform k-subset of [0, n_values) per row."""
    block = _rows_per_block(n_rows, k, n_values)
    for r0 in range(0, n_rows, block):
        r1 = min(n_rows, r0 + block)
        exclude = np.arange(r0, r1) if skip_self else None
        out[r0:r1] = distinct_rows(rng, r1 - r0, k, n_values, exclude)


def _check_available(owner: str, n: int, side: str, size_name: str, size: int, skip: bool):
    available = size - skip
    if n > available:
        raise ValueError(
            f"{owner}: every {side} neuron needs {n} distinct partners but only {available} are "
            f"available ({size_name}={size}{', self-connections excluded' if skip else ''}); use "
            f"n <= {available}."
        )


class FixedPostNum(Builder):
    """Every pre neuron projects to exactly `n` distinct post neurons, chosen uniformly.

        row degrees = n,  column degrees ~ Binomial(n_pre, n / n_post)

    With `allow_self=False` and n_pre == n_post (a recurrent projection) neuron i never targets
    itself and the n targets are drawn from the other n_post - 1 neurons. `seed` fixes the
    result. Raises if n exceeds the available post neurons. Rows are sampled in blocks: time and
    memory scale with the synapses (4e6 x 4e6 with n = 80: about 7 s of CPU, peak memory the
    1.28 GB of indices plus ~0.05 GB).

    Reference: the fixed out-degree random graph of BrainPy's `FixedPostNum` (Wang et al. 2023,
    eLife 12:e86365); NEST's `fixed_outdegree` rule.
    """

    n: int = eqx.field(static=True)
    allow_self: bool = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(self, n: int | np.integer, allow_self: bool = False, seed: int | np.integer = 0):
        self.n = as_int("FixedPostNum", "n", n, 0, "a non-negative integer")
        self.allow_self = allow_self
        self.seed = as_seed("FixedPostNum", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"FixedPostNum(n={self.n})"
        n_pre, n_post = sizes(owner, n_pre, n_post)
        skip_self = not self.allow_self and n_pre == n_post
        _check_available(owner, self.n, "pre", "n_post", n_post, skip_self)
        check_nnz(owner, n_pre * self.n)
        indices = np.empty((n_pre, self.n), np.int32)
        _sample_rows(np.random.default_rng(self.seed), n_pre, self.n, n_post, skip_self, indices)
        indptr = np.arange(n_pre + 1, dtype=np.int64) * self.n
        return CSR(indptr, indices.reshape(-1), (n_pre, n_post))


class FixedPreNum(Builder):
    """Every post neuron receives exactly `n` distinct pre neurons, chosen uniformly.

        column degrees = n,  row degrees ~ Binomial(n_post, n / n_pre)

    With `allow_self=False` and n_pre == n_post (a recurrent projection) neuron j never receives
    from itself and its n sources are drawn from the other n_pre - 1 neurons. `seed` fixes the
    result. Raises if n exceeds the available pre neurons. The sources are drawn per post neuron
    and sorted into rows by one in-place sort of int64 keys; peak memory is about 8 bytes per
    synapse (4e6 x 4e6 with n = 80: about 20 s of CPU, peak 2.56 GB for 3.2e8 synapses).

    Reference: Brunel (2000), J. Comput. Neurosci. 8:183-208 (each neuron receives C randomly
    chosen inputs); NEST's `fixed_indegree` rule.
    """

    n: int = eqx.field(static=True)
    allow_self: bool = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(self, n: int | np.integer, allow_self: bool = False, seed: int | np.integer = 0):
        self.n = as_int("FixedPreNum", "n", n, 0, "a non-negative integer")
        self.allow_self = allow_self
        self.seed = as_seed("FixedPreNum", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"FixedPreNum(n={self.n})"
        n_pre, n_post = sizes(owner, n_pre, n_post)
        skip_self = not self.allow_self and n_pre == n_post
        _check_available(owner, self.n, "post", "n_pre", n_pre, skip_self)
        nnz = n_post * self.n
        check_nnz(owner, nnz)
        if nnz == 0:
            return CSR(np.zeros(n_pre + 1, np.int64), np.zeros(0, np.int32), (n_pre, n_post))
        # keys[j * n + s] = (pre << 32) | j for the s-th source pre of post neuron j
        keys = np.empty(nnz, np.int64)
        sources = keys.reshape(n_post, self.n)
        rng = np.random.default_rng(self.seed)
        block = _rows_per_block(n_post, self.n, n_pre)
        for c0 in range(0, n_post, block):
            c1 = min(n_post, c0 + block)
            exclude = np.arange(c0, c1) if skip_self else None
            pre = distinct_rows(rng, c1 - c0, self.n, n_pre, exclude)
            np.left_shift(pre, 32, out=sources[c0:c1], dtype=np.int64)
            sources[c0:c1] |= np.arange(c0, c1)[:, None]
        del sources
        keys.sort()
        # Decode in place: the int32 column of key s goes to bytes [4 s, 4 s + 4), which hold
        # keys already read, so the int64 buffer becomes the int32 indices without a copy.
        counts = np.zeros(n_pre, np.int64)
        out = keys.view(np.int32)
        words = keys.view(np.uint32).reshape(nnz, 2)  # (low, high) 32-bit halves in memory order
        low, high = (0, 1) if sys.byteorder == "little" else (1, 0)
        chunk = _BLOCK_SYNAPSES
        for s in range(0, nnz, chunk):
            rows, cols = words[s : s + chunk, high], words[s : s + chunk, low]
            counts[rows[0] : rows[-1] + 1] += np.bincount(rows - rows[0])
            out[s : s + cols.shape[0]] = cols
        del out, words, rows, cols
        keys.resize((nnz + 1) // 2, refcheck=False)  # shrinks in place
        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        return CSR(indptr, keys.view(np.int32)[:nnz], (n_pre, n_post))
