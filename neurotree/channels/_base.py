"""The `IonChannel` protocol: a membrane current and the gating variables it owns."""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import check, param


class IonChannel(eqx.Module):
    """A membrane current with its own gating variables, composed by `nt.neurons.CondNeuron`.

    A channel holds only parameters (arrays that broadcast to the neuron's shape); its gating
    variables live in the neuron's state as a dict from gate name to array (`{}` for a channel
    without gates). Three pure methods define it:

    - `init_state(v)`: the gates at their steady state at membrane potential `v` (mV).
    - `vector_field(t, gates, v)`: d(gates)/dt (1/ms), a dict with the same keys as `gates`.
    - `current(gates, v)`: the outward membrane current in uA/cm^2 (conductances in mS/cm^2,
      potentials in mV), entering the membrane equation as `C dv/dt = -sum(currents) + I`.
    """

    @abc.abstractmethod
    def init_state(self, v: Float[Array, "*shape"]) -> dict[str, Float[Array, "*shape"]]:
        """The gating variables at their steady state at `v`."""

    @abc.abstractmethod
    def vector_field(
        self, t, gates: dict[str, Float[Array, "*shape"]], v: Float[Array, "*shape"]
    ) -> dict[str, Float[Array, "*shape"]]:
        """The time derivative of each gating variable (1/ms)."""

    @abc.abstractmethod
    def current(
        self, gates: dict[str, Float[Array, "*shape"]], v: Float[Array, "*shape"]
    ) -> Float[Array, "*shape"]:
        """The outward current (uA/cm^2)."""


def conductance(owner: str, g_max: ArrayLike) -> Float[Array, "..."]:
    g_max = param(owner, "g_max", g_max)
    check(owner, "g_max", g_max, lambda v: v >= 0, "a non-negative conductance in mS/cm^2")
    return g_max


def exprel(z: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """z / (1 - exp(-z)), finite with finite gradients at its removable singularity z = 0.

    Rate functions of the form a (v - v0) / (1 - exp(-(v - v0) / k)) are a k exprel((v - v0) / k).
    """
    small = jnp.abs(z) < 1e-3
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 + z / 2 + z * z / 12, z_safe / -jnp.expm1(-z_safe))


def gate_rate(alpha, beta, x):
    """dx/dt = alpha (1 - x) - beta x."""
    return alpha * (1.0 - x) - beta * x
