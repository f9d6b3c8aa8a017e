"""A multi-area spiking network with inter-areal delays along a hierarchy (Joglekar et al. 2018)."""

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray

from .. import comm as _comm, conn as _conn, neurons as _neurons, synapses as _synapses
from .._network import Network, NetworkState
from .._projections import AlignPost
from ._ei import check_scale, check_seed

N0 = 2000  # neurons per area at scale 1 (Joglekar et al.: 1600 E, 400 I)
E_FRACTION = 0.8
P0 = 0.1  # connection probability at scale 1, within and between areas
V_REST, V_RESET, V_TH, TAU_REF = -70.0, -60.0, -50.0, 2.0  # mV, mV, mV, ms
TAU_M = {"E": 20.0, "I": 10.0}  # ms
D_LOCAL = 2.0  # ms, delay of the local projections
# PSP sizes (mV) of the asynchronous regime: local EE, EI (E onto I), II, long-range mu_IE; and
# per GBA strength the local IE (I onto E) and the long-range mu_EE.
W_EE, W_EI, W_II, MU_EI = 0.01, 0.075, 0.075, 0.19 / 4
GBA = {"weak": (0.0375, 0.0375), "strong": (0.05, 0.05)}


def _seed(seed: int, *path: int) -> int:
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def _square(owner: str, name: str, value, n: int) -> np.ndarray:
    a = np.asarray(value, np.float64)
    if a.shape != (n, n) or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(
            f"{owner}({name} of shape {a.shape}): {name} must be a finite, non-negative "
            f"({n}, {n}) matrix, entry [k, j] for the projection from area j to area k."
        )
    return a


class MultiArea(Network):
    """A hierarchy of E/I spiking areas joined by delayed long-range excitation, after Joglekar,
    Mejias, Yang & Wang (2018).

    Each area ("A0", "A1", ...; zero-padded, so sorted names follow the hierarchy) is an
    `nt.Network` with LIF populations "E" (80%) and "I" of round(2000 scale) neurons in all,
    each pair connected with probability p = 0.1 / scale (160 E and 40 I inputs per neuron):

        tau_X dv/dt = -(v - v_rest) + I_syn + I_bg,X + tau_X sigma_X xi(t)

    v_rest = -70 mV, v_th = -50 mV, v_reset = -60 mV, tau_ref = 2 ms, tau_E = 20 ms,
    tau_I = 10 ms, background I_bg = (14.2, 14.7) mV and white noise of sigma = 3 mV (sigma_X =
    sigma / sqrt(tau_X)), the asynchronous regime of Joglekar et al. An area k at hierarchy
    h_k in [0, 1] has its local excitatory PSPs scaled by (1 + alpha h_k) (alpha = 4): EE
    0.01 (1 + alpha h_k) mV, E->I 0.075 (1 + alpha h_k) mV, I->I -0.075 mV, I->E -w_IE, delay
    2 ms. Long-range projections from the E population of area j reach E and I of area k with
    PSPs mu_EE FLN_kj (1 + alpha h_k) and mu_IE FLN_kj (1 + alpha h_k), mu_IE = 0.0475 mV, and
    per-synapse delays ~ N(D_kj / v, (delay_sd D_kj / v)^2) (truncated to within 3 sd), D_kj the
    wiring distance and v = `speed` = 3.5 m/s. `gba` sets the global balanced amplification:
    "weak" (w_IE = mu_EE = 0.0375 mV) or "strong" (0.05 mV).

    The connectome is synthetic. We cannot ship the measured macaque data (Markov et al. 2014
    FLNs and wiring distances), so by default the areas sit on a line, `spacing` mm apart
    (D_kj = spacing |k - j|), with hierarchy h_k = k / (n_areas - 1) and FLNs that fall off with
    distance by the exponential distance rule of Ercsey-Ravasz et al. (2013), FLN_kj =
    F exp(-lambda D_kj) / S with lambda = `fln_decay` = 0.19 / mm, S = sum over m != 0 of
    exp(-lambda spacing |m|) and F = `fln_total` = 0.5: the FLNs into an area of an endless line
    sum to F (the modelled areas supply half of its long-range input), and adding areas does
    not change existing ones. (With F = 1 and weak GBA, a 150 ms pulse into A0 of a 4-area
    network at scale 0.1 ignites A2 and A3, which then fire at 300 Hz for good.) Pass `fln`,
    `distance` (mm) and `hierarchy` to use measured values.

    What it shows: a pulse into A0 travels up the hierarchy, reaching each area after the
    conduction delay, and weakens from area to area with weak GBA; strong GBA carries it
    further (Joglekar et al., Fig. 5). Measured, E rates during a 15 mV, 150 ms pulse into
    A0.E (baseline 1-2 Hz): 4 areas at scale 0.1, about 64, 13, 6 and 2 Hz in A0..A3 with weak
    GBA and 64, 21, 15 and 9 Hz with strong GBA; 6 areas at scale 0.2 (sparser, less
    correlated input), 63, 8, 3, 2, 1.5, 1 Hz (weak) and 62, 13, 5, 3, 1.7, 1.2 Hz (strong).

    Synapses: Joglekar et al. use instantaneous voltage jumps J; here each is an exponential
    current (CUBA, tau_syn = 1 ms) of weight J tau_X / tau_syn, whose integrated effect on v is
    the same jump J. `delay_sd=0` gives one delay per projection, D_kj / v. Pairs with
    FLN_kj = 0 get no projection. `sigma=0` and `background=(0, 0)` make the network
    deterministic. `init_state`: v ~ U(v_rest, v_th) (as Joglekar et al.; with `key=None`, a key
    fixed by `seed`). Inputs: as for any nested network, e.g. `{"A0.E": current_in_mV}`.

    Reference: Joglekar, Mejias, Yang & Wang (2018), Inter-areal balanced amplification enhances
    signal propagation in a large-scale circuit model of the primate cortex, Neuron 98:222-234;
    Ercsey-Ravasz et al. (2013), Neuron 80:184-197 (exponential distance rule); Markov et al.
    (2014), Cereb Cortex 24:17-36.
    """

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 400.0
    summary: ClassVar[str] = (
        "Multi-area LIF network with inter-areal delays along a synthetic hierarchy "
        "(Joglekar et al. 2018)"
    )
    scale: float = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    area_names: tuple[str, ...] = eqx.field(static=True)
    hierarchy: tuple[float, ...] = eqx.field(static=True)
    fln: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    distance: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    speed: float = eqx.field(static=True)

    def __init__(
        self,
        scale: float | int = 1.0,
        *,
        seed: int = 0,
        n_areas: int = 8,
        gba: str = "weak",
        alpha: float | int = 4.0,
        spacing: float | int = 10.0,
        speed: float | int = 3.5,
        fln_decay: float | int = 0.19,
        fln_total: float | int = 0.5,
        delay_sd: float | int = 0.1,
        sigma: float | int = 3.0,
        background: Sequence[float] = (14.2, 14.7),
        fln: ArrayLike | Sequence | None = None,
        distance: ArrayLike | Sequence | None = None,
        hierarchy: ArrayLike | Sequence | None = None,
    ):
        owner = "MultiArea"
        seed, scale = check_seed(owner, seed), check_scale(owner, scale, N0, P0, "160 E inputs")
        if isinstance(n_areas, bool) or not isinstance(n_areas, int | np.integer) or n_areas < 1:
            raise ValueError(f"{owner}(n_areas={n_areas!r}): n_areas must be a positive integer.")
        if gba not in GBA:
            raise ValueError(f"{owner}(gba={gba!r}): gba must be 'weak' or 'strong'.")
        for name, value in (("spacing", spacing), ("speed", speed)):
            if not value > 0:
                raise ValueError(f"{owner}({name}={value}): {name} must be positive.")
        for name, value in (
            ("alpha", alpha), ("fln_decay", fln_decay), ("fln_total", fln_total), ("sigma", sigma)
        ):  # fmt: skip
            if not value >= 0:
                raise ValueError(f"{owner}({name}={value}): {name} must be non-negative.")
        if not 0 <= delay_sd < 1 / 3:
            raise ValueError(
                f"{owner}(delay_sd={delay_sd}): delay_sd (relative) must be in [0, 1/3), so that "
                "delays truncated at 3 sd stay positive."
            )
        if len(background) != 2:
            raise ValueError(
                f"{owner}(background={background!r}): expected two currents (mV), (E, I)."
            )
        n_areas = int(n_areas)
        self.scale, self.seed, self.speed = float(scale), int(seed), float(speed)
        width = len(str(n_areas - 1))
        names = tuple(f"A{k:0{width}d}" for k in range(n_areas))
        self.area_names = names

        line = np.arange(n_areas, dtype=np.float64)
        if distance is None:
            distance = spacing * np.abs(line[:, None] - line[None, :])
        distance = _square(owner, "distance", distance, n_areas)
        if fln is None:
            m = np.arange(1, 10_000)
            norm = 2 * np.sum(np.exp(-fln_decay * spacing * m))
            fln = fln_total * np.exp(-fln_decay * distance) / norm
            np.fill_diagonal(fln, 0.0)
        fln = _square(owner, "fln", fln, n_areas)
        if hierarchy is None:
            hierarchy = line / max(n_areas - 1, 1)
        hierarchy = np.asarray(hierarchy, np.float64)
        if hierarchy.shape != (n_areas,) or not np.all(np.isfinite(hierarchy)):
            raise ValueError(
                f"{owner}(hierarchy of shape {hierarchy.shape}): expected {n_areas} finite values."
            )
        self.distance = tuple(map(tuple, distance.tolist()))
        self.fln = tuple(map(tuple, fln.tolist()))
        self.hierarchy = tuple(hierarchy.tolist())

        n = round(N0 * scale)
        n_e = round(E_FRACTION * n)
        sizes = {"E": n_e, "I": n - n_e}
        p = P0 / scale
        w_ie, mu_ee = GBA[gba]
        syn, out = _synapses.Expon(1.0), _synapses.CUBA()
        tau_syn = 1.0

        def weight(psp: float, post: str) -> float:
            """The CUBA weight whose integrated current gives a jump of `psp` mV."""
            return psp * TAU_M[post] / tau_syn

        def lif(pop: str):
            noise = None if sigma == 0 else sigma / math.sqrt(TAU_M[pop])
            return _neurons.LIF(
                sizes[pop], tau=TAU_M[pop], v_rest=V_REST, v_reset=V_RESET, v_th=V_TH,
                tau_ref=TAU_REF, R=1.0, noise=noise,
            )  # fmt: skip

        areas, projections, inputs = {}, {}, {}
        for k, name in enumerate(names):
            gain = 1.0 + alpha * hierarchy[k]
            local = {"E2E": W_EE * gain, "E2I": W_EI * gain, "I2E": -w_ie, "I2I": -W_II}
            local_projs = {}
            for i, (proj, psp) in enumerate(local.items()):
                pre, post = proj[0], proj[2]
                c = _conn.FixedProb(p, seed=_seed(self.seed, 0, k, i))(sizes[pre], sizes[post])
                local_projs[proj] = AlignPost(
                    pre, post, _comm.EventCSR(c, weight(psp, post)), syn, out, delay=D_LOCAL
                )
            areas[name] = Network({"E": lif("E"), "I": lif("I")}, local_projs)
            inputs[f"{name}.E"] = jnp.asarray(float(background[0]))
            inputs[f"{name}.I"] = jnp.asarray(float(background[1]))
        for k, target in enumerate(names):
            gain = 1.0 + alpha * hierarchy[k]
            for j, source in enumerate(names):
                if j == k or fln[k, j] == 0:
                    continue
                mean = distance[k, j] / speed
                for i, (post, mu) in enumerate((("E", mu_ee), ("I", MU_EI))):
                    c = _conn.FixedProb(p, seed=_seed(self.seed, 1, k, j, i))(
                        sizes["E"], sizes[post]
                    )
                    delay = mean
                    if delay_sd > 0:
                        rng = np.random.default_rng(_seed(self.seed, 2, k, j, i))
                        z = np.clip(rng.standard_normal(c.nnz), -3.0, 3.0)
                        delay = mean * (1.0 + delay_sd * z)
                    projections[f"{source}->{target}:{post}"] = AlignPost(
                        f"{source}.E", f"{target}.{post}",
                        _comm.EventCSR(c, weight(mu * fln[k, j] * gain, post)), syn, out,
                        delay=delay,
                    )  # fmt: skip
        super().__init__(areas, projections, inputs)

    def delay_steps(self, dt: float) -> np.ndarray:
        """round(D_kj / (speed dt)): the mean long-range delay from area j to k, in steps."""
        return np.floor(np.asarray(self.distance) / self.speed / dt + 0.5).astype(int)

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None, dt=None
    ) -> NetworkState:
        """v ~ U(v_rest, v_th) for every neuron (as Joglekar et al.); synapses at rest."""
        state = super().init_state(batch_shape, key=key, dt=dt)
        key = jax.random.fold_in(jax.random.key(self.seed), 0x5EED) if key is None else key
        areas = dict(state.populations)
        for k, name in enumerate(self.area_names):
            pops = dict(areas[name].populations)
            for i, pop in enumerate(("E", "I")):
                v = pops[pop].v
                draw = jax.random.uniform(jax.random.fold_in(key, 2 * k + i), v.shape, v.dtype)
                pops[pop] = dataclasses.replace(pops[pop], v=V_REST + (V_TH - V_REST) * draw)
            areas[name] = dataclasses.replace(areas[name], populations=pops)
        return dataclasses.replace(state, populations=areas)
