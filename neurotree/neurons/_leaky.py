"""Leaky integrator: a non-spiking membrane, the readout layer of spiking networks."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ._if_base import check_solver


class LeakyIntegratorState(eqx.Module):
    v: Float[Array, "*shape"]
    carry: StepCarry | None


class LeakyIntegrator(DynamicalSystem):
    """Leaky integrator: a LIF membrane without threshold or reset.

        tau dv/dt = -(v - v_rest) + R I

    The usual readout of a trained spiking network: its membrane potential low-pass filters the
    input current, and a readout (`nt.training.mean_readout`, `max_readout`, `last_readout`)
    turns the record of v into logits. Under a constant current from rest,
    v(t) = v_rest + R I (1 - exp(-t / tau)); the default solver, exponential Euler, is exact
    for a current held constant over each step. Outputs: v (mV), not the state, so that the
    records are the membrane potentials directly. Units: v in mV, t in ms, I in nA with R in
    MOhm (any pair whose product is mV works).

    Reference: Gerstner, Kistler, Naud & Paninski (2014), Neuronal Dynamics, ch. 1.3, Cambridge
    University Press; the non-spiking readouts of Zenke & Vogels (2021), Neural Computation
    33(4):899-925 (BrainPy's `Leaky`, snnTorch's `Leaky` with no reset).
    """

    size: tuple[int, ...] = eqx.field(static=True)
    tau: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
    v_rest: Float[Array, "*#size"]
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        tau: ArrayLike = 10.0,
        R: ArrayLike = 1.0,
        v_rest: ArrayLike = 0.0,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        owner = "LeakyIntegrator"
        self.size = as_shape(owner, size)
        self.tau = param(owner, "tau", tau, self.size)
        check(owner, "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.R = param(owner, "R", R, self.size)
        self.v_rest = param(owner, "v_rest", v_rest, self.size)
        check_solver(owner, solver)
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> LeakyIntegratorState:
        shape = tuple(batch_shape) + self.size
        v = jnp.broadcast_to(self.v_rest, shape).astype(self.tau.dtype)
        carry = init_carry(self.solver, self.vector_field, v, jnp.zeros(shape, v.dtype))
        return LeakyIntegratorState(v=v, carry=carry)

    def vector_field(self, t, v, current):
        return (-(v - self.v_rest) + self.R * current) / self.tau

    def __call__(
        self, state: LeakyIntegratorState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[LeakyIntegratorState, Float[Array, "*shape"]]:
        check_dt("LeakyIntegrator", dt)
        current = broadcast_input("LeakyIntegrator", "current", current, state.v.shape)
        v, carry = integrate(
            self.solver, self.vector_field, t, dt, state.v, current, state.carry,
            owner="LeakyIntegrator",
        )  # fmt: skip
        return LeakyIntegratorState(v=v, carry=carry), v
