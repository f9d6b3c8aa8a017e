"""What the three E/I benchmark networks of Brette et al. (2007) share: sizes, the four random
projections, and a random initial state built from the model's seed."""

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from .. import comm as _comm, conn as _conn
from .._core import DynamicalSystem
from .._network import Network, NetworkState
from .._projections import AlignPost

N0 = 4000  # neurons at scale 1
P0 = 0.02  # connection probability at scale 1: 80 synapses onto each neuron
E_FRACTION = 0.8
_NAMES = ("E2E", "E2I", "I2E", "I2I")


def check_scale(owner: str, scale, n0: int, p0: float, inputs: str) -> float:
    """`scale` as a float >= p0 (n0 scale neurons with p = p0 / scale, which must not exceed 1)."""
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating):
        raise ValueError(f"{owner}(scale={scale!r}): scale must be a number >= {p0}.")
    scale = float(scale)
    if not (math.isfinite(scale) and scale >= p0):
        raise ValueError(
            f"{owner}(scale={scale}): scale must be a number >= {p0} ({n0} * scale neurons with "
            f"p = {p0} / scale; below {p0} the {inputs} per neuron would need p > 1)."
        )
    return scale


def ei_sizes(owner: str, scale) -> tuple[int, int, float]:
    """(n_e, n_i, p): N = round(4000 scale) neurons, 80% E, p = 0.02 / scale."""
    scale = check_scale(owner, scale, N0, P0, "80 synapses")
    n = round(N0 * scale)
    n_e = round(E_FRACTION * n)
    return n_e, n - n_e, P0 / scale


def ei_projections(
    owner: str, n_e: int, n_i: int, p: float, seed: int, comm: str, exc: tuple, inh: tuple
) -> dict[str, AlignPost]:
    """E2E, E2I, I2E, I2I: independent random connections with probability p.

    `exc` and `inh` are (weight, synapse, output) of the excitatory and inhibitory projections.
    `comm="csr"`: stored synapses (`EventCSR` over `FixedProb`, no self-connections);
    `comm="jit"`: `JITConn`, regenerated every step (every pair drawn, self-connections too).
    """
    if comm not in ("csr", "jit"):
        raise ValueError(
            f"{owner}(comm={comm!r}): comm must be 'csr' (stored synapses, nt.comm.EventCSR) or "
            "'jit' (just-in-time connectivity, nt.comm.JITConn, for very large networks)."
        )
    sizes = {"E": n_e, "I": n_i}
    projections = {}
    for k, name in enumerate(_NAMES):
        pre, post = name[0], name[2]
        weight, syn, out = exc if pre == "E" else inh
        sub = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        if comm == "csr":
            conn = _conn.FixedProb(p, seed=sub)(sizes[pre], sizes[post])
            layer = _comm.EventCSR(conn, weight)
        else:
            layer = _comm.JITConn(sizes[pre], sizes[post], p, weight, seed=sub)
        projections[name] = AlignPost(pre, post, layer, syn, out)
    return projections


def check_seed(owner: str, seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{owner}(seed={seed!r}): seed must be a non-negative integer.")
    return int(seed)


def default_key(seed: int, key: PRNGKeyArray | None) -> PRNGKeyArray:
    """`key`, or a fixed key derived from the model's seed (so runs are reproducible)."""
    return jax.random.fold_in(jax.random.key(seed), 0x5EED) if key is None else key


@eqx.filter_jit
def jit_init_state(model, batch_shape: tuple[int, ...], key: PRNGKeyArray, dt) -> NetworkState:
    """`model._init_state(...)` compiled as one program (eagerly, each small array operation of
    building the state would be compiled on its own)."""
    return model._init_state(batch_shape, key, dt)


def replace_v(state: NetworkState, v: dict) -> NetworkState:
    """`state` with the membrane potential of each population named in `v` replaced."""
    pops = dict(state.populations)
    for name, value in v.items():
        pops[name] = dataclasses.replace(pops[name], v=value.astype(pops[name].v.dtype))
    return dataclasses.replace(state, populations=pops)


def random_v(state: NetworkState, key: PRNGKeyArray, draw) -> NetworkState:
    """`state` with v of "E" and "I" drawn by `draw(key, shape)`, independent keys."""
    keys = dict(zip(("E", "I"), jax.random.split(key)))
    return replace_v(state, {n: draw(k, state.populations[n].v.shape) for n, k in keys.items()})


class EIBenchmark(Network):
    """An E/I benchmark network: populations "E" (80%) and "I" of `neuron(n)`, joined by the four
    random projections of `ei_projections`; `init_state` draws the initial state that
    `_randomise` describes (from `seed` when no key is given)."""

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 1000.0
    scale: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    comm: str = eqx.field(static=True)

    def __init__(
        self,
        scale,
        seed,
        comm: str,
        neuron: Callable[[int], DynamicalSystem],
        exc: tuple,
        inh: tuple,
        inputs=None,
    ):
        owner = type(self).__name__
        n_e, n_i, p = ei_sizes(owner, scale)
        self.scale, self.seed, self.comm = float(scale), check_seed(owner, seed), comm
        super().__init__(
            populations={"E": neuron(n_e), "I": neuron(n_i)},
            projections=ei_projections(owner, n_e, n_i, p, self.seed, comm, exc, inh),
            inputs=inputs,
        )

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None, dt=None
    ) -> NetworkState:
        """The random initial state of the class's description (from `seed` if `key` is None)."""
        key = default_key(self.seed, key)
        return jit_init_state(self, tuple(batch_shape), key, None if dt is None else float(dt))

    def _init_state(self, batch_shape, key, dt) -> NetworkState:
        return self._randomise(super().init_state(batch_shape, key=key, dt=dt), key)

    @abc.abstractmethod
    def _randomise(self, state: NetworkState, key: PRNGKeyArray) -> NetworkState:
        """`state` (at rest) with the benchmark's random initial values drawn from `key`."""
