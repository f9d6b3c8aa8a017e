"""Distance-dependent random connections on a grid with a Gaussian profile."""

import itertools

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike

from .._core import as_shape
from ._base import Builder, as_float, as_seed, check_nnz, sizes
from ._csr import CSR
from ._sample import bernoulli_positions, split_rows

_BLOCK_CANDIDATES = 2**20  # expected candidate synapses per block of rows
_LEVELS = 24  # probabilities below 2**-24 share one group
# exp(-x) underflows to exactly 0.0 in float64 beyond x = 745.2: offsets farther than
# sigma * sqrt(2 * 746) on any axis have probability 0 and are never drawn.
_CUTOFF = np.sqrt(2 * 746.0)


def _axis_offsets(length: int, reach: int, periodic: bool) -> np.ndarray:
    """Offsets along one axis that can have non-zero probability, each target once."""
    if periodic:  # the `length` residues, each at its wrapped distance
        lo, hi = -((length - 1) // 2), length // 2
    else:
        lo, hi = -(length - 1), length - 1
    return np.arange(max(lo, -reach), min(hi, reach) + 1)


class GaussianProb(Builder):
    """Neurons on a grid connect with a probability that falls off as a Gaussian of distance.

        P(M_ij = 1) = exp(-d_ij^2 / (2 sigma^2)),   d_ij = |x_i - x_j| (Euclidean)

    Pre and post neurons both sit on the grid `shape` ((n,) or (h, w); more axes work too), in
    row-major (C) order, so n_pre = n_post = prod(shape); positions and `sigma` are in grid
    units. With `periodic=True` each axis wraps (a ring or a torus): the distance along an axis
    of length L is min(|dx|, L - |dx|). `allow_self=False` excludes i == j. Each pair is an
    independent Bernoulli draw, sampled by geometric skipping over the grid offsets grouped by
    probability (thinning within each group), so the work scales with the number of synapses.

    Reference: BrainPy's `GaussianProb` (Wang et al. 2023, eLife 12:e86365); distance-dependent
    Gaussian connectivity as in Mehring et al. (2003), Biol. Cybern. 88:395-408.
    """

    sigma: float = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    periodic: bool = eqx.field(static=True)
    allow_self: bool = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(
        self,
        sigma: ArrayLike,
        shape: int | tuple[int, ...],
        periodic: bool = False,
        allow_self: bool = False,
        seed: int | np.integer = 0,
    ):
        self.sigma = as_float(
            "GaussianProb", "sigma", sigma, lambda v: v > 0, "a positive width in grid units"
        )
        try:
            self.shape = as_shape("GaussianProb", shape)
        except ValueError:
            raise ValueError(
                f"GaussianProb(shape={shape!r}): shape must be a positive integer or a tuple of "
                "positive integers, e.g. (n,) or (h, w)."
            ) from None
        self.periodic = periodic
        self.allow_self = allow_self
        self.seed = as_seed("GaussianProb", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"GaussianProb(sigma={self.sigma}, shape={self.shape})"
        n_pre, n_post = sizes(owner, n_pre, n_post)
        n = int(np.prod(self.shape))
        if n_pre != n or n_post != n:
            raise ValueError(
                f"{owner}: pre and post neurons lie on the grid, so n_pre and n_post must both "
                f"equal prod(shape) = {n}; got n_pre={n_pre}, n_post={n_post}."
            )
        reach = int(np.ceil(self.sigma * _CUTOFF))
        axes = [_axis_offsets(length, reach, self.periodic) for length in self.shape]
        offsets = np.array(list(itertools.product(*axes)), np.int64).reshape(-1, len(self.shape))
        prob = np.exp(-np.sum(offsets.astype(float) ** 2, axis=1) / (2 * self.sigma**2))
        keep = prob > 0
        if not self.allow_self:
            keep &= np.any(offsets != 0, axis=1)
        order = np.argsort(-prob[keep], kind="stable")
        offsets, prob = offsets[keep][order], prob[keep][order]
        # Offsets grouped by probability, within a factor 2 per group (the rest in one group):
        # candidates are drawn at the group's top probability and kept with prob / top.
        level = np.minimum(np.floor(-np.log2(prob)), _LEVELS).astype(np.int64)
        starts = np.flatnonzero(np.diff(level, prepend=-1))
        ends = [*starts[1:], len(prob)]
        groups = [(int(a), int(b), float(prob[a])) for a, b in zip(starts, ends)]
        per_row = sum((b - a) * top for a, b, top in groups)
        strides = [int(np.prod(self.shape[a + 1 :])) for a in range(len(self.shape))]
        coords = np.unravel_index(np.arange(n), self.shape)  # grid position of each neuron
        steps = offsets.T.copy()  # (ndim, n_offsets)

        rng = np.random.default_rng(self.seed)
        counts = np.zeros(n, np.int64)
        chunks = []
        block = max(1, min(n, int(_BLOCK_CANDIDATES / max(per_row, 1.0))))
        for r0 in range(0, n, block):
            r1 = min(n, r0 + block)
            keys = []  # (pre - r0) * n + post of this block's synapses
            for a, b, top in groups:
                pos = bernoulli_positions(rng, (r1 - r0) * (b - a), top)
                row, o, _ = split_rows(pos, b - a, r1 - r0)
                o += a
                accept = rng.random(pos.shape[0]) * top < prob[o]
                row, o = row[accept], o[accept]
                post = np.zeros(row.shape[0], np.int64)
                inside = np.ones(row.shape[0], bool)
                for axis, length in enumerate(self.shape):
                    t = coords[axis][row + r0] + steps[axis][o]
                    if self.periodic:  # steps lie within (-length, length)
                        t += length * (t < 0)
                        t -= length * (t >= length)
                    else:
                        inside &= (t >= 0) & (t < length)
                    post += t * strides[axis]
                keys.append((row * n + post)[inside])
            keys = np.concatenate(keys)
            keys.sort()
            _, cols, counts[r0:r1] = split_rows(keys, n, r1 - r0)
            chunks.append(cols.astype(np.int32))
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        check_nnz(owner, int(indptr[-1]))
        return CSR(indptr, np.concatenate(chunks), (n, n))
