"""One-dimensional continuous attractor neural network (CANN)."""

import math
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, broadcast_input, check, check_dt, param
from ..integrators import StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver


class CANN1DState(eqx.Module):
    u: Float[Array, "*batch num"]
    carry: StepCarry | None


class CANN1D(DynamicalSystem):
    """Continuous attractor network on a periodic feature space (Wu, Hamaguchi & Amari 2008).

        tau du(x)/dt = -u(x) + rho int J(x - x') r(x') dx' + I_ext(x)
        r(x) = u(x)^2 / (1 + k rho int u(x')^2 dx')
        J(d) = J0 / (sqrt(2 pi) a) exp(-d^2 / (2 a^2))

    `num` neurons have preferred features x_i = z_min + i (z_max - z_min) / num on a circle of
    length L = z_max - z_min (distances wrap), so rho = num / L and rho int f dx' is the sum
    over neurons: the recurrent input is sum_j J(x_i - x_j) r_j and the divisive inhibition
    1 + k sum_j u_j^2, as in BrainPy's CANN1D. Because the lattice is uniform and periodic,
    J(x_i - x_j) depends only on (i - j) mod num, and the recurrent input is a circular
    convolution computed by FFT (O(num log num), exact up to rounding; the kernel is rebuilt
    from `J0` and `a` on each call, so gradients reach both).

    Without input, for k < k_c = rho J0^2 / (8 sqrt(2 pi) a), the network holds a bump at any
    position z (a line attractor):

        u(x) = u0 exp(-(x - z)^2 / (4 a^2)),   r(x) = r0 exp(-(x - z)^2 / (2 a^2)),
        u0 = [1 + sqrt(1 - k / k_c)] J0 / (4 sqrt(pi) a k),   r0 = sqrt(2) u0 / (rho J0)

    (`bump_amplitude()`, valid while a << L so the Gaussians do not wrap). A stimulus at z0 is
    `get_stimulus_by_pos(z0)`, A exp(-(x - z0)^2 / (4 a^2)); `decode(u)` reads the bump's
    position as the population vector of u on the circle.

    Input: the external current I_ext (a scalar, one value per neuron, or with batch axes).
    Outputs: u. Units: t and tau in ms; u, r, I_ext, A, J0 dimensionless; x, a, z_min, z_max in
    the feature's unit (radians by default).
    Default solver: `diffrax.Tsit5()`. The recurrent coupling makes the Jacobian dense, so
    exponential Euler (exact only for a diagonal linear part) is merely first order. Measured at
    the default dt = 0.1 ms = 0.1 tau against a dt = 0.001 ms run (float64, A = 10, 3 ms of
    stimulus then 3 ms without): Tsit5 errs by 7e-6 of the bump height, Heun by 3e-3,
    ExponentialEuler by 7e-3 and Euler by 9e-2 (tests/test_cann.py::test_solver_choice).

    Tracking: a stimulus moving slowly at speed v is followed with a lag d = v tau U / A, U =
    `bump_amplitude(A)` (substitute u = U g(x - z(t)) into the equation: the residual
    A [g(x - z0) - g(x - z)] is A (z - z0) g' to first order in d / a, so tau dz/dt =
    (A / U)(z0 - z)); for A >> u0 this is the lag v tau of a low-pass filter, for A << u0 the
    v tau u0 / A of Fung et al. (2010). When the stimulus moves, sample it at the step
    midpoints t + dt / 2 (the input is held over each step).

    Reference: Wu, Hamaguchi & Amari (2008), Dynamics and computation of continuous attractors,
    Neural Comput 20:994-1025; Fung, Wong & Wu (2010), Neural Comput 22:752-792 (tracking);
    BrainPy's CANN1D example (Wang et al. 2023, eLife 12:e86365).
    """

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 100.0
    summary: ClassVar[str] = "1D continuous attractor network (Wu, Hamaguchi & Amari 2008)"

    size: tuple[int] = eqx.field(static=True)
    tau: Float[Array, ""]
    k: Float[Array, ""]
    a: Float[Array, ""]
    A: Float[Array, ""]
    J0: Float[Array, ""]
    z_min: float = eqx.field(static=True)
    z_max: float = eqx.field(static=True)
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        num: int = 512,
        tau: ArrayLike = 1.0,
        k: ArrayLike = 8.1,
        a: ArrayLike = 0.5,
        A: ArrayLike = 10.0,
        J0: ArrayLike = 4.0,
        z_min: float = -math.pi,
        z_max: float = math.pi,
        *,
        solver: diffrax.AbstractSolver = diffrax.Tsit5(),
    ):
        owner = "CANN1D"
        if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 2:
            raise ValueError(f"{owner}(num={num!r}): num must be an integer >= 2.")
        self.size = (int(num),)
        for name, value in (("tau", tau), ("k", k), ("a", a), ("A", A), ("J0", J0)):
            setattr(self, name, param(owner, name, value, ()))
        check(owner, "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        check(owner, "a", self.a, lambda v: v > 0, "a positive width")
        check(owner, "k", self.k, lambda v: v > 0, "positive (the divisive inhibition)")
        z_min, z_max = float(z_min), float(z_max)
        if not (math.isfinite(z_min) and math.isfinite(z_max) and z_max > z_min):
            raise ValueError(
                f"CANN1D(z_min={z_min}, z_max={z_max}): the feature space needs finite bounds "
                "with z_min < z_max."
            )
        self.z_min, self.z_max = z_min, z_max
        check_solver(owner, solver)
        self.solver = solver

    @property
    def num(self) -> int:
        return self.size[0]

    @property
    def z_range(self) -> float:
        return self.z_max - self.z_min

    @property
    def rho(self) -> float:
        """Neural density: neurons per unit of the feature space."""
        return self.num / self.z_range

    @property
    def x(self) -> Float[Array, " num"]:
        """The preferred feature of each neuron."""
        dtype = self.tau.dtype
        return self.z_min + jnp.arange(self.num, dtype=dtype) * (self.z_range / self.num)

    def dist(self, d: ArrayLike) -> Float[Array, "..."]:
        """Signed distance on the circle, wrapped into [-L/2, L/2)."""
        half = 0.5 * self.z_range
        return jnp.remainder(jnp.asarray(d) + half, self.z_range) - half

    def get_stimulus_by_pos(self, pos: ArrayLike) -> Float[Array, "*batch num"]:
        """The external input of a stimulus at `pos`: A exp(-dist(x - pos)^2 / (4 a^2)).

        `pos` may carry batch axes; the neurons are the last axis of the result."""
        d = self.dist(self.x - jnp.asarray(pos, self.tau.dtype)[..., None])
        return self.A * jnp.exp(-0.25 * jnp.square(d / self.a))

    def decode(self, u: ArrayLike) -> Float[Array, "*batch"]:
        """The bump position: the angle of the population vector sum_j u_j e^{i theta_j},
        theta_j the phase of x_j on the circle, mapped back into [z_min, z_max)."""
        u = jnp.asarray(u)
        theta = 2 * jnp.pi * (self.x - self.z_min) / self.z_range
        angle = jnp.arctan2(jnp.sum(u * jnp.sin(theta), -1), jnp.sum(u * jnp.cos(theta), -1))
        return self.z_min + jnp.remainder(angle, 2 * jnp.pi) * (self.z_range / (2 * jnp.pi))

    def bump_amplitude(self, A: ArrayLike = 0.0) -> Float[Array, "..."]:
        """Height U of the stationary bump, free (A = 0) or held by a stimulus of amplitude A.

        The profile U exp(-(x - z)^2 / (4 a^2)) is an exact stationary solution of the continuum
        model for any A >= 0, with U the largest root of (U - A)(1 + B U^2) = c U^2, where
        c = rho J0 / sqrt(2) and B = k rho sqrt(2 pi) a (Wu et al. 2008 for A = 0, where U = u0
        of the class docstring, NaN when k > k_c: no bump exists).
        """
        A = jnp.asarray(A, self.tau.dtype)
        c = self.rho * self.J0 / math.sqrt(2.0)
        B = self.k * self.rho * math.sqrt(2 * math.pi) * self.a
        k_c = self.rho * self.J0**2 / (8 * math.sqrt(2 * math.pi) * self.a)
        root = jnp.sqrt(jnp.where(self.k <= k_c, 1.0 - self.k / k_c, jnp.nan))
        free = (1.0 + root) * self.J0 / (4 * math.sqrt(math.pi) * self.a * self.k)

        def newton(_, U):  # from above the largest root F is increasing and convex: monotone
            F = (U - A) * (1.0 + B * U**2) - c * U**2
            dF = 1.0 + B * U**2 + 2 * B * U * (U - A) - 2 * c * U
            return U - F / dF

        held = jax.lax.fori_loop(0, 60, newton, A + c / B)
        return jnp.where(A > 0, held, free)

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> CANN1DState:
        """No activity (u = 0, a fixed point); `key` is unused (the start is deterministic)."""
        u = jnp.zeros(tuple(batch_shape) + self.size, self.tau.dtype)
        return CANN1DState(u=u, carry=init_carry(self.solver, self.vector_field, u, u))

    def _kernel_spectrum(self) -> Array:
        offsets = self.dist(jnp.arange(self.num, dtype=self.tau.dtype) * (self.z_range / self.num))
        kernel = (
            self.J0
            / (math.sqrt(2 * math.pi) * self.a)
            * jnp.exp(-0.5 * jnp.square(offsets / self.a))
        )
        return jnp.fft.rfft(kernel)

    def recurrent_input(self, u: Float[Array, "*batch num"]) -> Float[Array, "*batch num"]:
        """sum_j J(x_i - x_j) r_j, with r = u^2 / (1 + k sum u^2), by FFT."""
        u2 = jnp.square(u)
        r = u2 / (1.0 + self.k * jnp.sum(u2, -1, keepdims=True))
        return jnp.fft.irfft(self._kernel_spectrum() * jnp.fft.rfft(r), n=self.num)

    def vector_field(self, t, u, I_ext):
        return (-u + self.recurrent_input(u) + I_ext) / self.tau

    def __call__(
        self, state: CANN1DState, inputs=None, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[CANN1DState, Float[Array, "*batch num"]]:
        check_dt("CANN1D", dt)
        I_ext = broadcast_input("CANN1D", "I_ext", inputs, state.u.shape)
        u, carry = integrate(
            self.solver, self.vector_field, t, dt, state.u, I_ext, state.carry, owner="CANN1D"
        )
        return CANN1DState(u=u, carry=carry), u
