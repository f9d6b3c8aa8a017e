"""Short-term plasticity (Tsodyks-Markram)."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver
from ._base import state_shape, time_constant


class STPState(eqx.Module):
    u: Float[Array, "*shape"]
    x: Float[Array, "*shape"]
    carry: StepCarry | None = None


class STP(eqx.Module):
    """Tsodyks-Markram short-term facilitation and depression of release.

        du/dt = -u / tau_f,    dx/dt = (1 - x) / tau_d,
        on a spike s:  u <- u + s U (1 - u);  release r = s u x;  x <- x - r

    u is the utilisation of resources, x the fraction available; they start at rest, u = 0 and
    x = 1, so a synapse at rest releases U (the first spike's efficacy). Each step first relaxes
    u and x over dt (the default solver, `ExponentialEuler()`, does this exactly), then applies
    the step's spike s; the release uses u after its facilitating jump (Tsodyks, Pawelzik &
    Markram 1998). `__call__(state, spike, *, t, dt) -> (state, release)`; the release (a
    fraction per spike) is what the projection sends on in place of the spike. Small U with
    tau_f >> tau_d facilitates; large U with tau_d >> tau_f depresses.
    Units: t, tau_f and tau_d in ms; U, u, x and the release dimensionless.

    Reference: Tsodyks, Pawelzik & Markram (1998), Neural networks with dynamic synapses,
    Neural Comput 10:821-835; Mongillo, Barak & Tsodyks (2008), Synaptic theory of working
    memory, Science 319:1543-1546.
    """

    U: Float[Array, "..."]
    tau_f: Float[Array, "..."]
    tau_d: Float[Array, "..."]
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        U: ArrayLike = 0.15,
        tau_f: ArrayLike = 1500.0,
        tau_d: ArrayLike = 200.0,
        *,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        self.U = param("STP", "U", U)
        check("STP", "U", self.U, lambda v: (v > 0) & (v <= 1), "a probability in (0, 1]")
        self.tau_f = time_constant("STP", "tau_f", tau_f)
        self.tau_d = time_constant("STP", "tau_d", tau_d)
        check_solver("STP", solver)
        self.solver = solver

    def init_state(self, shape: int | tuple[int, ...]) -> STPState:
        shape = state_shape("STP", shape, U=self.U, tau_f=self.tau_f, tau_d=self.tau_d)
        x = jnp.ones(shape, self.tau_f.dtype)
        u = jnp.zeros(shape, x.dtype)
        return STPState(u=u, x=x, carry=init_carry(self.solver, self.vector_field, (u, x), None))

    def vector_field(self, t, y, args):
        u, x = y
        return -u / self.tau_f, (1.0 - x) / self.tau_d

    def __call__(
        self, state: STPState, spike: ArrayLike, *, t: ArrayLike, dt: ArrayLike
    ) -> tuple[STPState, Float[Array, "*shape"]]:
        check_dt("STP", dt)
        spike = broadcast_input("STP", "spike", spike, state.u.shape)
        (u, x), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.u, state.x), None, state.carry,
            owner="STP",
        )  # fmt: skip
        u = u + spike * self.U * (1.0 - u)
        release = spike * u * x
        return STPState(u=u, x=x - release, carry=carry), release
