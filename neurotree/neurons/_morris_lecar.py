"""Morris-Lecar neuron."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._conductance import resting_potential, upward_crossing
from ._if_base import check_solver


class MorrisLecarState(eqx.Module):
    v: Float[Array, "*shape"]
    w: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class MorrisLecar(DynamicalSystem):
    """Morris-Lecar neuron: an instantaneous Ca2+ current and a delayed K+ current.

        C dv/dt = -g_Ca m_inf(v) (v - V_Ca) - g_K w (v - V_K) - g_leak (v - V_leak) + I
        dw/dt = phi cosh((v - V3) / (2 V4)) (w_inf(v) - w)
        m_inf(v) = (1 + tanh((v - V1) / V2)) / 2,   w_inf(v) = (1 + tanh((v - V3) / V4)) / 2

    A spike is emitted at the step where v crosses `v_th` upwards (one per crossing; v is not
    reset). The defaults are BrainPy's `MorrisLecar`: the Hopf (class II) set of Rinzel &
    Ermentrout (1998) except V_Ca = 130 mV where they use 120 mV. With them the neuron rests at
    -60.8 mV for I = 0, loses stability in a subcritical Hopf bifurcation at I = 88.6 uA/cm^2 and
    fires repetitively from about 9 Hz near onset.
    Units: v, V_Ca, V_K, V_leak, V1-V4, v_th in mV; C in uF/cm^2; g_Ca, g_K, g_leak in mS/cm^2;
    I in uA/cm^2; phi in 1/ms. `init_state` is the I = 0 fixed point (found by Newton's method
    from V_leak; unique for the defaults, whose steady-state I-V curve is monotone).
    Default solver: `diffrax.Tsit5()`. v and w are coupled nonlinearly, so exponential Euler
    is first order here: at I = 100 uA/cm^2 and dt = 0.1 ms it shortens the firing period by
    0.17% (Heun's error is 0.002%), while Tsit5 stays within 1e-6 mV of a tight-tolerance reference
    for dt up to 0.2 ms (in float64; float32 rounding dominates that).
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    References: Morris & Lecar (1981), Voltage oscillations in the barnacle giant muscle fiber,
    Biophys J 35:193-213; Rinzel & Ermentrout (1998), Analysis of neural excitability and
    oscillations, in Koch & Segev (eds.), Methods in Neuronal Modeling, 2nd ed., MIT Press.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    V_Ca: Float[Array, "*#size"]
    g_Ca: Float[Array, "*#size"]
    V_K: Float[Array, "*#size"]
    g_K: Float[Array, "*#size"]
    V_leak: Float[Array, "*#size"]
    g_leak: Float[Array, "*#size"]
    C: Float[Array, "*#size"]
    V1: Float[Array, "*#size"]
    V2: Float[Array, "*#size"]
    V3: Float[Array, "*#size"]
    V4: Float[Array, "*#size"]
    phi: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        V_Ca: ArrayLike = 130.0,
        g_Ca: ArrayLike = 4.4,
        V_K: ArrayLike = -84.0,
        g_K: ArrayLike = 8.0,
        V_leak: ArrayLike = -60.0,
        g_leak: ArrayLike = 2.0,
        C: ArrayLike = 20.0,
        V1: ArrayLike = -1.2,
        V2: ArrayLike = 18.0,
        V3: ArrayLike = 2.0,
        V4: ArrayLike = 30.0,
        phi: ArrayLike = 0.04,
        v_th: ArrayLike = 10.0,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = diffrax.Tsit5(),
    ):
        owner = "MorrisLecar"
        self.size = as_shape(owner, size)
        self.V_Ca, self.V_K, self.V_leak = (
            param(owner, name, value, self.size)
            for name, value in (("V_Ca", V_Ca), ("V_K", V_K), ("V_leak", V_leak))
        )
        self.g_Ca, self.g_K, self.g_leak = (
            param(owner, name, value, self.size)
            for name, value in (("g_Ca", g_Ca), ("g_K", g_K), ("g_leak", g_leak))
        )
        for name in ("g_Ca", "g_K", "g_leak"):
            value = getattr(self, name)
            check(owner, name, value, lambda v: v >= 0, "a conductance >= 0 (mS/cm^2)")
        self.C = param(owner, "C", C, self.size)
        check(owner, "C", self.C, lambda v: v > 0, "a positive capacitance in uF/cm^2")
        self.V1, self.V2, self.V3, self.V4 = (
            param(owner, name, value, self.size)
            for name, value in (("V1", V1), ("V2", V2), ("V3", V3), ("V4", V4))
        )
        for name in ("V2", "V4"):
            check(owner, name, getattr(self, name), lambda v: v > 0, "a positive slope in mV")
        self.phi = param(owner, "phi", phi, self.size)
        check(owner, "phi", self.phi, lambda v: v > 0, "a positive rate in 1/ms")
        self.v_th = param(owner, "v_th", v_th, self.size)
        check_solver(owner, solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> MorrisLecarState:
        shape = tuple(batch_shape) + self.size
        dtype = self.C.dtype
        v = resting_potential(self._steady_current, jnp.broadcast_to(self.V_leak, shape))
        v = v.astype(dtype)
        w = self._w_inf(v)
        zeros = jnp.zeros(shape, dtype)
        carry = init_carry(self.solver, self.vector_field, (v, w), zeros)
        return MorrisLecarState(v=v, w=w, spike=zeros, carry=carry)

    def _w_inf(self, v):
        return 0.5 * (1.0 + jnp.tanh((v - self.V3) / self.V4))

    def _ionic_current(self, v, w):
        m_inf = 0.5 * (1.0 + jnp.tanh((v - self.V1) / self.V2))
        i_ca = self.g_Ca * m_inf * (v - self.V_Ca)
        i_k = self.g_K * w * (v - self.V_K)
        return i_ca + i_k + self.g_leak * (v - self.V_leak)

    def _steady_current(self, v):
        return self._ionic_current(v, self._w_inf(v))

    def vector_field(self, t, y, current):
        v, w = y
        dv = (current - self._ionic_current(v, w)) / self.C
        dw = self.phi * jnp.cosh((v - self.V3) / (2.0 * self.V4)) * (self._w_inf(v) - w)
        return dv, dw

    def __call__(
        self, state: MorrisLecarState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[MorrisLecarState, Float[Array, "*shape"]]:
        check_dt("MorrisLecar", dt)
        current = broadcast_input("MorrisLecar", "current", current, state.v.shape)
        (v, w), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.v, state.w), current, state.carry,
            owner="MorrisLecar",
        )  # fmt: skip
        spike = upward_crossing(self.spike_fn, state.v, v, self.v_th)
        return MorrisLecarState(v=v, w=w, spike=spike, carry=carry), spike
