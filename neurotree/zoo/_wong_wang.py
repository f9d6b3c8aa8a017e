"""Wong & Wang (2006): the reduced two-variable model of perceptual decision making."""

from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, broadcast_input, check, check_dt, param
from ..integrators import ExponentialEuler, StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver


class WongWangState(eqx.Module):
    S1: Float[Array, "*batch"]
    S2: Float[Array, "*batch"]
    I_noise1: Float[Array, "*batch"]
    I_noise2: Float[Array, "*batch"]
    carry: StepCarry | None


def _z_over_one_minus_exp(z):
    """z / (1 - exp(-z)), finite and smooth for every z (1 at z = 0, -> 0 as z -> -inf)."""
    pos = jnp.where(z >= 1e-3, z, 1.0)
    neg = jnp.where(z <= -1e-3, z, -1.0)
    above = pos / -jnp.expm1(-pos)
    below = neg * jnp.exp(neg) / jnp.expm1(neg)  # the same, without overflow for z << 0
    series = 1.0 + z / 2.0 + z * z / 12.0
    return jnp.where(z >= 1e-3, above, jnp.where(z <= -1e-3, below, series))


class WongWang(DynamicalSystem):
    """Wong & Wang's reduced model of a two-choice decision: two competing NMDA gating variables.

        dS_i/dt = -S_i / tau_S + (1 - S_i) gamma H(x_i)
        H(x) = (a x - b) / (1 - exp(-d (a x - b)))
        x_1 = J11 S_1 - J12 S_2 + I_0 + I_1 + I_noise,1
        x_2 = J22 S_2 - J21 S_1 + I_0 + I_2 + I_noise,2
        I_1,2 = J_ext mu0 (1 +- c' / 100)
        tau_AMPA dI_noise,i/dt = -I_noise,i + eta_i(t) sqrt(tau_AMPA) sigma

    S_i is the NMDA gating of the selective population i, H its firing rate (Hz) as a function of
    its synaptic input x_i (nA), and c' = `coherence` (%) biases the stimulus (strength `mu0`,
    Hz) towards population 1 (c' > 0) or 2 (c' < 0); eta_i is white noise. The defaults are the
    published ones: a = 270 Hz/nA, b = 108 Hz, d = 0.154 s, gamma = 0.641, tau_S = 100 ms,
    tau_AMPA = 2 ms, J11 = J22 = 0.2609 nA, J12 = J21 = 0.0497 nA, J_ext = 0.00052 nA/Hz,
    I_0 = 0.3255 nA, mu0 = 30 Hz, sigma = 0.02 nA (`sigma=None` for no noise).
    At c' = 0 with the stimulus on, the symmetric state is a saddle between two stable decision
    states (S ~ 0.66 against 0.05); with mu0 = 0 the low-activity spontaneous state
    (S1 = S2 = 0.10) is stable as well, with a saddle between it and each decision state.

    Input: an extra current in nA (None, one value for both populations, or a pair
    `(I_1, I_2)`), added to x_i; use it for timed stimuli (with mu0 = 0). Outputs: the rates
    `(H(x_1), H(x_2))` in Hz. Parameters broadcast against the batch axes, so one call can run
    many coherences: the state's shape is `batch_shape` broadcast with the parameters' shapes.
    `init_state` starts at S1 = S2 = 0.1 (near the spontaneous state) with no noise current.
    Units: t, tau_S, tau_AMPA in ms; d in s (d (a x - b) is dimensionless); S dimensionless;
    currents and sigma in nA (the noise is sigma / sqrt(tau_AMPA) nA/sqrt(ms)).
    Default solver: `ExponentialEuler()` (exact for the noise currents' decay; Ito noise).

    Reference: Wong & Wang (2006), A recurrent network mechanism of time integration in
    perceptual decisions, J Neurosci 26:1314-1328; BrainPy's decision-making rate model
    (Wang et al. 2023, eLife 12:e86365, Fig. 5).
    """

    a: Float[Array, "..."]
    b: Float[Array, "..."]
    d: Float[Array, "..."]
    gamma: Float[Array, "..."]
    tau_S: Float[Array, "..."]
    tau_AMPA: Float[Array, "..."]
    J11: Float[Array, "..."]
    J22: Float[Array, "..."]
    J12: Float[Array, "..."]
    J21: Float[Array, "..."]
    J_ext: Float[Array, "..."]
    I_0: Float[Array, "..."]
    mu0: Float[Array, "..."]
    coherence: Float[Array, "..."]
    sigma: Float[Array, "..."] | None
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    dt: ClassVar[float] = 0.1
    duration: ClassVar[float] = 2000.0
    summary: ClassVar[str] = "Wong & Wang (2006) reduced two-variable decision model"

    def __init__(
        self,
        *,
        a: ArrayLike = 270.0,
        b: ArrayLike = 108.0,
        d: ArrayLike = 0.154,
        gamma: ArrayLike = 0.641,
        tau_S: ArrayLike = 100.0,
        tau_AMPA: ArrayLike = 2.0,
        J11: ArrayLike = 0.2609,
        J22: ArrayLike = 0.2609,
        J12: ArrayLike = 0.0497,
        J21: ArrayLike = 0.0497,
        J_ext: ArrayLike = 0.00052,
        I_0: ArrayLike = 0.3255,
        mu0: ArrayLike = 30.0,
        coherence: ArrayLike = 0.0,
        sigma: ArrayLike | None = 0.02,
        solver: diffrax.AbstractSolver = ExponentialEuler(),
    ):
        owner = "WongWang"
        values = dict(
            a=a, b=b, d=d, gamma=gamma, tau_S=tau_S, tau_AMPA=tau_AMPA, J11=J11, J22=J22,
            J12=J12, J21=J21, J_ext=J_ext, I_0=I_0, mu0=mu0, coherence=coherence,
        )  # fmt: skip
        for name, value in values.items():
            setattr(self, name, param(owner, name, value))
        for name in ("a", "d", "tau_S", "tau_AMPA"):
            check(owner, name, getattr(self, name), lambda v: v > 0, "positive")
        check(owner, "gamma", self.gamma, lambda v: (v > 0) & (v <= 1), "in (0, 1]")
        check(owner, "mu0", self.mu0, lambda v: v >= 0, "a non-negative rate in Hz")
        check(owner, "coherence", self.coherence, lambda v: abs(v) <= 100, "in [-100, 100] (%)")
        self.sigma = None if sigma is None else param(owner, "sigma", sigma)
        if self.sigma is not None:
            check(owner, "sigma", self.sigma, lambda v: v >= 0, "non-negative (nA)")
        check_solver(owner, solver)
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> WongWangState:
        params = [x for x in jax.tree.leaves(self) if eqx.is_array(x)]
        shape = np.broadcast_shapes(tuple(batch_shape), *(x.shape for x in params))
        dtype = self.tau_S.dtype
        s = jnp.full(shape, 0.1, dtype)
        zeros = jnp.zeros(shape, dtype)
        y = (s, s, zeros, zeros)
        carry = init_carry(self.solver, self.vector_field, y, (zeros, zeros), self._diffusion())
        return WongWangState(S1=s, S2=s, I_noise1=zeros, I_noise2=zeros, carry=carry)

    def rate(self, x: ArrayLike) -> Float[Array, "..."]:
        """H(x) in Hz for a synaptic input x in nA."""
        y = self.a * x - self.b
        return _z_over_one_minus_exp(self.d * y) / self.d

    def _inputs(self, S1, S2, I_noise1, I_noise2, inputs):
        I_1, I_2 = inputs if isinstance(inputs, tuple | list) else (inputs, inputs)
        stim = self.J_ext * self.mu0
        x1 = self.J11 * S1 - self.J12 * S2 + self.I_0 + stim * (1 + self.coherence / 100)
        x2 = self.J22 * S2 - self.J21 * S1 + self.I_0 + stim * (1 - self.coherence / 100)
        return x1 + I_1 + I_noise1, x2 + I_2 + I_noise2

    def vector_field(self, t, y, inputs):
        S1, S2, I_noise1, I_noise2 = y
        x1, x2 = self._inputs(S1, S2, I_noise1, I_noise2, inputs)
        # gamma H is in Hz; / 1000 for per ms.
        dS1 = -S1 / self.tau_S + (1.0 - S1) * self.gamma * self.rate(x1) / 1000.0
        dS2 = -S2 / self.tau_S + (1.0 - S2) * self.gamma * self.rate(x2) / 1000.0
        return dS1, dS2, -I_noise1 / self.tau_AMPA, -I_noise2 / self.tau_AMPA

    def diffusion(self, t, y, inputs):
        S1, S2, I_noise1, I_noise2 = y
        g = jnp.broadcast_to(self.sigma / jnp.sqrt(self.tau_AMPA), I_noise1.shape)
        return jnp.zeros_like(S1), jnp.zeros_like(S2), g, g

    def _diffusion(self):
        return None if self.sigma is None else self.diffusion

    def __call__(
        self, state: WongWangState, inputs, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[WongWangState, tuple[Float[Array, "*batch"], Float[Array, "*batch"]]]:
        owner = "WongWang"
        check_dt(owner, dt)
        shape = state.S1.shape
        if isinstance(inputs, tuple | list):
            if len(inputs) != 2:
                raise ValueError(
                    f"{owner}: inputs is a sequence of {len(inputs)}; expected None, one current "
                    "(nA) for both populations, or a pair (I_1, I_2)."
                )
            inputs = tuple(broadcast_input(owner, "current", x, shape) for x in inputs)
        else:
            x = broadcast_input(owner, "current", inputs, shape)
            inputs = (x, x)
        y = (state.S1, state.S2, state.I_noise1, state.I_noise2)
        (S1, S2, n1, n2), carry = integrate(
            self.solver, self.vector_field, t, dt, y, inputs, state.carry,
            diffusion=self._diffusion(), key=key, owner=owner,
        )  # fmt: skip
        state = WongWangState(S1=S1, S2=S2, I_noise1=n1, I_noise2=n2, carry=carry)
        x1, x2 = self._inputs(S1, S2, n1, n2, inputs)
        return state, (self.rate(x1), self.rate(x2))
