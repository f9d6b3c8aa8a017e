"""The ventral visual stream as a hierarchy of nested E/I networks (BrainPy, Wang et al. 2023)."""

from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike

from .. import (
    channels as _channels,
    comm as _comm,
    conn as _conn,
    neurons as _neurons,
    synapses as _synapses,
)
from .._network import Network
from .._projections import AlignPost
from ._ei import check_scale, check_seed

AREAS = ("V1", "V2", "V4", "TEO", "TEpd")
N0 = 4000  # neurons per area at scale 1 (3200 E, 800 I)
E_FRACTION = 0.8
P0 = 0.02  # connection probability at scale 1 (80 inputs per neuron within an area)
G_E, G_I = 0.03, 0.335  # mS/cm^2, per excitatory / inhibitory synapse


def _seed(seed: int, *path: int) -> int:
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def _channels_tm(E_L: float) -> dict:
    return {
        "Na": _channels.INa_TM(g_max=100.0, E=50.0, V_T=-63.0),
        "K": _channels.IK_TM(g_max=30.0, E=-90.0, V_T=-63.0),
        "L": _channels.ILeak(g_max=0.05, E=E_L),
    }


def _resting_potential(owner: str, E_L: float) -> float:
    """The zero of the steady-state ionic current (gates at steady state) where it rises, below
    -55 mV (above, the cell is near its spike threshold), on a 0.001 mV grid; raises if there
    is none."""
    channels = _channels_tm(E_L)
    v = np.linspace(-100.0, -55.0, 45_001)
    current = sum(np.asarray(ch.current(ch.init_state(v), v), np.float64)
                  for ch in channels.values())  # fmt: skip
    up = np.flatnonzero((current[:-1] < 0) & (current[1:] >= 0))  # dv/dt = -I / C: stable
    if not len(up):
        raise ValueError(
            f"{owner}(E_L={E_L}): with this leak reversal the Traub-Miles neuron has no "
            "resting state below -55 mV (it fires without input), so the network "
            "cannot start quiet; use a lower E_L (e.g. the default -65 mV)."
        )
    k = up[0]
    return float(v[k] - current[k] * (v[k + 1] - v[k]) / (current[k + 1] - current[k]))


def _per_hop(owner: str, name: str, value, n: int) -> np.ndarray:
    a = np.asarray(value, np.float64)
    a = np.full(n, a) if a.ndim == 0 else a
    if a.shape != (n,) or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(
            f"{owner}({name}={np.asarray(value).tolist()}): {name} must be a non-negative number "
            f"or one per hop ({n} values, V1->V2 first)."
        )
    return a


class VentralStream(Network):
    """V1 -> V2 -> V4 -> TEO -> TEpd: five nested E/I networks of Hodgkin-Huxley-type neurons.

    Each area is an `nt.Network` population of this network, with populations "E" (80%) and
    "I" of round(4000 scale) Traub-Miles neurons in all (`nt.neurons.CondNeuron` with
    `INa_TM`, `IK_TM`, V_T = -63 mV, C = 1 uF/cm^2, and a leak g_L = 0.05 mS/cm^2, reversal
    `E_L`; a spike is an upward crossing of -20 mV), each pair connected with probability
    p = 0.02 / scale (80 inputs per neuron), by exponential conductances as in BrainPy's model:
    E synapses g_E = 0.03 mS/cm^2, tau = 5 ms, E_rev = 0 mV; I synapses g_I = 0.335 mS/cm^2,
    tau = 10 ms, E_rev = -80 mV (the COBAHH benchmark of Brette et al. 2007, per unit area).
    E_L = -65 mV, not COBAHH's -60 mV: with -60 mV the cell has no resting state (the
    steady-state current is inward from -100 to -55 mV; alone it fires at about 14 Hz, and in
    COBAHH only recurrent inhibition holds it back), while -65 mV gives a stable rest at
    -64.8 mV and a rheobase near 0.2 uA/cm^2, so that the network is quiet until stimulated.

    Between consecutive areas, the E population of the lower area projects onto E and I of the
    higher one ("V1->V2:E" from 'V1.E' to 'V2.E', "V1->V2:I" to 'V2.I'), p = 0.02 / scale,
    conductance ff g_E per synapse, tau = 5 ms, E_rev = 0 mV, with the delay of the hop (ms);
    with fb > 0 the E population of the higher area also projects back ("V2->V1:E",
    "V2->V1:I", conductance fb g_E, same delay). `ff`, `fb` and `delay` are scalars or one
    value per hop (V1->V2, V2->V4, V4->TEO, TEO->TEpd).

    The inter-areal weights and delays are synthetic: BrainPy's model reads them from the
    macaque connectome (Markov et al. 2014 FLNs; delays from wiring distances), which we do
    not ship; here the chain is purely feedforward by default, with 3 ms per hop (about
    10 mm at 3.5 m/s). What it shows: a stimulus into V1 spreads up the hierarchy, each area
    starting after the one below it. With ff = 1 each area receives as many inputs from the
    one below as from itself, so the activity comes in synchronous volleys and grows up the
    chain (scale 0.25, 1-3 uA/cm^2 into V1.E for 170 ms: E rates 29, 33, 42, 44 and 55 Hz).

    `init_state`: every neuron at its resting potential (the stable zero of the steady-state
    current, computed at construction) with its gates at steady state and no synaptic
    conductance; deterministic, so the key is unused. Inputs: as for any nested network, e.g.
    `{"V1.E": current}` in uA/cm^2. Measured (scale 0.05 or 0.25, 1-3 uA/cm^2 into V1.E): first
    spikes 4.1, 7.8, 11.2, 14.5 and 17.7 ms after the onset in V1, V2, V4, TEO and TEpd.

    Reference: Wang et al. (2023), BrainPy, a flexible, integrative, efficient, and extensible
    framework for general-purpose brain dynamics programming, eLife 12:e86365 (Fig. 2); Brette
    et al. (2007), J Comput Neurosci 23:349-398; Markov et al. (2014), Cereb Cortex 24:17-36.
    """

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 200.0
    summary: ClassVar[str] = (
        "Ventral visual stream V1->V2->V4->TEO->TEpd of nested HH E/I networks (BrainPy 2023)"
    )
    scale: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    area_names: tuple[str, ...] = eqx.field(static=True)

    def __init__(
        self,
        scale: float | int = 1.0,
        *,
        seed: int = 0,
        ff: ArrayLike | Sequence[float] = 1.0,
        fb: ArrayLike | Sequence[float] = 0.0,
        delay: ArrayLike | Sequence[float] = 3.0,
        E_L: float | int = -65.0,
    ):
        owner = "VentralStream"
        seed, scale = check_seed(owner, seed), check_scale(owner, scale, N0, P0, "80 inputs")
        hops = len(AREAS) - 1
        ff, fb = _per_hop(owner, "ff", ff, hops), _per_hop(owner, "fb", fb, hops)
        delay = _per_hop(owner, "delay", delay, hops)
        if np.any(delay == 0):
            raise ValueError(f"{owner}(delay={delay.tolist()}): delays must be positive (ms).")
        self.scale, self.seed, self.area_names = float(scale), int(seed), AREAS
        v_rest = _resting_potential(owner, float(E_L))

        n = round(N0 * scale)
        n_e = round(E_FRACTION * n)
        sizes = {"E": n_e, "I": n - n_e}
        p = P0 / scale
        exc = (_synapses.Expon(5.0), _synapses.COBA(E=0.0))
        inh = (_synapses.Expon(10.0), _synapses.COBA(E=-80.0))

        def projection(pre, post, sub, w, **kw):
            n_pre, n_post = sizes[pre[-1]], sizes[post[-1]]
            c = _conn.FixedProb(p, seed=_seed(self.seed, *sub))(n_pre, n_post)
            syn, out = exc if pre[-1] == "E" else inh
            return AlignPost(pre, post, _comm.EventCSR(c, w), syn, out, **kw)

        areas = {}
        for a, name in enumerate(AREAS):
            local = {}
            for i, proj in enumerate(("E2E", "E2I", "I2E", "I2I")):
                w = G_E if proj[0] == "E" else G_I
                local[proj] = projection(proj[0], proj[2], (0, a, i), w)
            pops = {
                pop: _neurons.CondNeuron(sizes[pop], _channels_tm(E_L), C=1.0, v_th=-20.0,
                                         v_init=v_rest)
                for pop in ("E", "I")
            }  # fmt: skip
            areas[name] = Network(pops, local)
        between = {}
        for h, (low, high) in enumerate(zip(AREAS[:-1], AREAS[1:])):
            for direction, (src, dst, gain) in enumerate(((low, high, ff[h]), (high, low, fb[h]))):
                if gain == 0:
                    continue
                for i, post in enumerate("EI"):
                    between[f"{src}->{dst}:{post}"] = projection(
                        f"{src}.E", f"{dst}.{post}", (1, h, direction, i),
                        gain * G_E, delay=delay[h],
                    )  # fmt: skip
        super().__init__(areas, between)
