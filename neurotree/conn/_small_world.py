"""Watts-Strogatz small-world graph: a ring lattice with randomly rewired edges."""

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike

from ._base import Builder, as_float, as_int, as_seed, from_edges, sizes, square
from ._csr import CSR

_POOL = 2**16  # random targets drawn at a time for the sequential rewiring


class SmallWorld(Builder):
    """Watts-Strogatz small-world network (undirected; stored as both directions).

    Start from a ring of n nodes, each linked to its k nearest neighbours (k/2 on each side).
    Then, lap by lap (neighbour distance 1, ..., k/2) and node by node, the edge (u, u + j) is
    rewired with probability `p_rewire` to (u, w), w uniform among the nodes that are neither u
    nor already linked to u (no self-loops, no duplicate edges). The number of edges, n k / 2,
    is conserved. p_rewire = 0 gives the ring lattice with clustering coefficient
    3 (k - 2) / (4 (k - 1)); p_rewire = 1 a random graph. Needs n_pre == n_post = n and an even
    k with 0 < k < n. The rewiring is sequential (a Python loop over the rewired edges only).

    Reference: Watts & Strogatz (1998), Nature 393:440-442; the lattice clustering: Barrat &
    Weigt (2000), Eur. Phys. J. B 13:547-560.
    """

    k: int = eqx.field(static=True)
    p_rewire: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    def __init__(self, k: int | np.integer, p_rewire: ArrayLike, seed: int | np.integer = 0):
        self.k = as_int("SmallWorld", "k", k, 2, "a positive even integer")
        if self.k % 2:
            raise ValueError(
                f"SmallWorld(k={k}): k must be a positive even integer (k/2 neighbours per side)."
            )
        self.p_rewire = as_float(
            "SmallWorld", "p_rewire", p_rewire, lambda v: (v >= 0) & (v <= 1),
            "a probability in [0, 1]",
        )  # fmt: skip
        self.seed = as_seed("SmallWorld", seed)

    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        owner = f"SmallWorld(k={self.k}, p_rewire={self.p_rewire})"
        n = square(owner, *sizes(owner, n_pre, n_post))
        if self.k >= n:
            raise ValueError(f"{owner}: k must be smaller than the number of nodes n={n}.")
        half = self.k // 2
        rng = np.random.default_rng(self.seed)
        rewire = rng.random((half, n)) < self.p_rewire  # lap j + 1, node u
        removed = np.zeros((half, n), bool)
        added_u, added_w = [], []
        if rewire.any():
            removed_keys, added_keys = set(), set()  # edge (a < b) as a * n + b
            degree = [self.k] * n
            pool, at = rng.integers(0, n, _POOL).tolist(), 0
            laps, nodes = (a.tolist() for a in np.nonzero(rewire))
            done = []
            for i, (j, u) in enumerate(zip(laps, nodes)):
                if degree[u] >= n - 1:  # linked to every other node: nowhere to go
                    continue
                while True:  # draw w until it is neither u nor linked to u
                    if at == _POOL:
                        pool, at = rng.integers(0, n, _POOL).tolist(), 0
                    w = pool[at]
                    at += 1
                    if w == u:
                        continue
                    key = u * n + w if u < w else w * n + u
                    if key in added_keys:
                        continue
                    d = w - u if w > u else u - w
                    if (d <= half or n - d <= half) and key not in removed_keys:
                        continue  # a ring edge still in place
                    break
                v = u + j + 1 - n if u + j + 1 >= n else u + j + 1
                removed_keys.add(u * n + v if u < v else v * n + u)
                added_keys.add(key)
                done.append(i)
                added_u.append(u)
                added_w.append(w)
                degree[v] -= 1
                degree[w] += 1
            removed[tuple(a[done] for a in np.nonzero(rewire))] = True
        lap, node = np.nonzero(~removed)
        a = np.concatenate([node, np.asarray(added_u, np.int64)])
        b = np.concatenate([(node + lap + 1) % n, np.asarray(added_w, np.int64)])
        return from_edges(owner, np.concatenate([a, b]), np.concatenate([b, a]), n, n)
