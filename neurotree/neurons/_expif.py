"""Exponential integrate-and-fire neurons: ExpIF and its adaptive variant AdExIF."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._if_base import check_if_params, check_solver, fire

# The exponential's argument is also capped here, in case v_th is set far above v_T: exp(30) is
# 1e13, so even the product of two such slopes in a two-stage solver step stays below float32's
# 3e38. Where the cap acts the upstroke already takes less than 1e-9 ms.
_X_MAX = 30.0


def exp_term(v, v_T, delta_T, v_th) -> Array:
    """delta_T exp((v - v_T) / delta_T), with v clipped at the spike cut-off v_th.

    Above v_th the neuron fires and resets, so the clip (NEST's min(V, V_peak)) never changes the
    dynamics; it keeps the term and its gradient finite in float32 for any v.
    """
    x = jnp.minimum((jnp.minimum(v, v_th) - v_T) / delta_T, _X_MAX)
    return delta_T * jnp.exp(x)


def exp_rest(v_rest, v_T, delta_T, k, v_th) -> Array:
    """The stable rest of -k (v - v_rest) + delta_T exp((v - v_T) / delta_T) = 0, or v_rest.

    The left-hand side is convex, so Newton's method from v_rest (where it is positive) climbs
    monotonically to the lower root. If there is no root (the neuron fires without input) or
    it lies above v_th, v_rest is returned.
    """
    k_safe = jnp.where(k > 0, k, 1.0)
    v_min = v_T + delta_T * jnp.log(k_safe)  # where the left-hand side is smallest
    exists = (
        (k > 0) & (v_rest < v_min) & (exp_term(v_min, v_T, delta_T, v_th) <= k * (v_min - v_rest))
    )

    def newton(_, v):
        e = exp_term(v, v_T, delta_T, v_th)
        g = -k_safe * (v - v_rest) + e
        dg = -k_safe + e / delta_T
        dg = jnp.where(dg < 0, dg, -1.0)
        return jnp.minimum(v - g / dg, v_min)

    v = jax.lax.fori_loop(0, 30, newton, jnp.broadcast_arrays(v_rest, v_min, v_th)[0])
    return jnp.where(exists & (v < v_th), v, v_rest)


class ExpIFState(eqx.Module):
    v: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class ExpIF(DynamicalSystem):
    """Exponential integrate-and-fire neuron.

        tau dv/dt = -(v - v_rest) + delta_T exp((v - v_T) / delta_T) + R I (+ tau * noise * xi(t))

    The exponential term makes the upstroke of the spike; v_th is the cut-off where a spike is
    emitted, v is reset to v_reset and held there for `tau_ref`. The exponential's argument is
    clipped at v_th (above it the neuron fires anyway), so it stays finite in float32, as does its
    gradient. Without input the neuron rests slightly above v_rest (`init_state` starts there);
    it fires for constant currents above the rheobase I_rh = (v_T - v_rest - delta_T) / R.
    Units: v, v_rest, v_reset, v_th, v_T, delta_T in mV; tau, tau_ref in ms; I in nA with R in
    MOhm (any pair whose product is mV works); `noise` in mV / sqrt(ms).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    The default solver is `diffrax.Heun()`: with the exponential clipped, an explicit step stays
    bounded for any dt. `ExponentialEuler()` linearises the exponential, whose slope just below
    v_th is exp((v_th - v_T) / delta_T) / tau (about 540 / ms for the defaults); its step grows
    like exp(slope * dt) and can overflow float32 (inf, then NaN) once dt exceeds about
    0.16 ms, or at any dt when v_th is far above v_T.

    Reference: Fourcaud-Trocme, Hansel, van Vreeswijk & Brunel (2003), How spike generation
    mechanisms determine the neuronal response to fluctuating inputs, J Neurosci 23(37),
    11628-11640. Parameter names and defaults follow BrainPy's `ExpIF`.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    v_T: Float[Array, "*#size"]
    delta_T: Float[Array, "*#size"]
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
        v_T: ArrayLike = -59.9,
        delta_T: ArrayLike = 3.48,
        R: ArrayLike = 1.0,
        tau: ArrayLike = 10.0,
        tau_ref: ArrayLike = 1.7,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = diffrax.Heun(),
        detach_reset: bool = True,
    ):
        self.size = as_shape("ExpIF", size)
        self.v_rest = param("ExpIF", "v_rest", v_rest, self.size)
        self.v_reset, self.v_th, self.tau_ref = check_if_params(
            "ExpIF", self.size, v_reset, v_th, tau_ref
        )
        self.v_T = param("ExpIF", "v_T", v_T, self.size)
        self.delta_T = param("ExpIF", "delta_T", delta_T, self.size)
        check("ExpIF", "delta_T", self.delta_T, lambda v: v > 0, "a positive slope factor in mV")
        self.R = param("ExpIF", "R", R, self.size)
        self.tau = param("ExpIF", "tau", tau, self.size)
        check("ExpIF", "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.noise = None if noise is None else param("ExpIF", "noise", noise, self.size)
        check_solver("ExpIF", solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> ExpIFState:
        shape = tuple(batch_shape) + self.size
        rest = exp_rest(self.v_rest, self.v_T, self.delta_T, 1.0, self.v_th)
        v = jnp.broadcast_to(rest, shape).astype(self.tau.dtype)
        zeros = jnp.zeros(shape, v.dtype)
        carry = init_carry(self.solver, self.vector_field, v, zeros, self._diffusion())
        return ExpIFState(v=v, refractory=zeros, spike=zeros, carry=carry)

    def vector_field(self, t, v, current):
        exp = exp_term(v, self.v_T, self.delta_T, self.v_th)
        return (-(v - self.v_rest) + exp + self.R * current) / self.tau

    def diffusion(self, t, v, current):
        return jnp.broadcast_to(self.noise, v.shape)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: ExpIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[ExpIFState, Float[Array, "*shape"]]:
        check_dt("ExpIF", dt)
        current = broadcast_input("ExpIF", "current", current, state.v.shape)
        v, carry = integrate(
            self.solver, self.vector_field, t, dt, state.v, current, state.carry,
            diffusion=self._diffusion(), key=key, owner="ExpIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, self.v_th, self.v_reset, state.refractory,
            self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        return ExpIFState(v=v, refractory=refractory, spike=spike, carry=carry), spike


class AdExIFState(eqx.Module):
    v: Float[Array, "*shape"]
    w: Float[Array, "*shape"]
    refractory: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class AdExIF(DynamicalSystem):
    """Adaptive exponential integrate-and-fire neuron.

        tau dv/dt = -(v - v_rest) + delta_T exp((v - v_T) / delta_T) - R w + R I
                    (+ tau * noise * xi(t))
        tau_w dw/dt = a (v - v_rest) - w

    When v reaches the cut-off v_th a spike is emitted: v -> v_reset (held for `tau_ref`) and
    w -> w + b (w keeps evolving during the refractory period). In both equations v is clipped
    at v_th (which an exact trajectory never exceeds): a step that crosses the cut-off can
    overshoot it far, and the clip keeps float32 finite and w from integrating the overshoot.
    `init_state` starts at the stable rest (v slightly above v_rest, w = a (v - v_rest)).
    Units: v, v_rest, v_reset, v_th, v_T, delta_T in mV; tau, tau_w, tau_ref in ms; I and w in
    nA with R in MOhm (any pair whose product is mV works); a in nA/mV (uS); b in nA;
    `noise` in mV / sqrt(ms).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    The default solver is `diffrax.Heun()`: with the exponential clipped, an explicit step stays
    bounded for any dt. `ExponentialEuler()` linearises the exponential, whose slope just below
    v_th is exp((v_th - v_T) / delta_T) / tau (about 540 / ms for the defaults); its step grows
    like exp(slope * dt) and can overflow float32 (inf, then NaN) once dt exceeds about
    0.16 ms, or at any dt when v_th is far above v_T.

    Reference: Brette & Gerstner (2005), Adaptive exponential integrate-and-fire model as an
    effective description of neuronal activity, J Neurophysiol 94(5), 3637-3642. Parameter names
    and defaults follow BrainPy's `AdExIF`.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    v_rest: Float[Array, "*#size"]
    v_reset: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    v_T: Float[Array, "*#size"]
    delta_T: Float[Array, "*#size"]
    a: Float[Array, "*#size"]
    b: Float[Array, "*#size"]
    tau: Float[Array, "*#size"]
    tau_w: Float[Array, "*#size"]
    tau_ref: Float[Array, "*#size"]
    R: Float[Array, "*#size"]
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
        v_T: ArrayLike = -59.9,
        delta_T: ArrayLike = 3.48,
        a: ArrayLike = 1.0,
        b: ArrayLike = 1.0,
        tau: ArrayLike = 10.0,
        tau_w: ArrayLike = 30.0,
        tau_ref: ArrayLike = 0.0,
        R: ArrayLike = 1.0,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = diffrax.Heun(),
        detach_reset: bool = True,
    ):
        self.size = as_shape("AdExIF", size)
        self.v_rest = param("AdExIF", "v_rest", v_rest, self.size)
        self.v_reset, self.v_th, self.tau_ref = check_if_params(
            "AdExIF", self.size, v_reset, v_th, tau_ref
        )
        self.v_T = param("AdExIF", "v_T", v_T, self.size)
        self.delta_T = param("AdExIF", "delta_T", delta_T, self.size)
        check("AdExIF", "delta_T", self.delta_T, lambda v: v > 0, "a positive slope factor in mV")
        self.a = param("AdExIF", "a", a, self.size)
        self.b = param("AdExIF", "b", b, self.size)
        self.tau = param("AdExIF", "tau", tau, self.size)
        check("AdExIF", "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        self.tau_w = param("AdExIF", "tau_w", tau_w, self.size)
        check("AdExIF", "tau_w", self.tau_w, lambda v: v > 0, "a positive time constant in ms")
        self.R = param("AdExIF", "R", R, self.size)
        self.noise = None if noise is None else param("AdExIF", "noise", noise, self.size)
        check_solver("AdExIF", solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver
        self.detach_reset = detach_reset

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> AdExIFState:
        shape = tuple(batch_shape) + self.size
        k = 1.0 + self.R * self.a
        rest = exp_rest(self.v_rest, self.v_T, self.delta_T, k, self.v_th)
        v = jnp.broadcast_to(rest, shape).astype(self.tau.dtype)
        w = jnp.broadcast_to(self.a * (rest - self.v_rest), shape).astype(v.dtype)
        zeros = jnp.zeros(shape, v.dtype)
        carry = init_carry(self.solver, self.vector_field, (v, w), zeros, self._diffusion())
        return AdExIFState(v=v, w=w, refractory=zeros, spike=zeros, carry=carry)

    def vector_field(self, t, y, current):
        v, w = y
        exp = exp_term(v, self.v_T, self.delta_T, self.v_th)
        dv = (-(v - self.v_rest) + exp - self.R * w + self.R * current) / self.tau
        # w sees v clipped at the cut-off too: an exact trajectory never exceeds v_th, but a
        # solver step that crosses it can overshoot by orders of magnitude.
        dw = (self.a * (jnp.minimum(v, self.v_th) - self.v_rest) - w) / self.tau_w
        return dv, dw

    def diffusion(self, t, y, current):
        v, w = y
        return jnp.broadcast_to(self.noise, v.shape), jnp.zeros_like(w)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: AdExIFState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[AdExIFState, Float[Array, "*shape"]]:
        check_dt("AdExIF", dt)
        current = broadcast_input("AdExIF", "current", current, state.v.shape)
        (v, w), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.v, state.w), current, state.carry,
            diffusion=self._diffusion(), key=key, owner="AdExIF",
        )  # fmt: skip
        v, spike, refractory = fire(
            self.spike_fn, state.v, v, self.v_th, self.v_reset, state.refractory,
            self.tau_ref, dt, self.detach_reset,
        )  # fmt: skip
        w = w + self.b * (jax.lax.stop_gradient(spike) if self.detach_reset else spike)
        state = AdExIFState(v=v, w=w, refractory=refractory, spike=spike, carry=carry)
        return state, spike
