"""Hindmarsh-Rose bursting neuron."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, param
from ..integrators import StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._conductance import resting_potential, upward_crossing
from ._if_base import check_solver


class HindmarshRoseState(eqx.Module):
    v: Float[Array, "*shape"]
    y: Float[Array, "*shape"]
    z: Float[Array, "*shape"]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class HindmarshRose(DynamicalSystem):
    """Hindmarsh-Rose neuron: a fast spiking subsystem (v, y) driven by a slow adaptation z.

        dv/dt = y - a v^3 + b v^2 - z + I
        dy/dt = c - d v^2 - y
        dz/dt = r (s (v - v_rest) - z)

    (v is the x of Hindmarsh & Rose; v_rest their x_r.) A spike is emitted at the step where v
    crosses `v_th` upwards (one per crossing; v is not reset). With the defaults (BrainPy's
    `HindmarshRose`) the neuron rests for I = 0 and bursts for I = 3: three spikes per burst,
    then about 60 time units of quiescence while z recovers.
    Units: the model is dimensionless; its time unit is taken as 1 ms, so `dt` and `r` (1/ms)
    are in the simulator's units. v, y, z, I, v_rest, v_th are dimensionless.
    `init_state` is the I = 0 fixed point (found by Newton's method from v_rest; unique whenever
    3 a v^2 - 2 (b - d) v + s > 0 for all v, as for the defaults).
    Default solver: `diffrax.Tsit5()`. Bursting is sensitive to integration error: at I = 3 and
    dt = 0.05, exponential Euler fires tonically instead of bursting, and Heun shifts the
    intra-burst intervals by 1%, while Tsit5 stays within 1e-4 of a tight-tolerance reference
    over 300 time units. In float32 prefer dt around 0.05: z changes by only ~r dt per step,
    and with much smaller steps its rounding errors accumulate.
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    Reference: Hindmarsh & Rose (1984), A model of neuronal bursting using three coupled first
    order differential equations, Proc R Soc Lond B 221:87-102.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    a: Float[Array, "*#size"]
    b: Float[Array, "*#size"]
    c: Float[Array, "*#size"]
    d: Float[Array, "*#size"]
    r: Float[Array, "*#size"]
    s: Float[Array, "*#size"]
    v_rest: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        a: ArrayLike = 1.0,
        b: ArrayLike = 3.0,
        c: ArrayLike = 1.0,
        d: ArrayLike = 5.0,
        r: ArrayLike = 0.01,
        s: ArrayLike = 4.0,
        v_rest: ArrayLike = -1.6,
        v_th: ArrayLike = 1.0,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = diffrax.Tsit5(),
    ):
        owner = "HindmarshRose"
        self.size = as_shape(owner, size)
        self.a, self.b, self.c, self.d = (
            param(owner, name, value, self.size)
            for name, value in (("a", a), ("b", b), ("c", c), ("d", d))
        )
        self.r = param(owner, "r", r, self.size)
        check(owner, "r", self.r, lambda v: v >= 0, "a non-negative rate in 1/ms")
        self.s = param(owner, "s", s, self.size)
        self.v_rest = param(owner, "v_rest", v_rest, self.size)
        self.v_th = param(owner, "v_th", v_th, self.size)
        check_solver(owner, solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> HindmarshRoseState:
        shape = tuple(batch_shape) + self.size
        dtype = self.a.dtype
        v = resting_potential(self._steady_current, jnp.broadcast_to(self.v_rest, shape))
        v = v.astype(dtype)
        y, z = self._y_inf(v), self._z_inf(v)
        zeros = jnp.zeros(shape, dtype)
        carry = init_carry(self.solver, self.vector_field, (v, y, z), zeros)
        return HindmarshRoseState(v=v, y=y, z=z, spike=zeros, carry=carry)

    def _y_inf(self, v):
        return self.c - self.d * v * v

    def _z_inf(self, v):
        return self.s * (v - self.v_rest)

    def _steady_current(self, v):
        # The input I that holds v still with y and z at their steady states (-dv/dt at I = 0).
        return self.a * v**3 - self.b * v * v + self._z_inf(v) - self._y_inf(v)

    def vector_field(self, t, y, current):
        v, y, z = y
        dv = y - self.a * v**3 + self.b * v * v - z + current
        dy = self._y_inf(v) - y
        dz = self.r * (self._z_inf(v) - z)
        return dv, dy, dz

    def __call__(
        self, state: HindmarshRoseState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[HindmarshRoseState, Float[Array, "*shape"]]:
        check_dt("HindmarshRose", dt)
        current = broadcast_input("HindmarshRose", "current", current, state.v.shape)
        (v, y, z), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.v, state.y, state.z), current,
            state.carry, owner="HindmarshRose",
        )  # fmt: skip
        spike = upward_crossing(self.spike_fn, state.v, v, self.v_th)
        return HindmarshRoseState(v=v, y=y, z=z, spike=spike, carry=carry), spike
