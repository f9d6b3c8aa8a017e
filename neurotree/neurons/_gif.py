"""Generalised integrate-and-fire neuron of Mihalas and Niebur."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._if_base import check_below, check_solver, fire


class GIFState(eqx.Module):
    v: Float[Array, "*shape"]
    I1: Float[Array, "*shape"]
    I2: Float[Array, "*shape"]
    v_th: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class GIF(DynamicalSystem):
    """Generalised integrate-and-fire neuron (Mihalas-Niebur model).

        dI1/dt = -k1 I1
        dI2/dt = -k2 I2
        tau dv/dt = -(v - v_rest) + R (I + I1 + I2) (+ tau * noise * xi(t))
        dv_th/dt = a (v - v_rest) - b (v_th - theta_inf)

    The threshold v_th (the paper's Theta) is a state variable. When v >= v_th a spike is
    emitted and I1 -> R1 I1 + A1, I2 -> R2 I2 + A2, v -> v_reset (held for `tau_ref`),
    v_th -> max(theta_reset, v_th). With a > 0 the threshold rises with depolarisation
    (spike-frequency adaptation, accommodation); the spike-induced currents I1, I2 give bursting
    and other patterns. `init_state` starts at rest: v = v_rest, I1 = I2 = 0, v_th = theta_inf
    (for theta_inf < v_rest there is no rest; set `v_th` in the state, e.g. with `eqx.tree_at`).
    Units: v, v_rest, v_reset, v_th, theta_inf, theta_reset in mV; tau, tau_ref in ms; k1, k2,
    b in 1/ms; a in 1/ms (mV of threshold per mV of depolarisation per ms); I, I1, I2, A1, A2 in
    nA with R in MOhm (any pair whose product is mV works; the defaults R = 20, tau = 20 take the
    paper's I/C in V/s as I); R1, R2 dimensionless; `noise` in mV / sqrt(ms).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    Reference: Mihalas & Niebur (2009), A generalized linear integrate-and-fire neural model
    produces diverse spiking behaviors, Neural Computation 21(3), 704-718. Parameter names and
    defaults follow BrainPy's `GIF`.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    theta_inf: Float[Array, "*#size"]
    theta_reset: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
    tau: Float[Array, "*#size"]
    a: Float[Array, "*#size"]
    b: Float[Array, "*#size"]
    k1: Float[Array, "*#size"]
    k2: Float[Array, "*#size"]
    R1: Float[Array, "*#size"]
    R2: Float[Array, "*#size"]
    A1: Float[Array, "*#size"]
    A2: Float[Array, "*#size"]
    tau_ref: Float[Array, "*#size"]
    noise: Float[Array, "*#size"] | None
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        v_rest: ArrayLike = -70.0,
        v_reset: ArrayLike = -70.0,
        theta_inf: ArrayLike = -50.0,
        theta_reset: ArrayLike = -60.0,
        R: ArrayLike = 20.0,
        tau: ArrayLike = 20.0,
        a: ArrayLike = 0.0,
        b: ArrayLike = 0.01,
        k1: ArrayLike = 0.2,
        k2: ArrayLike = 0.02,
        R1: ArrayLike = 0.0,
        R2: ArrayLike = 1.0,
        A1: ArrayLike = 0.0,
        A2: ArrayLike = 0.0,
        tau_ref: ArrayLike = 0.0,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = ExponentialEuler(),
        detach_reset: bool = True,
    ):
        owner = "GIF"
        self.size = as_shape(owner, size)
        self.v_rest = param(owner, "v_rest", v_rest, self.size)
        self.v_reset = param(owner, "v_reset", v_reset, self.size)
        self.theta_inf = param(owner, "theta_inf", theta_inf, self.size)
        self.theta_reset = param(owner, "theta_reset", theta_reset, self.size)
        # theta_reset is the lowest threshold after a spike: a reset neuron must lie below it.
        check_below(owner, "v_reset", self.v_reset, "theta_reset", self.theta_reset)
        self.R = param(owner, "R", R, self.size)
        self.tau = param(owner, "tau", tau, self.size)
        check(owner, "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.a = param(owner, "a", a, self.size)
        self.b = param(owner, "b", b, self.size)
        check(owner, "b", self.b, lambda v: v >= 0, "a non-negative rate in 1/ms")
        self.k1 = param(owner, "k1", k1, self.size)
        check(owner, "k1", self.k1, lambda v: v >= 0, "a non-negative rate in 1/ms")
        self.k2 = param(owner, "k2", k2, self.size)
        check(owner, "k2", self.k2, lambda v: v >= 0, "a non-negative rate in 1/ms")
        self.R1 = param(owner, "R1", R1, self.size)
        self.R2 = param(owner, "R2", R2, self.size)
        self.A1 = param(owner, "A1", A1, self.size)
        self.A2 = param(owner, "A2", A2, self.size)
        self.tau_ref = param(owner, "tau_ref", tau_ref, self.size)
        check(owner, "tau_ref", self.tau_ref, lambda v: v >= 0, "a non-negative time in ms")
        self.noise = None if noise is None else param(owner, "noise", noise, self.size)
        check_solver(owner, solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> GIFState:
        shape = tuple(batch_shape) + self.size
        dtype = self.tau.dtype
        v = jnp.broadcast_to(self.v_rest, shape).astype(dtype)
        v_th = jnp.broadcast_to(self.theta_inf, shape).astype(dtype)
        zeros = jnp.zeros(shape, dtype)
        y = (v, zeros, zeros, v_th)
        carry = init_carry(self.solver, self.vector_field, y, zeros, self._diffusion())
        return GIFState(
            v=v, I1=zeros, I2=zeros, v_th=v_th, refractory=zeros, spike=zeros, carry=carry
        )

    def vector_field(self, t, y, current):
        v, I1, I2, v_th = y
        dv = (-(v - self.v_rest) + self.R * (current + I1 + I2)) / self.tau
        dI1 = -self.k1 * I1
        dI2 = -self.k2 * I2
        dv_th = self.a * (v - self.v_rest) - self.b * (v_th - self.theta_inf)
        return dv, dI1, dI2, dv_th

    def diffusion(self, t, y, current):
        v, I1, I2, v_th = y
        zeros = jnp.zeros_like(v)
        return jnp.broadcast_to(self.noise, v.shape), zeros, zeros, zeros

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: GIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[GIFState, Float[Array, "*shape"]]:
        check_dt("GIF", dt)
        current = broadcast_input("GIF", "current", current, state.v.shape)
        y = (state.v, state.I1, state.I2, state.v_th)
        (v, I1, I2, v_th), carry = integrate(
            self.solver, self.vector_field, t, dt, y, current, state.carry,
            diffusion=self._diffusion(), key=key, owner="GIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, v_th, self.v_reset, state.refractory,
            self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        gate = jax.lax.stop_gradient(spike) if self.detach_reset else spike
        I1 = (1.0 - gate) * I1 + gate * (self.R1 * I1 + self.A1)
        I2 = (1.0 - gate) * I2 + gate * (self.R2 * I2 + self.A2)
        v_th = (1.0 - gate) * v_th + gate * jnp.maximum(self.theta_reset, v_th)
        state = GIFState(
            v=v, I1=I1, I2=I2, v_th=v_th, refractory=refractory, spike=spike, carry=carry
        )
        return state, spike
