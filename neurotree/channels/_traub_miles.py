"""The sodium and potassium channels of Traub & Miles (1991), as in the COBAHH benchmark."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import param
from ._base import IonChannel, conductance, exprel, gate_rate


def _steady(alpha, beta):
    return alpha / (alpha + beta)


class INa_TM(IonChannel):
    """Traub-Miles fast sodium current (Brette et al. 2007 COBAHH benchmark).

        I_Na = g_max m^3 h (v - E),   u = v - V_T
        alpha_m = 0.32 (u - 13) / (1 - exp(-(u - 13) / 4))
        beta_m = 0.28 (u - 40) / (exp((u - 40) / 5) - 1)
        alpha_h = 0.128 exp(-(u - 17) / 18)
        beta_h = 4 / (1 + exp(-(u - 40) / 5))

    Units: v, E, V_T in mV; g_max in mS/cm^2; rates in 1/ms. Gates: `m`, `h`.

    Reference: Traub & Miles (1991), Neuronal Networks of the Hippocampus, Cambridge University
    Press; Brette et al. (2007), J Comput Neurosci 23:349-398 (benchmark 3, V_T = -63 mV).
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]
    V_T: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 100.0, E: ArrayLike = 50.0, V_T: ArrayLike = -63.0):
        self.g_max = conductance("INa_TM", g_max)
        self.E = param("INa_TM", "E", E)
        self.V_T = param("INa_TM", "V_T", V_T)

    def _rates(self, v):
        u = v - self.V_T
        return (
            1.28 * exprel((u - 13.0) / 4.0),
            1.4 * exprel(-(u - 40.0) / 5.0),
            0.128 * jnp.exp(-(u - 17.0) / 18.0),
            4.0 * jax.nn.sigmoid((u - 40.0) / 5.0),
        )

    def init_state(self, v):
        am, bm, ah, bh = self._rates(v)
        return {"m": _steady(am, bm), "h": _steady(ah, bh)}

    def vector_field(self, t, gates, v):
        am, bm, ah, bh = self._rates(v)
        return {"m": gate_rate(am, bm, gates["m"]), "h": gate_rate(ah, bh, gates["h"])}

    def current(self, gates, v):
        return self.g_max * gates["m"] ** 3 * gates["h"] * (v - self.E)


class IK_TM(IonChannel):
    """Traub-Miles delayed-rectifier potassium current (COBAHH benchmark).

        I_K = g_max n^4 (v - E),   u = v - V_T
        alpha_n = 0.032 (u - 15) / (1 - exp(-(u - 15) / 5)),   beta_n = 0.5 exp(-(u - 10) / 40)

    Units: v, E, V_T in mV; g_max in mS/cm^2; rates in 1/ms. Gate: `n`.

    Reference: Traub & Miles (1991); Brette et al. (2007), J Comput Neurosci 23:349-398.
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]
    V_T: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 30.0, E: ArrayLike = -90.0, V_T: ArrayLike = -63.0):
        self.g_max = conductance("IK_TM", g_max)
        self.E = param("IK_TM", "E", E)
        self.V_T = param("IK_TM", "V_T", V_T)

    def _rates(self, v):
        u = v - self.V_T
        return 0.16 * exprel((u - 15.0) / 5.0), 0.5 * jnp.exp(-(u - 10.0) / 40.0)

    def init_state(self, v):
        return {"n": _steady(*self._rates(v))}

    def vector_field(self, t, gates, v):
        return {"n": gate_rate(*self._rates(v), gates["n"])}

    def current(self, gates, v):
        return self.g_max * gates["n"] ** 4 * (v - self.E)
