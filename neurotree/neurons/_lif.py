"""Leaky integrate-and-fire neuron."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._if_base import check_if_params, check_solver, fire


class LIFState(eqx.Module):
    v: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class LIF(DynamicalSystem):
    """Leaky integrate-and-fire neuron.

        tau dv/dt = -(v - v_rest) + R I (+ tau * noise * xi(t))

    A spike is emitted when v >= v_th; v is then reset to v_reset and held there for `tau_ref`.
    Units: v in mV, t in ms, I in nA with R in MOhm (any pair whose product is mV works),
    `noise` in mV / sqrt(ms) (the standard deviation of dv per sqrt(ms) of white noise).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`). The reset
    is detached from the gradient unless `detach_reset=False`.

    Reference: Lapicque (1907); Gerstner, Kistler, Naud & Paninski (2014), Neuronal Dynamics,
    ch. 1.3, Cambridge University Press.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    tau: Float[Array, "*#size"]
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    tau_ref: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
    noise: Float[Array, "*#size"] | None
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        tau: ArrayLike = 10.0,
        v_rest: ArrayLike = 0.0,
        v_reset: ArrayLike = -5.0,
        v_th: ArrayLike = 20.0,
        tau_ref: ArrayLike = 0.0,
        R: ArrayLike = 1.0,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = ExponentialEuler(),
        detach_reset: bool = True,
    ):
        self.size = as_shape("LIF", size)
        self.tau = param("LIF", "tau", tau, self.size)
        check("LIF", "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.v_rest = param("LIF", "v_rest", v_rest, self.size)
        self.v_reset, self.v_th, self.tau_ref = check_if_params(
            "LIF", self.size, v_reset, v_th, tau_ref
        )
        self.R = param("LIF", "R", R, self.size)
        self.noise = None if noise is None else param("LIF", "noise", noise, self.size)
        check_solver("LIF", solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> LIFState:
        shape = tuple(batch_shape) + self.size
        v = jnp.broadcast_to(self.v_rest, shape).astype(self.tau.dtype)
        zeros = jnp.zeros(shape, v.dtype)
        carry = init_carry(self.solver, self.vector_field, v, zeros, self._diffusion())
        return LIFState(v=v, refractory=zeros, spike=zeros, carry=carry)

    def vector_field(self, t, v, current):
        return (-(v - self.v_rest) + self.R * current) / self.tau

    def diffusion(self, t, v, current):
        return jnp.broadcast_to(self.noise, v.shape)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: LIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[LIFState, Float[Array, "*shape"]]:
        check_dt("LIF", dt)
        current = broadcast_input("LIF", "current", current, state.v.shape)
        v, carry = integrate(
            self.solver, self.vector_field, t, dt, state.v, current, state.carry,
            diffusion=self._diffusion(), key=key, owner="LIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, self.v_th, self.v_reset, state.refractory,
            self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        return LIFState(v=v, refractory=refractory, spike=spike, carry=carry), spike
