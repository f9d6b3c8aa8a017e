"""The passive leak current."""

from jaxtyping import Array, ArrayLike, Float

from .._core import param
from ._base import IonChannel, conductance


class ILeak(IonChannel):
    """Ohmic leak current, without gates.

        I_L = g_max (v - E)

    Units: v and E in mV, g_max in mS/cm^2, I_L in uA/cm^2. The defaults are the squid axon's
    (g_L = 0.3 mS/cm^2, E_L = 10.613 mV above a -65 mV rest).

    Reference: Hodgkin & Huxley (1952), J Physiol 117:500-544.
    """

    g_max: Float[Array, "*#shape"]
    E: Float[Array, "*#shape"]

    def __init__(self, g_max: ArrayLike = 0.3, E: ArrayLike = -54.387):
        self.g_max = conductance("ILeak", g_max)
        self.E = param("ILeak", "E", E)

    def init_state(self, v):
        return {}

    def vector_field(self, t, gates, v):
        return {}

    def current(self, gates, v):
        return self.g_max * (v - self.E)
