"""Potassium channels beyond the Hodgkin-Huxley delayed rectifier."""

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import check, param
from ._base import IonChannel, conductance


class IK_M(IonChannel):
    """Slow non-inactivating (muscarinic, M-type) potassium current for spike-frequency adaptation.

        I_M = g_max p (v - E)
        dp/dt = (p_inf - p) / tau_p
        p_inf = 1 / (1 + exp(-(v + 35) / 10))
        tau_p = tau_max / (3.3 exp((v + 35) / 20) + exp(-(v + 35) / 20))

    Units: v and E in mV, g_max in mS/cm^2, tau_max and tau_p in ms, I_M in uA/cm^2. Gate: `p`.
    Defaults are Pospischil et al.'s regular-spiking cell (g_M = 0.075 mS/cm^2, tau_max = 608 ms,
    E_K = -90 mV).

    Reference: Yamada, Koch & Adams (1989), in Methods in Neuronal Modeling, MIT Press, 97-133;
    as used by Pospischil et al. (2008), Biol Cybern 99:427-441.
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]
    tau_max: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 0.075, E: ArrayLike = -90.0, tau_max: ArrayLike = 608.0):
        self.g_max = conductance("IK_M", g_max)
        self.E = param("IK_M", "E", E)
        self.tau_max = param("IK_M", "tau_max", tau_max)
        check("IK_M", "tau_max", self.tau_max, lambda v: v > 0, "a positive time in ms")

    def _p_inf(self, v):
        return 1.0 / (1.0 + jnp.exp(-(v + 35.0) / 10.0))

    def _tau_p(self, v):
        x = (v + 35.0) / 20.0
        return self.tau_max / (3.3 * jnp.exp(x) + jnp.exp(-x))

    def init_state(self, v):
        return {"p": self._p_inf(v)}

    def vector_field(self, t, gates, v):
        return {"p": (self._p_inf(v) - gates["p"]) / self._tau_p(v)}

    def current(self, gates, v):
        return self.g_max * gates["p"] * (v - self.E)
