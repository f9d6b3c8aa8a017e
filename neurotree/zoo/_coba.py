"""The COBA benchmark: LIF neurons with exponential conductances (Vogels & Abbott 2005).

Also holds what the three E/I benchmark networks of Brette et al. (2007) share (sizes, the four
random projections, the default key), used by `_cuba.py` and `_cobahh.py`.
"""

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from .. import comm as _comm, conn as _conn, neurons as _neurons, synapses as _synapses
from .._network import Network, NetworkState
from .._projections import AlignPost

N0 = 4000  # neurons at scale 1
P0 = 0.02  # connection probability at scale 1: 80 synapses onto each neuron
E_FRACTION = 0.8
_NAMES = ("E2E", "E2I", "I2E", "I2I")


def ei_sizes(owner: str, scale) -> tuple[int, int, float]:
    """(n_e, n_i, p): N = round(4000 scale) neurons, 80% E, p = 0.02 / scale."""
    if isinstance(scale, bool) or not isinstance(scale, int | float | np.integer | np.floating):
        raise ValueError(f"{owner}(scale={scale!r}): scale must be a positive number.")
    scale = float(scale)
    if not (math.isfinite(scale) and scale >= P0):
        raise ValueError(
            f"{owner}(scale={scale}): scale must be a number >= {P0} (N = 4000 * scale neurons "
            f"with p = {P0} / scale; below {P0} the 80 synapses per neuron would need p > 1)."
        )
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


class COBA(Network):
    """The COBA benchmark network (Brette et al. 2007, benchmark 1; Vogels & Abbott 2005).

    N = round(4000 scale) LIF neurons, 80% excitatory ("E"), 20% inhibitory ("I"), each pair
    connected with probability p = 0.02 / scale (80 synapses onto each neuron on average; no
    self-connections with `comm="csr"`), as in the Brian2 and BrainPy benchmark scripts:

        tau dv/dt = -(v - v_rest) + g_e (E_e - v) + g_i (E_i - v) + I_ext
        dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i,   g_e += w_e, g_i += w_i per spike

    tau = 20 ms, v_rest = v_reset = -60 mV, v_th = -50 mV, tau_ref = 5 ms (v held), I_ext = 20 mV
    (R = 1; the network's own `inputs`), tau_e = 5 ms, tau_i = 10 ms, E_e = 0 mV, E_i = -80 mV,
    w_e = 0.6 and w_i = 6.7 (conductances in units of the leak conductance). A spike acts on
    its targets from the next step (no further delay). `init_state`: v ~ N(-55, 5^2) mV, g = 0
    (with `key=None`, a key fixed by `seed`). `comm="jit"` regenerates the connectivity every
    step (`nt.comm.JITConn`: O(N) memory, for huge N).

    Reference: Vogels & Abbott (2005), J Neurosci 25:10786-10795; Brette et al. (2007), J Comput
    Neurosci 23:349-398.
    """

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 1000.0
    summary: ClassVar[str] = (
        "Brette 2007 COBA benchmark (Vogels & Abbott 2005): 4000 LIF, 80% E, exponential "
        "conductances"
    )
    scale: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    comm: str = eqx.field(static=True)

    def __init__(self, scale=1.0, *, seed: int = 0, comm: str = "csr"):
        n_e, n_i, p = ei_sizes("COBA", scale)
        self.scale, self.seed, self.comm = float(scale), check_seed("COBA", seed), comm

        def lif(n):
            return _neurons.LIF(
                n, tau=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, tau_ref=5.0, R=1.0
            )

        exc = (0.6, _synapses.Expon(5.0), _synapses.COBA(E=0.0))
        inh = (6.7, _synapses.Expon(10.0), _synapses.COBA(E=-80.0))
        super().__init__(
            populations={"E": lif(n_e), "I": lif(n_i)},
            projections=ei_projections("COBA", n_e, n_i, p, self.seed, comm, exc, inh),
            inputs={"E": jnp.asarray(20.0), "I": jnp.asarray(20.0)},
        )

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None, dt=None
    ) -> NetworkState:
        """v ~ N(-55, 5^2) mV (as the Brian2 benchmark script), conductances 0."""
        key = default_key(self.seed, key)
        return jit_init_state(self, tuple(batch_shape), key, None if dt is None else float(dt))

    def _init_state(self, batch_shape, key, dt) -> NetworkState:
        state = super().init_state(batch_shape, key=key, dt=dt)
        ke, ki = jax.random.split(key)
        v = {}
        for name, k in (("E", ke), ("I", ki)):
            shape = state.populations[name].v.shape
            v[name] = -55.0 + 5.0 * jax.random.normal(k, shape)
        return replace_v(state, v)
