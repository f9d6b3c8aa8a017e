"""Exponential synapse."""

from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check_dt
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver
from ._base import Synapse, state_shape, time_constant


class ExponState(eqx.Module):
    g: Float[Array, "*shape"]
    carry: StepCarry | None = None


class Expon(Synapse):
    """Exponential synapse: a jump on arrival, then an exponential decay.

        dg/dt = -g / tau,        g <- g + x   when input x arrives

    A unit input gives g(t) = exp(-t / tau). With the default solver, `ExponentialEuler()`, each
    step multiplies g by exp(-dt / tau): exact at any dt. Linear (`AlignPost` and `AlignPre` give
    the same currents).
    Units: t and tau in ms; g in the unit of x, i.e. of the weight (dimensionless, or e.g. uS
    with `COBA`, nA with `CUBA`).

    Reference: Dayan & Abbott (2001), Theoretical Neuroscience, ch. 5.8, MIT Press; the
    exponential synapses of Brette et al. (2007), J Comput Neurosci 23:349-398.
    """

    tau: Float[Array, "..."]
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    linear: ClassVar[bool] = True

    def __init__(
        self, tau: ArrayLike = 8.0, *, solver: diffrax.AbstractSolver = ExponentialEuler()
    ):
        self.tau = time_constant("Expon", "tau", tau)
        check_solver("Expon", solver)
        self.solver = solver

    def init_state(self, shape: int | tuple[int, ...]) -> ExponState:
        shape = state_shape("Expon", shape, tau=self.tau)
        g = jnp.zeros(shape, self.tau.dtype)
        return ExponState(g=g, carry=init_carry(self.solver, self.vector_field, g, None))

    def vector_field(self, t, g, args):
        return -g / self.tau

    def __call__(
        self, state: ExponState, x: ArrayLike, *, t: ArrayLike, dt: ArrayLike
    ) -> tuple[ExponState, Float[Array, "*shape"]]:
        check_dt("Expon", dt)
        x = broadcast_input("Expon", "x", x, state.g.shape)
        g, carry = integrate(
            self.solver, self.vector_field, t, dt, state.g, None, state.carry, owner="Expon"
        )
        g = g + x
        return ExponState(g=g, carry=carry), g
