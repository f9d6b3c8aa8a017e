"""Quadratic integrate-and-fire neuron."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._if_base import check_if_params, check_solver, fire


class QuaIFState(eqx.Module):
    v: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class QuaIF(DynamicalSystem):
    """Quadratic integrate-and-fire neuron.

        tau dv/dt = c (v - v_rest) (v - v_c) + R I (+ tau * noise * xi(t))

    Without input v_rest is the stable rest and v_c the unstable critical voltage. A spike is
    emitted when v reaches the cut-off v_th; v is reset to v_reset and held there for `tau_ref`.
    Constant currents above the saddle-node rheobase I_rh = c (v_c - v_rest)^2 / (4 R) make it
    fire, with a period that diverges as pi tau / sqrt(c (R I - R I_rh)) near I_rh.
    Units: v, v_rest, v_reset, v_th, v_c in mV; c in 1/mV; tau, tau_ref in ms; I in nA with R in
    MOhm (any pair whose product is mV works); `noise` in mV / sqrt(ms).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    Reference: Latham, Richmond, Nelson & Nirenberg (2000), Intrinsic dynamics in neuronal
    networks. I. Theory, J Neurophysiol 83(2), 808-827; Gerstner, Kistler, Naud & Paninski
    (2014), Neuronal Dynamics, ch. 5.3, Cambridge University Press. Parameter names and defaults
    follow BrainPy's `QuaIF`.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    v_c: Float[Array, "*#size"]
    c: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
    tau: Float[Array, "*#size"]
    tau_ref: Float[Array, "*#size"]
    noise: Float[Array, "*#size"] | None
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        v_rest: ArrayLike = -65.0,
        v_reset: ArrayLike = -68.0,
        v_th: ArrayLike = -30.0,
        v_c: ArrayLike = -50.0,
        c: ArrayLike = 0.07,
        R: ArrayLike = 1.0,
        tau: ArrayLike = 10.0,
        tau_ref: ArrayLike = 0.0,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = ExponentialEuler(),
        detach_reset: bool = True,
    ):
        self.size = as_shape("QuaIF", size)
        self.v_rest = param("QuaIF", "v_rest", v_rest, self.size)
        self.v_reset, self.v_th, self.tau_ref = check_if_params(
            "QuaIF", self.size, v_reset, v_th, tau_ref
        )
        self.v_c = param("QuaIF", "v_c", v_c, self.size)
        self.c = param("QuaIF", "c", c, self.size)
        check("QuaIF", "c", self.c, lambda v: v > 0, "a positive curvature in 1/mV")
        self.R = param("QuaIF", "R", R, self.size)
        self.tau = param("QuaIF", "tau", tau, self.size)
        check("QuaIF", "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.noise = None if noise is None else param("QuaIF", "noise", noise, self.size)
        check_solver("QuaIF", solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> QuaIFState:
        shape = tuple(batch_shape) + self.size
        v = jnp.broadcast_to(self.v_rest, shape).astype(self.tau.dtype)
        zeros = jnp.zeros(shape, v.dtype)
        carry = init_carry(self.solver, self.vector_field, v, zeros, self._diffusion())
        return QuaIFState(v=v, refractory=zeros, spike=zeros, carry=carry)

    def vector_field(self, t, v, current):
        return (self.c * (v - self.v_rest) * (v - self.v_c) + self.R * current) / self.tau

    def diffusion(self, t, v, current):
        return jnp.broadcast_to(self.noise, v.shape)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: QuaIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[QuaIFState, Float[Array, "*shape"]]:
        check_dt("QuaIF", dt)
        current = broadcast_input("QuaIF", "current", current, state.v.shape)
        v, carry = integrate(
            self.solver, self.vector_field, t, dt, state.v, current, state.carry,
            diffusion=self._diffusion(), key=key, owner="QuaIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, self.v_th, self.v_reset, state.refractory,
            self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        return QuaIFState(v=v, refractory=refractory, spike=spike, carry=carry), spike
