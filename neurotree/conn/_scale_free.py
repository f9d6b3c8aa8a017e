"""Barabasi-Albert scale-free graph by preferential attachment."""

import equinox as eqx
import numpy as np

from ._base import Builder, as_int, as_seed, from_edges, sizes, square
from ._csr import CSR

_POOL = 2**16  # uniform numbers drawn at a time for the sequential growth


class ScaleFree(Builder):
    """Barabasi-Albert preferential-attachment network (undirected; stored as both directions).

    Nodes 0..m-1 start unlinked; node m links to all of them; every later node s links to m
    distinct earlier nodes, each chosen with probability proportional to its degree
    (P(i) = k_i / sum_l k_l, sampled from the list of edge endpoints). The graph has
    m (n - m) edges, so the mean degree is 2 m (n - m) / n, close to 2m, and the degree
    distribution has a power-law tail P(k) ~ 2 m^2 / k^3. Needs n_pre == n_post = n > m >= 1.
    The growth is sequential (a Python loop over nodes).

    Reference: Barabasi & Albert (1999), Science 286:509-512.
    """

    m: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(self, m: int | np.integer, seed: int | np.integer = 0):
        self.m = as_int("ScaleFree", "m", m, 1, "a positive integer")
        self.seed = as_seed("ScaleFree", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"ScaleFree(m={self.m})"
        n = square(owner, *sizes(owner, n_pre, n_post))
        m = self.m
        if m >= n:
            raise ValueError(f"{owner}: m must be smaller than the number of nodes n={n}.")
        rng = np.random.default_rng(self.seed)
        pool, at = rng.random(_POOL).tolist(), 0
        targets = list(range(m))
        ends: list[int] = []  # every edge's two endpoints: node i appears k_i times
        dst: list[int] = []
        for s in range(m, n):
            dst.extend(targets)
            ends.extend(targets)
            ends.extend([s] * m)
            if s == n - 1:
                break
            chosen: set[int] = set()
            size = len(ends)
            while len(chosen) < m:
                if at == _POOL:
                    pool, at = rng.random(_POOL).tolist(), 0
                chosen.add(ends[int(pool[at] * size)])
                at += 1
            targets = sorted(chosen)
        src = np.repeat(np.arange(m, n, dtype=np.int64), m)
        dst = np.asarray(dst, np.int64)
        return from_edges(owner, np.concatenate([src, dst]), np.concatenate([dst, src]), n, n)
