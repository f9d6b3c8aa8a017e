"""Calcium channels with a fixed reversal potential."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import param
from ._base import IonChannel, conductance, exprel, gate_rate


class ICaT(IonChannel):
    """Low-threshold (T-type) calcium current, the source of rebound bursts.

        I_T = g_max s_inf(v)^2 h (v - E)
        dh/dt = (h_inf - h) / tau_h
        s_inf = 1 / (1 + exp(-(v + Vx + 57) / 6.2))
        h_inf = 1 / (1 + exp((v + Vx + 81) / 4))
        tau_h = [30.8 + (211.4 + exp((v + Vx + 113.2) / 5)) / (1 + exp((v + Vx + 84) / 3.2))] / 3.7

    Activation is instantaneous (s = s_inf(v)); the factor 3.7 (= 3^1.2) takes the inactivation
    kinetics, measured at 24 degC, to 36 degC. A fixed reversal potential replaces the
    Goldman-Hodgkin-Katz current. Units: v, E and the shift Vx in mV, g_max in mS/cm^2, tau_h in
    ms, I_T in uA/cm^2. Gate: `h`. Defaults: g_T = 0.4 mS/cm^2, E_Ca = 120 mV, Vx = 2 mV.

    Reference: Huguenard & McCormick (1992), J Neurophysiol 68:1373-1383; Destexhe et al. (1996),
    J Neurophysiol 76:2049-2070; in the form of Pospischil et al. (2008), Biol Cybern 99:427-441.
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]
    Vx: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 0.4, E: ArrayLike = 120.0, Vx: ArrayLike = 2.0):
        self.g_max = conductance("ICaT", g_max)
        self.E = param("ICaT", "E", E)
        self.Vx = param("ICaT", "Vx", Vx)

    def _s_inf(self, v):
        return jax.nn.sigmoid((v + self.Vx + 57.0) / 6.2)

    def _h_inf(self, v):
        return jax.nn.sigmoid(-(v + self.Vx + 81.0) / 4.0)

    def _tau_h(self, v):
        u = v + self.Vx
        slow = (211.4 + jnp.exp((u + 113.2) / 5.0)) / (1.0 + jnp.exp((u + 84.0) / 3.2))
        return (30.8 + slow) / 3.7

    def init_state(self, v):
        return {"h": self._h_inf(v)}

    def vector_field(self, t, gates, v):
        return {"h": (self._h_inf(v) - gates["h"]) / self._tau_h(v)}

    def current(self, gates, v):
        return self.g_max * self._s_inf(v) ** 2 * gates["h"] * (v - self.E)


def _alpha_q(v):
    return 0.209 * exprel((v + 27.0) / 3.8)  # 0.055 (-27 - v) / (exp((-27 - v) / 3.8) - 1)


def _beta_q(v):
    return 0.94 * jnp.exp((-75.0 - v) / 17.0)


def _alpha_r(v):
    return 0.000457 * jnp.exp((-13.0 - v) / 50.0)


def _beta_r(v):
    return 0.0065 * jax.nn.sigmoid((v + 15.0) / 28.0)  # 0.0065 / (exp((-15 - v) / 28) + 1)


class ICaL(IonChannel):
    """High-threshold (L-type) calcium current.

        I_L = g_max q^2 r (v - E)
        dq/dt = alpha_q (1 - q) - beta_q q,   dr/dt = alpha_r (1 - r) - beta_r r
        alpha_q = 0.055 (-27 - v) / (exp((-27 - v) / 3.8) - 1),   beta_q = 0.94 exp((-75 - v) / 17)
        alpha_r = 0.000457 exp((-13 - v) / 50),   beta_r = 0.0065 / (exp((-15 - v) / 28) + 1)

    Units: v and E in mV, g_max in mS/cm^2, rates in 1/ms, I_L in uA/cm^2. Gates: `q`, `r`.
    alpha_q's removable singularity at v = -27 mV is evaluated by its limit (0.209 / ms).
    Defaults: g_L = 0.1 mS/cm^2 (Pospischil et al.'s intrinsically bursting cell), E_Ca = 120 mV.

    Reference: Reuveni, Friedman, Amitai & Gutnick (1993), J Neurosci 13:4609-4621; in the form
    of Pospischil et al. (2008), Biol Cybern 99:427-441.
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 0.1, E: ArrayLike = 120.0):
        self.g_max = conductance("ICaL", g_max)
        self.E = param("ICaL", "E", E)

    def init_state(self, v):
        q = _alpha_q(v) / (_alpha_q(v) + _beta_q(v))
        r = _alpha_r(v) / (_alpha_r(v) + _beta_r(v))
        return {"q": q, "r": r}

    def vector_field(self, t, gates, v):
        return {
            "q": gate_rate(_alpha_q(v), _beta_q(v), gates["q"]),
            "r": gate_rate(_alpha_r(v), _beta_r(v), gates["r"]),
        }

    def current(self, gates, v):
        return self.g_max * gates["q"] ** 2 * gates["r"] * (v - self.E)
