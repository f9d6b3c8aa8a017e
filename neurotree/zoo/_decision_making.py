"""Wang (2002) spiking network for two-choice perceptual decisions."""

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .. import comm, conn, neurons, synapses
from .._core import check, param
from .._network import Network, NetworkState
from .._projections import AlignPost, AlignPre
from ..inputs import PoissonInput
from ..inputs._waveforms import _within

# Wang (2002), Methods: peak conductances in uS (nS / 1000) for N_E = 1600, N_I = 400.
_G_EXT = {"E": 2.1e-3, "I": 1.62e-3}
_G_AMPA = {"E": 0.05e-3, "I": 0.04e-3}
_G_NMDA = {"E": 0.165e-3, "I": 0.13e-3}
_G_GABA = {"E": 1.3e-3, "I": 1.0e-3}
# In nt.neurons.LIF units: tau = C / gL (ms), R = 1 / gL (MOhm for gL in uS; I in nA).
_E_CELL = dict(tau=0.5 / 0.025, R=1.0 / 0.025, tau_ref=2.0)  # C 0.5 nF, gL 25 nS
_I_CELL = dict(tau=0.2 / 0.020, R=1.0 / 0.020, tau_ref=1.0)  # C 0.2 nF, gL 20 nS
_V_L, _V_TH, _V_RESET = -70.0, -50.0, -55.0


class DecisionMaking(Network):
    """Wang (2002)'s decision-making network: two selective pools compete by slow reverberation.

    N_E = 1600 pyramidal cells "E", in order: selective pool A (f N_E = 240, f = 0.15), selective
    pool B (240) and the non-selective rest N (1120), see `pools`; N_I = 400 interneurons "I".
    All are LIF neurons, C dv/dt = -gL (v - V_L) + I_syn (nt.neurons.LIF with tau = C / gL,
    R = 1 / gL): E: C = 0.5 nF, gL = 25 nS, tau_ref = 2 ms; I: C = 0.2 nF, gL = 20 nS,
    tau_ref = 1 ms; V_L = -70, V_th = -50, V_reset = -55 mV.

    Recurrent synapses are all-to-all with a latency `delay` (0.5 ms): AMPA (Expon, tau 2 ms,
    COBA E = 0 mV; `AlignPost`), NMDA (nt.synapses.NMDA, tau_decay 100 ms, tau_rise 2 ms,
    a = 0.5 /ms, MgBlock with [Mg] = 1 mM, E = 0 mV; `AlignPre`) and GABA_A (Expon, tau 5 ms,
    COBA E = -70 mV). Peak conductances (nS, onto E / onto I): g_AMPA 0.05 / 0.04, g_NMDA
    0.165 / 0.13, g_GABA 1.3 / 1.0, times 1600 / N_E (from E) or 400 / N_I (from I), so the total
    recurrent input does not change with `scale`. E -> E weights are structured by pool:
    w+ = `w_plus` (1.7) within A and within B, w- = 1 - f (w+ - 1) / (1 - f) onto A or B from
    the other selective pool and from N, and 1 otherwise; they are computed from pool sums in
    O(N) per step, with the same result as the dense matrix `comm.plastic_weight()`.

    External input: every neuron receives independent Poisson spikes at `background_rate`
    (2400 Hz) through AMPA synapses with g_ext = 2.1 / 1.62 nS, one to one from a Poisson neuron
    of "ext" (`nt.inputs.PoissonInput`; its first N_E neurons drive E, the rest I). During the
    stimulus, `stim_on` <= t < `stim_off` (ms), the neurons of A (B) receive Poisson spikes at
    mu_A = mu0 (1 + c / 100) (mu_B = mu0 (1 - c / 100)) Hz more, c = `coherence` in %, through
    the same synapses: as independent Poisson trains add up to one, the "ext" neurons of A and
    B fire at the background rate plus `stimulus_rates(t)`. The stimulus rates are constant in
    the window (Wang resamples them every 50 ms with sd 4 Hz; not modelled).
    `coherence`, `mu0`, `stim_on` and `stim_off` are float arrays: `eqx.filter_vmap` over
    e.g. `eqx.tree_at(lambda m: m.coherence, model, c)` runs many conditions in one call.

    `scale` multiplies the neuron counts (N_E = round(1600 scale), N_I = round(400 scale)).
    `init_state` draws each membrane potential uniformly in [V_L, V_th) (from `seed` when no
    key is given) and sizes the delay buffers for the class's `dt` (0.1 ms) unless given
    another. Trials differ by the keys given to `nt.simulate` and `init_state`. Build the
    model once and pass it to `eqx.filter_jit`-ed functions as an argument or close over it.

    At 51.2 % coherence (8 trials, full size) the winning pool fires 30.6 Hz over the last
    300 ms of a 1 s stimulus, the loser 1.9 Hz, N 4.5 Hz, I 14.2 Hz; at rest E fires 1.6 Hz and
    I 6 Hz. A Brian2 simulation of the same network (Euler, dt = 0.1 ms, 8 seeds) gives 33.5,
    1.8, 4.5 and 14.4 Hz: the winner's rate converges to it as dt shrinks (32.7 Hz at
    dt = 0.05 ms, 33.3 Hz at 0.025 ms), the gap at 0.1 ms being the first-order step error
    (an `Expon` synapse at dt = 0.1 ms passes dt / (2 tau) = 2.5 % more AMPA charge per spike).

    Reference: Wang (2002), Probabilistic decision making by slow reverberation in cortical
    circuits, Neuron 36:955-968; Brunel & Wang (2001), J Comput Neurosci 11:63-85; BrainPy's
    decision-making example (Wang et al. 2023, eLife 12:e86365).
    """

    coherence: Float[Array, ""]
    mu0: Float[Array, ""]
    stim_on: Float[Array, ""]
    stim_off: Float[Array, ""]
    f: float = eqx.field(static=True)
    w_plus: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 1500.0
    summary: ClassVar[str] = (
        "Wang (2002) decision making: two selective pools compete by NMDA reverberation"
    )

    def __init__(
        self,
        scale: float = 1.0,
        *,
        seed: int = 0,
        coherence: ArrayLike = 25.6,
        mu0: ArrayLike = 40.0,
        stim_on: ArrayLike = 200.0,
        stim_off: ArrayLike = 1200.0,
        f: float = 0.15,
        w_plus: float = 1.7,
        background_rate: ArrayLike = 2400.0,
        delay: ArrayLike | None = 0.5,
    ):
        owner = "DecisionMaking"
        check(owner, "scale", scale, lambda v: v > 0, "a positive number")
        check(owner, "f", f, lambda v: (v > 0) & (v < 0.5), "a fraction in (0, 0.5)")
        check(owner, "w_plus", w_plus, lambda v: v >= 0, "non-negative")
        n_e, n_i = round(1600 * float(scale)), round(400 * float(scale))
        n_a = round(f * n_e)
        if n_a < 1 or n_e - 2 * n_a < 1 or n_i < 1:
            raise ValueError(
                f"{owner}(scale={scale}, f={f}): pools of {n_a} (A, B), {n_e - 2 * n_a} (N) and "
                f"{n_i} (I) neurons; every pool needs at least one neuron (use a larger scale)."
            )
        self.coherence = param(owner, "coherence", coherence, ())
        check(owner, "coherence", self.coherence, lambda v: abs(v) <= 100, "in [-100, 100] (%)")
        self.mu0 = param(owner, "mu0", mu0, ())
        check(owner, "mu0", self.mu0, lambda v: v >= 0, "a non-negative rate in Hz")
        self.stim_on = param(owner, "stim_on", stim_on, ())
        self.stim_off = param(owner, "stim_off", stim_off, ())
        self.f, self.w_plus, self.seed = float(f), float(w_plus), int(seed)

        lif = dict(v_rest=_V_L, v_reset=_V_RESET, v_th=_V_TH)
        populations = {
            "E": neurons.LIF(n_e, **lif, **_E_CELL),
            "I": neurons.LIF(n_i, **lif, **_I_CELL),
            "ext": PoissonInput(n_e + n_i, background_rate),
        }
        ampa, gaba = synapses.Expon(2.0), synapses.Expon(5.0)
        nmda = synapses.NMDA(tau_decay=100.0, tau_rise=2.0, a=0.5)
        excite, inhibit = synapses.COBA(E=0.0), synapses.COBA(E=-70.0)
        mg = synapses.MgBlock(E=0.0, cc_Mg=1.0)
        pools = (n_a, n_a, n_e - 2 * n_a)
        structure = self.structure()
        from_e, from_i = 1600 / n_e, 400 / n_i

        def from_pools(g):  # E -> E, one weight per pair of pools
            return comm.BlockAllToAll(pools, pools, g * from_e * structure)

        def external(offset, n, g):  # "ext" neuron offset + k drives neuron k, one to one
            indptr = np.clip(np.arange(n_e + n_i + 1) - offset, 0, n)
            return comm.EventCSR(conn.CSR(indptr, np.arange(n), (n_e + n_i, n)), g)

        projections = {
            "AMPA_ext2E": AlignPost("ext", "E", external(0, n_e, _G_EXT["E"]), ampa, excite),
            "AMPA_ext2I": AlignPost("ext", "I", external(n_e, n_i, _G_EXT["I"]), ampa, excite),
            "AMPA_E2E": AlignPost("E", "E", from_pools(_G_AMPA["E"]), ampa, excite, delay),
            "AMPA_E2I": AlignPost(
                "E", "I", comm.AllToAll(n_e, n_i, _G_AMPA["I"] * from_e), ampa, excite, delay
            ),
            "NMDA_E2E": AlignPre("E", "E", from_pools(_G_NMDA["E"]), nmda, mg, delay),
            "NMDA_E2I": AlignPre(
                "E", "I", comm.AllToAll(n_e, n_i, _G_NMDA["I"] * from_e), nmda, mg, delay
            ),
            "GABA_I2E": AlignPost(
                "I", "E", comm.AllToAll(n_i, n_e, _G_GABA["E"] * from_i), gaba, inhibit, delay
            ),
            "GABA_I2I": AlignPost(
                "I", "I", comm.AllToAll(n_i, n_i, _G_GABA["I"] * from_i), gaba, inhibit, delay
            ),
        }
        super().__init__(populations, projections)

    @property
    def pools(self) -> dict[str, slice]:
        """The E neurons of each pool: A and B (selective), N (non-selective)."""
        n_e = self.populations["E"].size[0]
        n_a = round(self.f * n_e)
        return {"A": slice(0, n_a), "B": slice(n_a, 2 * n_a), "N": slice(2 * n_a, n_e)}

    @property
    def w_minus(self) -> float:
        """The weight onto a selective pool from the other pools, 1 - f (w+ - 1) / (1 - f)."""
        return 1.0 - self.f * (self.w_plus - 1.0) / (1.0 - self.f)

    def structure(self) -> np.ndarray:
        """The relative E -> E weights, rows pre and columns post pool, in the order A, B, N."""
        wp, wm = self.w_plus, self.w_minus
        return np.array([[wp, wm, 1.0], [wm, wp, 1.0], [wm, wm, 1.0]])

    def stimulus_rates(self, t: ArrayLike) -> Float[Array, " n_e"]:
        """The stimulus rate (Hz) onto each E neuron at time t (ms): mu_A on A, mu_B on B inside
        the window [stim_on, stim_off), 0 elsewhere."""
        on = _within(jnp.asarray(t, self.mu0.dtype), self.stim_on, self.stim_off)
        shift = self.mu0 * self.coherence / 100.0
        rates = jnp.maximum(jnp.stack([self.mu0 + shift, self.mu0 - shift, 0.0 * shift]), 0.0)
        sizes = [p.stop - p.start for p in self.pools.values()]
        n_e = self.populations["E"].size[0]
        return jnp.repeat(jnp.where(on, rates, 0.0), np.asarray(sizes), total_repeat_length=n_e)

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        key: PRNGKeyArray | None = None,
        dt=None,
    ) -> NetworkState:
        """Synapses at rest, v uniform in [V_L, V_th); `dt` (ms) defaults to the class's `dt`."""
        state = super().init_state(batch_shape, key=key, dt=self.dt if dt is None else dt)
        key = jax.random.key(self.seed) if key is None else key
        pops = dict(state.populations)
        for i, name in enumerate(("E", "I")):
            v = pops[name].v
            u = jax.random.uniform(jax.random.fold_in(key, 1000 + i), v.shape, v.dtype)
            pops[name] = dataclasses.replace(pops[name], v=_V_L + (_V_TH - _V_L) * u)
        return dataclasses.replace(state, populations=pops)

    def __call__(
        self,
        state: NetworkState,
        inputs: Mapping[str, PyTree] | None = None,
        *,
        t,
        dt,
        key: PRNGKeyArray | None = None,
    ) -> tuple[NetworkState, dict[str, PyTree]]:
        """One network step: "ext" fires at its `rate` plus the stimulus rates at t (or, if
        `inputs` name "ext", at that rate plus the stimulus)."""
        inputs = dict(inputs or {})
        given = inputs.get("ext")
        if callable(given) and not eqx.is_array(given):
            given = given(t)
        base = self.populations["ext"].rate if given is None else given
        stimulus = self.stimulus_rates(t)
        n_i = self.populations["I"].size[0]
        inputs["ext"] = base + jnp.concatenate([stimulus, jnp.zeros(n_i, stimulus.dtype)])
        return super().__call__(state, inputs, t=t, dt=dt, key=key)
