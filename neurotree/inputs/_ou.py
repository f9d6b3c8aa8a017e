"""Ornstein-Uhlenbeck current."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate


class OUState(eqx.Module):
    x: Float[Array, "*shape"]
    carry: StepCarry | None


class OUProcess(DynamicalSystem):
    """Ornstein-Uhlenbeck current.

        dx = (mean + I - x) / tau dt + sigma sqrt(2 / tau) dW

    Stationary mean `mean + I` and standard deviation `sigma`; autocorrelation time `tau`.
    Units: x, mean, sigma and the optional input I in the unit of the current it models (e.g.
    nA), tau in ms. Outputs: x. Starts at `mean` unless `init_state(..., key=key)` is given a key,
    in which case it starts from the stationary distribution. Needs a key to step.

    Reference: Uhlenbeck & Ornstein (1930), Phys Rev 36:823; Destexhe et al. (2001),
    Neuroscience 107:13 (point-conductance fluctuating inputs).
    """

    size: tuple[int, ...] = eqx.field(static=True)
    mean: Float[Array, "*#size"]
    sigma: Float[Array, "*#size"]
    tau: Float[Array, "*#size"]
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        mean: ArrayLike = 0.0,
        sigma: ArrayLike = 1.0,
        tau: ArrayLike = 10.0,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        self.size = as_shape("OUProcess", size)
        self.mean = param("OUProcess", "mean", mean, self.size)
        self.sigma = param("OUProcess", "sigma", sigma, self.size)
        check("OUProcess", "sigma", self.sigma, lambda v: v >= 0, "non-negative")
        self.tau = param("OUProcess", "tau", tau, self.size)
        check("OUProcess", "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> OUState:
        shape = tuple(batch_shape) + self.size
        x = jnp.broadcast_to(self.mean, shape).astype(self.tau.dtype)
        if key is not None:
            x = x + self.sigma * jax.random.normal(key, shape, x.dtype)
        carry = init_carry(self.solver, self.vector_field, x, jnp.zeros_like(x), self.diffusion)
        return OUState(x=x, carry=carry)

    def vector_field(self, t, x, current):
        return (self.mean + current - x) / self.tau

    def diffusion(self, t, x, current):
        return jnp.broadcast_to(self.sigma * jnp.sqrt(2.0 / self.tau), x.shape)

    def __call__(
        self, state: OUState, current=None, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[OUState, Float[Array, "*shape"]]:
        check_dt("OUProcess", dt)
        current = broadcast_input("OUProcess", "current", current, state.x.shape)
        x, carry = integrate(
            self.solver, self.vector_field, t, dt, state.x, current, state.carry,
            diffusion=self.diffusion, key=key, owner="OUProcess",
        )  # fmt: skip
        return OUState(x=x, carry=carry), x
