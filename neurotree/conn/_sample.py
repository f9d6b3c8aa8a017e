"""Exact vectorised samplers: Bernoulli processes and distinct subsets, row by row."""

import numpy as np

# At most this many successes are drawn at once by `bernoulli_positions` (bounds the int64
# cumulative sums: 2**23 gaps of at most span + 1 <= 2**38 + 1 stay below 2**62).
_MAX_DRAW = 2**23
MAX_SPAN = 2**38


def bernoulli_positions(rng: np.random.Generator, span: int, p: float) -> np.ndarray:
    """The sorted positions in [0, span) of the successes of independent Bernoulli(p) trials.

    Geometric skipping: the gaps between successes are i.i.d. Geometric(p), drawn by inversion
    as floor(E / -log(1 - p)) + 1 with E ~ Exp(1), so the work is proportional to the number of
    successes, not to `span` (Batagelj & Brandes 2005, Phys. Rev. E 71:036113).
    """
    if p == 0.0:
        return np.zeros(0, np.int64)
    rate = np.inf if p == 1.0 else -np.log1p(-p)  # p = 1: every gap is 1
    chunks = []
    last = -1  # position of the last success so far
    while True:
        mean = (span - 1 - last) * p
        m = int(min(_MAX_DRAW, mean + 6.0 * np.sqrt(mean) + 16.0))
        gap = rng.standard_exponential(m)  # E < 745 (the log of the smallest double)
        gap /= rate
        if m * (745.0 / rate + 1.0) >= 2.0**62:  # only for tiny p: keep the sums in int64
            np.minimum(gap, span, out=gap)
        gap += 1.0
        np.floor(gap, out=gap)
        pos = gap.astype(np.int64)
        np.cumsum(pos, out=pos)
        pos += last
        if pos[-1] >= span:
            chunks.append(pos[: np.searchsorted(pos, span)])
            break
        chunks.append(pos)
        last = int(pos[-1])
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def split_rows(pos: np.ndarray, width: int, n_rows: int):
    """(row, column, counts) of sorted positions `pos` in a row-major (n_rows, width) array.

    Uses binary search and `np.repeat` rather than int64 division, which NumPy does slowly.
    """
    bounds = np.searchsorted(pos, np.arange(n_rows + 1, dtype=np.int64) * width)
    counts = np.diff(bounds)
    row = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
    return row, pos - row * width, counts


def _invalid(x: np.ndarray, exclude: np.ndarray | None) -> np.ndarray:
    """Entries of row-sorted `x` that repeat their left neighbour or equal the row's `exclude`."""
    bad = np.zeros(x.shape, bool)
    np.equal(x[:, 1:], x[:, :-1], out=bad[:, 1:])
    if exclude is not None:
        bad |= x == exclude[:, None]
    return bad


def distinct_rows(
    rng: np.random.Generator, n_rows: int, k: int, n_values: int, exclude: np.ndarray | None
) -> np.ndarray:
    """Row r: a uniformly random k-subset of [0, n_values) minus {exclude[r]}, sorted; int32.

    Each row is drawn with replacement; repeats (and the excluded value) are redrawn until k
    distinct values remain. The distinct values seen in an i.i.d. uniform sequence form a
    uniform subset of their size, and the stopping rule depends on counts only, so the result is
    exactly uniform. When k exceeds half the values, the complement is drawn instead. Memory:
    n_rows * k int32, or n_rows * n_values bytes on the complement path.
    """
    available = n_values - (exclude is not None)
    if k == 0:
        return np.zeros((n_rows, 0), np.int32)
    if 2 * k > available:
        dropped = distinct_rows(rng, n_rows, available - k, n_values, exclude)
        keep = np.ones((n_rows, n_values), bool)
        keep[np.arange(n_rows)[:, None], dropped] = False
        if exclude is not None:
            keep[np.arange(n_rows), exclude] = False
        return np.nonzero(keep)[1].astype(np.int32).reshape(n_rows, k)
    x = rng.integers(0, n_values, (n_rows, k), dtype=np.int32)
    x.sort(axis=1)
    bad = _invalid(x, exclude)
    rows = np.nonzero(bad.any(axis=1))[0]
    bad = bad[rows]
    while rows.size:
        sub = x[rows]
        sub[bad] = rng.integers(0, n_values, int(bad.sum()), dtype=np.int32)
        sub.sort(axis=1)
        x[rows] = sub
        bad = _invalid(sub, None if exclude is None else exclude[rows])
        again = bad.any(axis=1)
        rows, bad = rows[again], bad[again]
    return x
