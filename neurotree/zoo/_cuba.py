"""The CUBA benchmark: LIF neurons with exponential synaptic currents (Brette et al. 2007)."""

from typing import ClassVar

import jax
from jaxtyping import PRNGKeyArray

from .. import neurons as _neurons, synapses as _synapses
from .._network import NetworkState
from ._ei import EIBenchmark, random_v


class CUBA(EIBenchmark):
    """The CUBA benchmark network (Brette et al. 2007, benchmark 2; Brian2's CUBA example).

    N = round(4000 scale) LIF neurons, 80% excitatory ("E"), 20% inhibitory ("I"), each pair
    connected with probability p = 0.02 / scale (80 synapses onto each neuron on average; no
    self-connections with `comm="csr"`):

        tau dv/dt = -(v - v_rest) + g_e + g_i
        dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i,   g_e += w_e, g_i += w_i per spike

    tau = 20 ms, v_rest = -49 mV (above threshold: the network drives itself), v_th = -50 mV,
    v_reset = -60 mV, tau_ref = 5 ms (v held), tau_e = 5 ms, tau_i = 10 ms, w_e = 60 * 0.27 / 10
    = 1.62 mV and w_i = -20 * 4.5 / 10 = -9 mV (synaptic currents in mV, R = 1). A spike acts
    on its targets from the next step. `init_state`: v uniform in [v_reset, v_th], g = 0 (with
    `key=None`, a key fixed by `seed`). `comm="jit"`: `nt.comm.JITConn` (see `COBA`).

    Reference: Brette et al. (2007), J Comput Neurosci 23:349-398; Vogels & Abbott (2005),
    J Neurosci 25:10786-10795.
    """

    summary: ClassVar[str] = (
        "Brette 2007 CUBA benchmark: 4000 LIF, 80% E, exponential current synapses"
    )

    def __init__(self, scale=1.0, *, seed: int = 0, comm: str = "csr"):
        def lif(n):
            return _neurons.LIF(
                n, tau=20.0, v_rest=-49.0, v_reset=-60.0, v_th=-50.0, tau_ref=5.0, R=1.0
            )

        exc = (60 * 0.27 / 10, _synapses.Expon(5.0), _synapses.CUBA())
        inh = (-20 * 4.5 / 10, _synapses.Expon(10.0), _synapses.CUBA())
        super().__init__(scale, seed, comm, lif, exc, inh)

    def _randomise(self, state: NetworkState, key: PRNGKeyArray) -> NetworkState:
        """v uniform in [v_reset, v_th] = [-60, -50] mV (as Brian2's CUBA example), g = 0."""
        return random_v(
            state, key, lambda k, shape: jax.random.uniform(k, shape, minval=-60.0, maxval=-50.0)
        )
