"""Kinetic receptor models driven by a transmitter pulse: AMPA and GABAa."""

from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check_dt, concrete
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver
from ._base import Synapse, non_negative, state_shape, time_constant


def _shown(a: np.ndarray) -> str:
    return str(a[()]) if a.ndim == 0 else str(a)  # a float32 0.1 prints as 0.1


class KineticState(eqx.Module):
    g: Float[Array, "*shape"]
    T_left: Float[Array, "*shape"]  # ms of transmitter pulse left after this step
    carry: StepCarry | None = None


class _Kinetic(Synapse):
    """Two-state receptor kinetics gated by a transmitter pulse (what AMPA and GABAa share)."""

    alpha: Float[Array, "..."]
    beta: Float[Array, "..."]
    T: Float[Array, "..."]
    T_dur: Float[Array, "..."]
    solver: diffrax.AbstractSolver = eqx.field(static=True)
    linear: ClassVar[bool] = False

    def __init__(
        self,
        alpha: ArrayLike,
        beta: ArrayLike,
        T: ArrayLike,
        T_dur: ArrayLike,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        owner = type(self).__name__
        self.alpha = non_negative(owner, "alpha", alpha, "a binding rate in 1/(mM ms)")
        self.beta = non_negative(owner, "beta", beta, "an unbinding rate in 1/ms")
        self.T = non_negative(owner, "T", T, "a transmitter concentration in mM")
        self.T_dur = time_constant(owner, "T_dur", T_dur)
        check_solver(owner, solver)
        self.solver = solver

    def init_state(self, shape: int | tuple[int, ...]) -> KineticState:
        owner = type(self).__name__
        shape = state_shape(
            owner, shape, alpha=self.alpha, beta=self.beta, T=self.T, T_dur=self.T_dur
        )
        zeros = jnp.zeros(shape, self.alpha.dtype)
        carry = init_carry(self.solver, self.vector_field, zeros, zeros)
        return KineticState(g=zeros, T_left=zeros, carry=carry)

    def vector_field(self, t, g, transmitter):
        return self.alpha * transmitter * (1.0 - g) - self.beta * g

    def __call__(
        self, state: KineticState, x: ArrayLike, *, t: ArrayLike, dt: ArrayLike
    ) -> tuple[KineticState, Float[Array, "*shape"]]:
        owner = type(self).__name__
        check_dt(owner, dt)
        T_dur, step = concrete(self.T_dur), concrete(dt)
        if T_dur is not None and step is not None and np.any(T_dur < 0.5 * step):
            raise ValueError(
                f"{owner}(T_dur={_shown(T_dur)}): the transmitter pulse lasts round(T_dur / dt) "
                f"steps, none at dt={_shown(step)}; use a step dt of at most 2 T_dur."
            )
        x = broadcast_input(owner, "x", x, state.g.shape)
        held = state.T_left > 0.5 * dt
        on = x + (1.0 - x) * held.astype(x.dtype)
        g, carry = integrate(
            self.solver, self.vector_field, t, dt, state.g, self.T * on, state.carry, owner=owner
        )
        T_left = jnp.where(
            x > 0,
            jnp.broadcast_to(self.T_dur - dt, x.shape),
            jnp.where(held, state.T_left - dt, 0.0),
        ).astype(state.T_left.dtype)
        return KineticState(g=g, T_left=T_left, carry=carry), g


class AMPA(_Kinetic):
    """AMPA receptor: the kinetic model of Destexhe, Mainen & Sejnowski (1994).

        dg/dt = alpha [T] (1 - g) - beta g

    [T] = T (mM) during round(T_dur / dt) steps from the step in which a spike arrives (a new
    spike restarts the pulse), else 0. While the pulse is on, g relaxes towards
    alpha T / (alpha T + beta) at rate alpha T + beta; then it decays at rate beta. The pulse
    covers the arrival step itself (as in BrainPy): a spike arriving in the step from t to t + dt
    releases transmitter over [t, t + round(T_dur / dt) dt). The pulse indicator is
    x + (1 - x) held (held: 1 while an earlier pulse lasts), so gradients reach the spike x; a
    fractional x (an STP release) scales a new pulse. The default solver, `ExponentialEuler()`,
    is exact over each step (linear in g for a fixed [T]). Defaults (as in BrainPy):
    alpha = 0.98 /(mM ms), beta = 0.18 /ms, T = 0.5 mM, T_dur = 0.5 ms; with COBA the reversal is
    usually E = 0 mV.

    Not linear in the input (`linear = False`): g belongs to one pre neuron's terminals, so use
    it per pre neuron (`AlignPre`), not on summed inputs (`AlignPost`).
    Units: t, T_dur in ms; alpha in 1/(mM ms); beta in 1/ms; T in mM; g is the open fraction in
    [0, 1] (dimensionless; the weight scales it, e.g. to uS for `COBA`).

    Reference: Destexhe, Mainen & Sejnowski (1994), An efficient method for computing synaptic
    conductances based on a kinetic model of receptor binding, Neural Comput 6:14-18.
    """

    def __init__(
        self,
        alpha: ArrayLike = 0.98,
        beta: ArrayLike = 0.18,
        T: ArrayLike = 0.5,
        T_dur: ArrayLike = 0.5,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        super().__init__(alpha, beta, T, T_dur, solver=solver)


class GABAa(_Kinetic):
    """GABA_A receptor: the kinetic model of Destexhe, Mainen & Sejnowski (1994), as `AMPA`.

        dg/dt = alpha [T] (1 - g) - beta g

    Same pulse, gradient and solver rules as `AMPA` (nonlinear: use it with `AlignPre`), with
    BrainPy's GABA_A defaults: alpha = 0.53 /(mM ms), beta = 0.18 /ms, T = 1 mM, T_dur = 1 ms;
    with COBA the reversal is usually E = -80 mV. Units as for `AMPA`.

    Reference: Destexhe, Mainen & Sejnowski (1994), Neural Comput 6:14-18.
    """

    def __init__(
        self,
        alpha: ArrayLike = 0.53,
        beta: ArrayLike = 0.18,
        T: ArrayLike = 1.0,
        T_dur: ArrayLike = 1.0,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        super().__init__(alpha, beta, T, T_dur, solver=solver)
