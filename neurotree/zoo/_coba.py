"""The COBA benchmark: LIF neurons with exponential conductances (Vogels & Abbott 2005)."""

from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .. import neurons as _neurons, synapses as _synapses
from .._network import NetworkState
from ._ei import EIBenchmark, random_v


class COBA(EIBenchmark):
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

    summary: ClassVar[str] = (
        "Brette 2007 COBA benchmark (Vogels & Abbott 2005): 4000 LIF, 80% E, exponential "
        "conductances"
    )

    def __init__(self, scale=1.0, *, seed: int = 0, comm: str = "csr"):
        def lif(n):
            return _neurons.LIF(
                n, tau=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, tau_ref=5.0, R=1.0
            )

        exc = (0.6, _synapses.Expon(5.0), _synapses.COBA(E=0.0))
        inh = (6.7, _synapses.Expon(10.0), _synapses.COBA(E=-80.0))
        drive = {"E": jnp.asarray(20.0), "I": jnp.asarray(20.0)}
        super().__init__(scale, seed, comm, lif, exc, inh, inputs=drive)

    def _randomise(self, state: NetworkState, key: PRNGKeyArray) -> NetworkState:
        """v ~ N(-55, 5^2) mV (as the Brian2 benchmark script), conductances 0."""
        return random_v(state, key, lambda k, shape: -55.0 + 5.0 * jax.random.normal(k, shape))
