"""The builder protocol and the argument checks every builder shares."""

import abc

import equinox as eqx
import numpy as np

from .._core import check
from ._csr import CSR
from ._sample import split_rows

MAX_NNZ = 2**31 - 1  # CSR indexes synapses with int32


class Builder(eqx.Module):
    """A connectivity builder: `builder(n_pre, n_post) -> CSR`.

    Builders hold only static configuration (probabilities, counts, a `seed`); the same builder
    called with the same sizes returns the same CSR. All work runs in NumPy on the host.
    """

    @abc.abstractmethod
    def __call__(self, n_pre: int | np.integer, n_post: int | np.integer) -> CSR:
        """The connectivity of `n_pre` pre neurons (rows) onto `n_post` post neurons."""


def as_int(owner: str, name: str, value, minimum: int, expected: str) -> int:
    """`value` as a Python int >= `minimum`, or raise `ValueError` naming `owner`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}({name}={value!r}): {name} must be {expected}.")
    return int(value)


def as_float(owner: str, name: str, value, ok, expected: str) -> float:
    """`value` as a Python float passing `ok`, or raise `ValueError` naming `owner`."""
    arr = np.asarray(value) if not isinstance(value, bool) else None
    if arr is None or arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{owner}({name}={value!r}): {name} must be {expected}.")
    if np.iscomplexobj(arr):
        raise ValueError(f"{owner}({name}={value!r}): {name} must be {expected}.")
    x = float(arr.reshape(()))
    check(owner, name, x, lambda v: np.isfinite(v) & ok(v), expected)
    return x


def as_seed(owner: str, seed) -> int:
    return as_int(owner, "seed", seed, 0, "a non-negative integer")


def sizes(owner: str, n_pre, n_post) -> tuple[int, int]:
    """The population sizes `(n_pre, n_post)` as positive Python ints."""
    n_pre = as_int(owner, "n_pre", n_pre, 1, "a positive integer")
    n_post = as_int(owner, "n_post", n_post, 1, "a positive integer")
    return n_pre, n_post


def square(owner: str, n_pre: int, n_post: int) -> int:
    """The size of a recurrent (n_pre == n_post) projection, or raise."""
    if n_pre != n_post:
        raise ValueError(
            f"{owner}: needs n_pre == n_post (one population onto itself); got n_pre={n_pre}, "
            f"n_post={n_post}."
        )
    return n_pre


def check_nnz(owner: str, nnz: int) -> None:
    if nnz > MAX_NNZ:
        raise ValueError(
            f"{owner}: {nnz} synapses exceed int32 indexing (at most {MAX_NNZ}); split the "
            "projection or lower the connection density."
        )


def from_sorted_keys(owner: str, keys: np.ndarray, n_pre: int, n_post: int) -> CSR:
    """The CSR of distinct synapses given as sorted int64 keys `pre * n_post + post`."""
    check_nnz(owner, keys.shape[0])
    _, cols, counts = split_rows(keys, n_post, n_pre)
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return CSR(indptr, cols.astype(np.int32), (n_pre, n_post))


def from_edges(owner: str, pre: np.ndarray, post: np.ndarray, n_pre: int, n_post: int) -> CSR:
    """The CSR of distinct synapses `(pre[s], post[s])` given in any order."""
    keys = pre.astype(np.int64) * n_post + post
    keys.sort()
    return from_sorted_keys(owner, keys, n_pre, n_post)
