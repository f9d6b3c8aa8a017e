"""Dual-exponential synapse (difference of exponentials)."""

from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check_dt
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..neurons._if_base import check_below, check_solver
from ._base import Synapse, state_shape, time_constant


class DualExponState(eqx.Module):
    g_rise: Float[Array, "*shape"]
    g_decay: Float[Array, "*shape"]
    carry: StepCarry | None = None


class DualExpon(Synapse):
    """Dual-exponential synapse, normalised so that a unit input peaks at exactly 1.

        dg_rise/dt = -g_rise / tau_rise,   dg_decay/dt = -g_decay / tau_decay,
        g_rise, g_decay <- g_rise + x, g_decay + x   when input x arrives,
        g = A (g_decay - g_rise),
        A = 1 / (exp(-t_peak / tau_decay) - exp(-t_peak / tau_rise)),
        t_peak = tau_rise tau_decay / (tau_decay - tau_rise) ln(tau_decay / tau_rise).

    A unit input gives g(t) = A (exp(-t / tau_decay) - exp(-t / tau_rise)), rising from 0 to 1 at
    t_peak. Needs tau_rise < tau_decay. With the default solver, `ExponentialEuler()`, both
    variables decay exactly over each step, at any dt. Linear.
    Units: t, tau_rise and tau_decay in ms; g in the unit of x (the weight's unit).

    Reference: Roth & van Rossum (2009), Modeling synapses, in De Schutter (ed.), Computational
    Modeling Methods for Neuroscientists, MIT Press, eq. 6.4.
    """

    tau_rise: Float[Array, "..."]
    tau_decay: Float[Array, "..."]
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    linear: ClassVar[bool] = True

    def __init__(
        self,
        tau_rise: ArrayLike = 1.0,
        tau_decay: ArrayLike = 10.0,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        self.tau_rise = time_constant("DualExpon", "tau_rise", tau_rise)
        self.tau_decay = time_constant("DualExpon", "tau_decay", tau_decay)
        check_below("DualExpon", "tau_rise", self.tau_rise, "tau_decay", self.tau_decay)
        check_solver("DualExpon", solver)
        self.solver = solver

    @property
    def t_peak(self) -> Float[Array, "..."]:
        """The time (ms) from an input to the peak of its response."""
        r, d = self.tau_rise, self.tau_decay
        return r * d / (d - r) * jnp.log(d / r)

    @property
    def A(self) -> Float[Array, "..."]:
        """The normalisation that makes a unit input peak at 1."""
        tp = self.t_peak
        return 1.0 / (jnp.exp(-tp / self.tau_decay) - jnp.exp(-tp / self.tau_rise))

    def init_state(self, shape: int | tuple[int, ...]) -> DualExponState:
        shape = state_shape("DualExpon", shape, tau_rise=self.tau_rise, tau_decay=self.tau_decay)
        zeros = jnp.zeros(shape, self.tau_rise.dtype)
        carry = init_carry(self.solver, self.vector_field, (zeros, zeros), None)
        return DualExponState(g_rise=zeros, g_decay=zeros, carry=carry)

    def vector_field(self, t, y, args):
        g_rise, g_decay = y
        return -g_rise / self.tau_rise, -g_decay / self.tau_decay

    def __call__(
        self, state: DualExponState, x: ArrayLike, *, t: ArrayLike, dt: ArrayLike
    ) -> tuple[DualExponState, Float[Array, "*shape"]]:
        check_dt("DualExpon", dt)
        x = broadcast_input("DualExpon", "x", x, state.g_rise.shape)
        (g_rise, g_decay), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.g_rise, state.g_decay), None,
            state.carry, owner="DualExpon",
        )  # fmt: skip
        g_rise, g_decay = g_rise + x, g_decay + x
        g = self.A * (g_decay - g_rise)
        return DualExponState(g_rise=g_rise, g_decay=g_decay, carry=carry), g
