"""The sodium and potassium channels of the Hodgkin-Huxley squid giant axon."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import param
from ._base import IonChannel, conductance, exprel, gate_rate

# Rate functions (1/ms) of v (mV) in the modern convention (rest near -65 mV): Hodgkin & Huxley
# (1952), eqs. 12-13, 20-21, 23-24, with their V replaced by -(v + 65).


def alpha_m(v):
    return exprel((v + 40.0) / 10.0)  # 0.1 (v + 40) / (1 - exp(-(v + 40) / 10))


def beta_m(v):
    return 4.0 * jnp.exp(-(v + 65.0) / 18.0)


def alpha_h(v):
    return 0.07 * jnp.exp(-(v + 65.0) / 20.0)


def beta_h(v):
    return jax.nn.sigmoid((v + 35.0) / 10.0)  # 1 / (1 + exp(-(v + 35) / 10))


def alpha_n(v):
    return 0.1 * exprel((v + 55.0) / 10.0)  # 0.01 (v + 55) / (1 - exp(-(v + 55) / 10))


def beta_n(v):
    return 0.125 * jnp.exp(-(v + 65.0) / 80.0)


def steady(alpha, beta, v):
    a = alpha(v)
    return a / (a + beta(v))


class INa_HH(IonChannel):
    """Hodgkin-Huxley fast sodium current.

        I_Na = g_max m^3 h (v - E)
        dm/dt = alpha_m (1 - m) - beta_m m,   dh/dt = alpha_h (1 - h) - beta_h h
        alpha_m = 0.1 (v + 40) / (1 - exp(-(v + 40) / 10)),   beta_m = 4 exp(-(v + 65) / 18)
        alpha_h = 0.07 exp(-(v + 65) / 20),                   beta_h = 1 / (1 + exp(-(v + 35) / 10))

    Units: v and E in mV, g_max in mS/cm^2, rates in 1/ms, I_Na in uA/cm^2. Gates: `m`, `h`.
    alpha_m's removable singularity at v = -40 mV is evaluated by its limit (value 1 / ms).

    Reference: Hodgkin & Huxley (1952), J Physiol 117:500-544 (6.3 degC; modern convention with
    rest at -65 mV, as in BrainPy's `HH`).
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 120.0, E: ArrayLike = 50.0):
        self.g_max = conductance("INa_HH", g_max)
        self.E = param("INa_HH", "E", E)

    def init_state(self, v):
        return {"m": steady(alpha_m, beta_m, v), "h": steady(alpha_h, beta_h, v)}

    def vector_field(self, t, gates, v):
        return {
            "m": gate_rate(alpha_m(v), beta_m(v), gates["m"]),
            "h": gate_rate(alpha_h(v), beta_h(v), gates["h"]),
        }

    def current(self, gates, v):
        return self.g_max * gates["m"] ** 3 * gates["h"] * (v - self.E)


class IK_HH(IonChannel):
    """Hodgkin-Huxley delayed-rectifier potassium current.

        I_K = g_max n^4 (v - E)
        dn/dt = alpha_n (1 - n) - beta_n n
        alpha_n = 0.01 (v + 55) / (1 - exp(-(v + 55) / 10)),   beta_n = 0.125 exp(-(v + 65) / 80)

    Units: v and E in mV, g_max in mS/cm^2, rates in 1/ms, I_K in uA/cm^2. Gate: `n`.
    alpha_n's removable singularity at v = -55 mV is evaluated by its limit (value 0.1 / ms).

    Reference: Hodgkin & Huxley (1952), J Physiol 117:500-544 (modern convention, rest -65 mV).
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 36.0, E: ArrayLike = -77.0):
        self.g_max = conductance("IK_HH", g_max)
        self.E = param("IK_HH", "E", E)

    def init_state(self, v):
        return {"n": steady(alpha_n, beta_n, v)}

    def vector_field(self, t, gates, v):
        return {"n": gate_rate(alpha_n(v), beta_n(v), gates["n"])}

    def current(self, gates, v):
        return self.g_max * gates["n"] ** 4 * (v - self.E)
