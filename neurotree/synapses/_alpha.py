"""Alpha-function synapse."""

import math
from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check_dt
from ..integrators import ExponentialRK2, StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver
from ._base import Synapse, state_shape, time_constant


class AlphaState(eqx.Module):
    h: Float[Array, "*shape"]
    g: Float[Array, "*shape"]
    carry: StepCarry | None = None


class Alpha(Synapse):
    """Alpha-function synapse, normalised so that a unit input peaks at 1 at t = tau.

        tau dh/dt = -h,    tau dg/dt = -g + e h,    h <- h + x   when input x arrives

    A unit input gives g(t) = (t / tau) exp(1 - t / tau). Linear. The two variables are coupled
    (a Jordan block), which exponential solvers with a diagonal linear part do not integrate
    exactly: the default, `ExponentialRK2()`, is second order. For a unit input the largest error
    of g against the analytic alpha function is (dt / tau)^2 / 12 (relative to the peak of 1):
    1.3e-5 at dt = 0.1 ms with tau = 8 ms, 5.2e-5 with tau = 4 ms, 2.1e-4 with tau = 2 ms (the
    tests check this). `ExponentialEuler()` is first order here: (dt / tau) / 2, 6e-3 at
    dt = 0.1 ms, tau = 8 ms.
    Units: t and tau in ms; g in the unit of x (the weight's unit).

    Reference: Rall (1967), Distinguishing theoretical synaptic potentials computed for
    different soma-dendritic distributions of synaptic input, J Neurophysiol 30:1138-1168.
    """

    tau: Float[Array, "..."]
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    linear: ClassVar[bool] = True

    def __init__(self, tau: ArrayLike = 8.0, *, solver: diffrax.AbstractSolver = ExponentialRK2()):
        self.tau = time_constant("Alpha", "tau", tau)
        check_solver("Alpha", solver)
        self.solver = solver

    def init_state(self, shape: int | tuple[int, ...]) -> AlphaState:
        shape = state_shape("Alpha", shape, tau=self.tau)
        zeros = jnp.zeros(shape, self.tau.dtype)
        carry = init_carry(self.solver, self.vector_field, (zeros, zeros), None)
        return AlphaState(h=zeros, g=zeros, carry=carry)

    def vector_field(self, t, y, args):
        h, g = y
        return -h / self.tau, (math.e * h - g) / self.tau

    def __call__(
        self, state: AlphaState, x: ArrayLike, *, t: ArrayLike, dt: ArrayLike
    ) -> tuple[AlphaState, Float[Array, "*shape"]]:
        check_dt("Alpha", dt)
        x = broadcast_input("Alpha", "x", x, state.g.shape)
        (h, g), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.h, state.g), None, state.carry,
            owner="Alpha",
        )  # fmt: skip
        return AlphaState(h=h + x, g=g, carry=carry), g
