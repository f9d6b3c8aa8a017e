"""Adaptive leaky integrate-and-fire neuron (adaptive threshold)."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._if_base import check_if_params, check_solver, fire


class ALIFState(eqx.Module):
    v: Float[Array, "*shape"]
    a: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class ALIF(DynamicalSystem):
    """Adaptive leaky integrate-and-fire neuron: a LIF whose threshold rises with each spike.

        tau   dv/dt = -(v - v_rest) + R I (+ tau * noise * xi(t))
        tau_a da/dt = -a
        A = v_th + beta a

    A spike is emitted when v >= A (the threshold at the end of the step); v is then reset to
    v_reset and held there for `tau_ref`, and a -> a + 1. Between spikes a decays as
    a(t) = a(0) exp(-t / tau_a), so a firing neuron's threshold climbs and its inter-spike
    intervals lengthen (spike-frequency adaptation) over the time scale tau_a. With beta = 0 it
    is `nt.neurons.LIF` step for step.
    Units: v, v_rest, v_reset, v_th in mV; beta in mV per unit of a (a is dimensionless: the
    spike count filtered with tau_a); tau, tau_a, tau_ref in ms; I in nA with R in MOhm (any
    pair whose product is mV works); `noise` in mV / sqrt(ms).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`, evaluated at
    v - A). `detach_reset` detaches the voltage reset from the gradient (the default); the
    increment of a always carries the spike's surrogate gradient, as in the LSNNs of Bellec et
    al., where it is how errors reach the adaptation.

    Reference: Bellec, Salaj, Subramoney, Legenstein & Maass (2018), Long short-term memory and
    learning-to-learn in networks of spiking neurons, NeurIPS 31, 787-797; Bellec et al. (2020),
    A solution to the learning dilemma for recurrent networks of spiking neurons, Nat Commun
    11:3625 (Methods, ALIF).
    """

    size: tuple[int, ...] = eqx.field(static=True)
    tau: Float[Array, "*#size"]
    tau_a: Float[Array, "*#size"]
    beta: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    tau_ref: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
    noise: Float[Array, "*#size"] | None
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        tau: ArrayLike = 20.0,
        tau_a: ArrayLike = 200.0,
        beta: ArrayLike = 2.0,
        v_th: ArrayLike = 20.0,
        v_rest: ArrayLike = 0.0,
        v_reset: ArrayLike = -5.0,
        tau_ref: ArrayLike = 0.0,
        R: ArrayLike = 1.0,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = ExponentialEuler(),
        detach_reset: bool = True,
    ):
        owner = "ALIF"
        self.size = as_shape(owner, size)
        self.tau = param(owner, "tau", tau, self.size)
        check(owner, "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.tau_a = param(owner, "tau_a", tau_a, self.size)
        check(owner, "tau_a", self.tau_a, lambda v: v > 0, "a positive time constant in ms")
        self.beta = param(owner, "beta", beta, self.size)
        check(owner, "beta", self.beta, lambda v: v >= 0, "a non-negative threshold step in mV")
        self.v_rest = param(owner, "v_rest", v_rest, self.size)
        self.v_reset, self.v_th, self.tau_ref = check_if_params(
            owner, self.size, v_reset, v_th, tau_ref
        )
        self.R = param(owner, "R", R, self.size)
        self.noise = None if noise is None else param(owner, "noise", noise, self.size)
        check_solver(owner, solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> ALIFState:
        shape = tuple(batch_shape) + self.size
        v = jnp.broadcast_to(self.v_rest, shape).astype(self.tau.dtype)
        zeros = jnp.zeros(shape, v.dtype)
        carry = init_carry(self.solver, self.vector_field, (v, zeros), zeros, self._diffusion())
        return ALIFState(v=v, a=zeros, refractory=zeros, spike=zeros, carry=carry)

    def vector_field(self, t, y, current):
        v, a = y
        return (-(v - self.v_rest) + self.R * current) / self.tau, -a / self.tau_a

    def diffusion(self, t, y, current):
        v, a = y
        return jnp.broadcast_to(self.noise, v.shape), jnp.zeros_like(a)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: ALIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[ALIFState, Float[Array, "*shape"]]:
        check_dt("ALIF", dt)
        current = broadcast_input("ALIF", "current", current, state.v.shape)
        (v, a), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.v, state.a), current, state.carry,
            diffusion=self._diffusion(), key=key, owner="ALIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, self.v_th + self.beta * a, self.v_reset,
            state.refractory, self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        a = a + spike
        return ALIFState(v=v, a=a, refractory=refractory, spike=spike, carry=carry), spike
