"""Just-in-time random connectivity: regenerated from a seed on every call, never stored."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, UInt

from .. import kernels
from .._core import concrete
from ._base import Comm, param, size

_NOT_STORED = (
    "{name}: JIT connectivity is regenerated from (seed, prob) on every call and never stored, "
    "so it has no per-synapse {what}. For plasticity or per-synapse access, build the same "
    "kind of matrix as an nt.conn.CSR and use nt.comm.CSR / nt.comm.EventCSR (or materialise "
    "small matrices with neurotree.kernels.jitc_to_dense)."
)


class JITConn(Comm):
    """Random connectivity generated just in time: each pair (i, j) is connected independently
    with probability `prob`, from a counter-based hash of (seed, i, draw), so memory is O(n)
    instead of O(synapses) and the connectivity is the same on every call, device and backend:

        y_j = sum_i x_i M_ij w_ij,    M_ij ~ Bernoulli(prob)

    `weight` is a scalar, `Normal(mean, std)` or `Uniform(low, high)` (per-synapse weights
    drawn from the same hash), in the unit of the synaptic variable per unit of x; trainable.
    Delivery uses the event kernel `jitc_event_matvec`, which generates only the rows of
    neurons with x_i != 0 (exact for any x). The matrix is defined in `neurotree.kernels`.

    Reference: the just-in-time connectivity operators of BrainPy; Wang et al. (2023), "BrainPy,
    a flexible, integrative, efficient, and extensible framework for general-purpose brain
    dynamics programming", eLife 12:e86365.
    """

    prob: float = eqx.field(static=True)
    seed: UInt[Array, ""]
    weight: Float[Array, ""] | kernels.Normal | kernels.Uniform

    def __init__(
        self,
        n_pre: int,
        n_post: int,
        prob: ArrayLike,
        weight: ArrayLike | kernels.Normal | kernels.Uniform,
        seed: ArrayLike,
    ):
        self.n_pre = size("JITConn", "n_pre", n_pre)
        self.n_post = size("JITConn", "n_post", n_post)
        self.prob = _prob(prob)
        self.seed = _seed(seed)
        self.weight = _jit_weight(weight)

    def __call__(
        self, x: ArrayLike, weight: ArrayLike | kernels.Normal | kernels.Uniform | None = None
    ) -> Array:
        x = self._pre(x)
        w = self.weight if weight is None else _jit_weight(weight)
        return kernels.jitc_event_matvec(
            x, prob=self.prob, weight=w, seed=self.seed, shape=(self.n_pre, self.n_post),
            transpose=True,
        )  # fmt: skip

    def plastic_weight(self) -> Array:
        raise ValueError(_NOT_STORED.format(name=self._name(), what="weights"))

    def outer(self, a_pre: ArrayLike, b_post: ArrayLike) -> Array:
        raise ValueError(_NOT_STORED.format(name=self._name(), what="weights (outer)"))

    def synapses(self):
        raise ValueError(_NOT_STORED.format(name=self._name(), what="synapse list"))


def _jit_weight(weight):
    if isinstance(weight, kernels.Normal | kernels.Uniform):
        return weight
    w = param("JITConn", "weight", weight)
    if w.shape != ():
        raise ValueError(
            f"JITConn: weight of shape {w.shape}; JIT connectivity stores no per-synapse data, "
            "so weight must be a scalar, nt.comm.Normal(mean, std) or nt.comm.Uniform(low, high)."
        )
    return w


def _prob(prob) -> float:
    p = None if isinstance(prob, bool) else concrete(prob)
    if p is None or p.shape != () or not np.issubdtype(p.dtype, np.number):
        raise ValueError(f"JITConn(prob={prob!r}): prob must be a number in [0, 1].")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"JITConn(prob={float(p)}): prob must be a probability in [0, 1].")
    return float(p)


def _seed(seed) -> Array:
    """seed mod 2**32 as a uint32 scalar (the convention of neurotree.kernels)."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return jnp.asarray(np.uint32(seed & 0xFFFFFFFF))
    arr = None if isinstance(seed, bool) else concrete(seed)
    if arr is None:  # traced
        arr = seed
    if arr.shape != () or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"JITConn(seed={seed!r}): seed must be an integer (or an int array).")
    if isinstance(arr, np.ndarray):
        return jnp.asarray(arr.astype(np.uint32))
    return arr.astype(jnp.uint32)
