"""The COBAHH benchmark: Hodgkin-Huxley-type neurons with exponential conductances."""

import dataclasses
from typing import ClassVar

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .. import channels as _channels, neurons as _neurons, synapses as _synapses
from .._network import NetworkState
from ..integrators import ExponentialRK2
from ._ei import EIBenchmark, replace_v

AREA_UM2 = 20000.0  # membrane area (um^2) of the benchmark's single compartment
NS = 1e-9 / (AREA_UM2 * 1e-8) * 1e3  # 1 nS over that area, in mS/cm^2 (= 0.005)


class COBAHH(EIBenchmark):
    """The COBAHH benchmark network (Brette et al. 2007, benchmark 3; Brian2's COBAHH example).

    N = round(4000 scale) single-compartment Traub-Miles neurons (`nt.neurons.CondNeuron`),
    80% excitatory ("E"), 20% inhibitory ("I"), each pair connected with probability
    p = 0.02 / scale (80 synapses onto each neuron on average; no self-connections with
    `comm="csr"`), per unit membrane area:

        C dv/dt = -g_L (v - E_L) - I_Na - I_K + g_e (E_e - v) + g_i (E_i - v)
        I_Na = g_Na m^3 h (v - E_Na) (`INa_TM`),   I_K = g_K n^4 (v - E_K) (`IK_TM`), V_T = -63 mV
        dg_e/dt = -g_e / tau_e,   dg_i/dt = -g_i / tau_i,   g_e += w_e, g_i += w_i per spike

    C = 1 uF/cm^2, g_L = 0.05 mS/cm^2, E_L = -60 mV, g_Na = 100 mS/cm^2, E_Na = 50 mV,
    g_K = 30 mS/cm^2, E_K = -90 mV, tau_e = 5 ms, tau_i = 10 ms, E_e = 0 mV, E_i = -80 mV,
    w_e = 6 nS and w_i = 67 nS over the 20000 um^2 compartment (0.03 and 0.335 mS/cm^2). A spike
    is an upward crossing of v_th = -20 mV and acts on its targets from the next step.
    `init_state`, as Brian2's example: v = E_L + (5 xi - 5) mV, g_e = (1.5 xi + 4) 10 nS,
    g_i = (12 xi + 20) 10 nS (xi ~ N(0, 1), independent; g_i may start negative, as there) and
    the gates m, h, n at 0 (Brian2's default for variables it is not given); with `key=None`, a
    key fixed by `seed`. `comm="jit"`: `nt.comm.JITConn` (see `COBA`).
    At dt = 0.1 ms CondNeuron's default `ExponentialRK2` is stable and its rates are within
    ~5-8% of converged ones (Brian2's rk4 at dt = 0.025 and 0.01 ms on the same network and
    initial state); Brian2's example, first-order exponential Euler at dt = 0.1 ms, fires ~20%
    less (benchmarks/README.md), and so does this model with the same method,
    `solver=nt.integrators.ExponentialEuler()` (E 36.4, I 37.0 Hz against Brian2's 36.1, 35.8 Hz
    at scale 1, 1 s). `solver`: any solver `nt.neurons.CondNeuron` accepts.

    Reference: Brette et al. (2007), J Comput Neurosci 23:349-398 (benchmark 3); Traub & Miles
    (1991), Neuronal Networks of the Hippocampus, Cambridge University Press.
    """

    summary: ClassVar[str] = (
        "Brette 2007 COBAHH benchmark: 4000 Traub-Miles HH neurons, 80% E, exponential conductances"
    )

    def __init__(
        self,
        scale=1.0,
        *,
        seed: int = 0,
        comm: str = "csr",
        solver: diffrax.AbstractSolver = ExponentialRK2(),
    ):
        def hh(n):
            channels = {
                "Na": _channels.INa_TM(g_max=100.0, E=50.0, V_T=-63.0),
                "K": _channels.IK_TM(g_max=30.0, E=-90.0, V_T=-63.0),
                "L": _channels.ILeak(g_max=0.05, E=-60.0),
            }
            return _neurons.CondNeuron(n, channels, C=1.0, v_th=-20.0, v_init=-60.0, solver=solver)

        exc = (6.0 * NS, _synapses.Expon(5.0), _synapses.COBA(E=0.0))
        inh = (67.0 * NS, _synapses.Expon(10.0), _synapses.COBA(E=-80.0))
        super().__init__(scale, seed, comm, hh, exc, inh)

    def _randomise(self, state: NetworkState, key: PRNGKeyArray) -> NetworkState:
        """Random v, g_e and g_i as drawn by Brian2's COBAHH example; gates at 0."""
        keys = jax.random.split(key, 6)
        v = {}
        projs = dict(state.projections)
        for i, name in enumerate(("E", "I")):
            pop = state.populations[name]
            v[name] = -65.0 + 5.0 * jax.random.normal(keys[3 * i], pop.v.shape)
            for k, (proj, mean, std) in enumerate(
                ((f"E2{name}", 40.0, 15.0), (f"I2{name}", 200.0, 120.0)), start=1
            ):
                g = (mean + std * jax.random.normal(keys[3 * i + k], pop.v.shape)) * NS
                syn = projs[proj].syn
                projs[proj] = dataclasses.replace(
                    projs[proj], syn=dataclasses.replace(syn, g=g.astype(syn.g.dtype))
                )
        state = replace_v(dataclasses.replace(state, projections=projs), v)
        pops = dict(state.populations)
        for name in ("E", "I"):
            gates = jax.tree.map(jnp.zeros_like, pops[name].channels)
            pops[name] = dataclasses.replace(pops[name], channels=gates)
        return dataclasses.replace(state, populations=pops)
