"""Synaptic outputs: how the synaptic variable g becomes a current in the post neuron."""

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import check, param
from ._base import Output


def _voltage(owner: str, v) -> Float[Array, "..."]:
    if v is None:
        raise ValueError(
            f"{owner} needs the post membrane potential v (mV); got None. Pass the post "
            "population's v."
        )
    return jnp.asarray(v)


class CUBA(Output):
    """Current-based output: the synaptic variable is the current.

        I = g

    Units: I in the unit of g (that of the weight: e.g. nA, or mV for a LIF with R I in mV).
    Does not need v.

    Reference: Brette et al. (2007), Simulation of networks of spiking neurons: a review of tools
    and strategies, J Comput Neurosci 23:349-398 (the CUBA benchmark).
    """

    needs_v: ClassVar[bool] = False

    def __call__(self, g: ArrayLike, v: ArrayLike | None = None) -> Float[Array, "..."]:
        return jnp.asarray(g)


class COBA(Output):
    """Conductance-based output with reversal potential E.

        I = g (E - v)

    Units: g in uS and v, E in mV give I in nA (positive depolarises); E is a float array
    (trainable). Typical E: 0 mV (AMPA, NMDA), -80 mV (GABA_A).

    Reference: Brette et al. (2007), J Comput Neurosci 23:349-398 (the COBA benchmark).
    """

    E: Float[Array, "..."]
    needs_v: ClassVar[bool] = True

    def __init__(self, E: ArrayLike):
        self.E = param("COBA", "E", E)

    def __call__(self, g: ArrayLike, v: ArrayLike | None) -> Float[Array, "..."]:
        return jnp.asarray(g) * (self.E - _voltage("COBA", v))


class MgBlock(Output):
    """Conductance-based output with the voltage-dependent magnesium block of NMDA receptors.

        I = g (E - v) / (1 + [Mg] / beta * exp(-alpha v))

    The defaults are Wang (2002)'s: E = 0 mV, [Mg] = `cc_Mg` = 1 mM, alpha = 0.062 /mV,
    beta = 3.57 mM (BrainPy's default is cc_Mg = 1.2 mM). Units: g in uS, v and E in mV, I in
    nA; all parameters float arrays (trainable).

    Reference: Jahr & Stevens (1990), Voltage dependence of NMDA-activated macroscopic
    conductances predicted by single-channel kinetics, J Neurosci 10:3178-3182; Wang (2002),
    Neuron 36:955-968.
    """

    E: Float[Array, "..."]
    cc_Mg: Float[Array, "..."]
    alpha: Float[Array, "..."]
    beta: Float[Array, "..."]
    needs_v: ClassVar[bool] = True

    def __init__(
        self,
        E: ArrayLike = 0.0,
        cc_Mg: ArrayLike = 1.0,
        alpha: ArrayLike = 0.062,
        beta: ArrayLike = 3.57,
    ):
        self.E = param("MgBlock", "E", E)
        self.cc_Mg = param("MgBlock", "cc_Mg", cc_Mg)
        check(
            "MgBlock", "cc_Mg", self.cc_Mg, lambda v: v >= 0, "a non-negative concentration in mM"
        )
        self.alpha = param("MgBlock", "alpha", alpha)
        self.beta = param("MgBlock", "beta", beta)
        check("MgBlock", "beta", self.beta, lambda v: v > 0, "a positive concentration in mM")

    def __call__(self, g: ArrayLike, v: ArrayLike | None) -> Float[Array, "..."]:
        v = _voltage("MgBlock", v)
        block = 1.0 + self.cc_Mg / self.beta * jnp.exp(-self.alpha * v)
        return jnp.asarray(g) * (self.E - v) / block
