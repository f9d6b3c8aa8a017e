"""Continuous-time leaky rate RNN, as trained on cognitive tasks by Song, Yang & Wang (2016)."""

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, check, check_dt, param
from ..integrators import StepCarry, init_carry, integrate
from ..neurons._if_base import check_solver


class RateRNNState(eqx.Module):
    x: Float[Array, "*batch n_rec"]
    carry: StepCarry | None


class RateRNN(DynamicalSystem):
    """Leaky rate RNN in continuous time, with a linear readout.

        tau dx/dt = -x + W_rec r + W_in u + b (+ tau * sqrt(2 / tau) * noise * xi(t))
        r = f(x),    z = W_out r + b_out

    x is the units' synaptic current (n_rec), u the input (n_in), f the `nonlinearity` (ReLU by
    default, as in the paper) and z the output (n_out). Weights are stored as (source, target)
    matrices, `w_in` (n_in, n_rec), `w_rec` (n_rec, n_rec), `w_out` (n_rec, n_out), so a batch of
    row vectors maps as r @ w_rec, like `nt.comm.Dense`. Every parameter is a continuous-time
    quantity, independent of the step dt. `noise` is sigma_rec: with this scaling the noise
    alone makes x an Ornstein-Uhlenbeck process with stationary standard deviation sigma_rec.
    Euler's step (the default solver) is the paper's discrete-time network, with
    alpha = dt / tau,

        x_{t+dt} = (1 - alpha) x_t + alpha (W_rec r_t + W_in u_t + b)
                   + sqrt(2 alpha) sigma_rec N(0, 1).

    Any diffrax solver may be used instead (e.g. `diffrax.Tsit5()` for accuracy at large dt);
    `vector_field(t, x, u)` has diffrax's signature, so `diffrax.diffeqsolve` and fixed-point
    analyses work on the same model. Initial weights: W_in ~ N(0, 1 / n_in),
    W_rec ~ N(0, g^2 / n_rec), W_out ~ N(0, 1 / n_rec); b = b_out = 0; the initial state `x0`
    (trainable, as in the paper) is 0.
    Inputs: u of shape (*batch, n_in) (or anything that broadcasts to it; None for no input).
    Outputs: z (*batch, n_out), computed from the state after the step.
    Units: t, dt and tau in ms; x, r, u, z, the weights and sigma_rec are dimensionless.
    Differences from the paper: no Dale's law (excitatory/inhibitory sign constraints), and the
    readout has a bias.

    Reference: Song, Yang & Wang (2016), Training excitatory-inhibitory recurrent neural
    networks for cognitive tasks: a simple and flexible framework, PLoS Comput Biol
    12(2):e1004792.
    """

    n_in: int = eqx.field(static=True)
    n_rec: int = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    w_in: Float[Array, "n_in n_rec"]
    w_rec: Float[Array, "n_rec n_rec"]
    b: Float[Array, " n_rec"]
    w_out: Float[Array, "n_rec n_out"]
    b_out: Float[Array, " n_out"]
    x0: Float[Array, " n_rec"]
    tau: Float[Array, ""] | Float[Array, " n_rec"]
    noise: Float[Array, ""] | None
    nonlinearity: Callable[[Array], Array] = eqx.field(static=True)
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        n_in: int,
        n_rec: int,
        n_out: int,
        *,
        key: PRNGKeyArray | None,
        tau: ArrayLike = 100.0,
        noise: ArrayLike | None = None,
        g: float = 1.0,
        nonlinearity: Callable[[Array], Array] = jax.nn.relu,
        solver: diffrax.AbstractSolver = diffrax.Euler(),
    ):
        owner = "RateRNN"
        for name, n in (("n_in", n_in), ("n_rec", n_rec), ("n_out", n_out)):
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
                raise ValueError(f"{owner}({name}={n!r}): {name} must be a positive integer.")
        if key is None:
            raise ValueError(
                f"{owner}(key=None): the initial weights are random; pass key=jax.random.key(seed)."
            )
        if not callable(nonlinearity):
            raise ValueError(
                f"{owner}(nonlinearity={nonlinearity!r}): expected a function of an array, e.g. "
                "jax.nn.relu or jnp.tanh."
            )
        self.n_in, self.n_rec, self.n_out = int(n_in), int(n_rec), int(n_out)
        self.tau = param(owner, "tau", tau)
        if self.tau.shape not in ((), (self.n_rec,)):
            raise ValueError(
                f"{owner}(tau): shape {self.tau.shape}; expected a scalar or one time constant "
                f"per unit, shape ({self.n_rec},)."
            )
        check(owner, "tau", self.tau, lambda v: v > 0, "a positive time constant in ms")
        if noise is None:
            self.noise = None
        else:
            self.noise = param(owner, "noise", noise, ())
            check(owner, "noise", self.noise, lambda v: v >= 0, "a standard deviation >= 0")
        check(owner, "g", g, lambda v: v >= 0, "a gain >= 0")
        check_solver(owner, solver)
        self.nonlinearity = nonlinearity
        self.solver = solver
        dtype = self.tau.dtype
        k_in, k_rec, k_out = jax.random.split(key, 3)
        self.w_in = jax.random.normal(k_in, (n_in, n_rec), dtype) / np.sqrt(n_in)
        self.w_rec = g * jax.random.normal(k_rec, (n_rec, n_rec), dtype) / np.sqrt(n_rec)
        self.w_out = jax.random.normal(k_out, (n_rec, n_out), dtype) / np.sqrt(n_rec)
        self.b = jnp.zeros(n_rec, dtype)
        self.b_out = jnp.zeros(n_out, dtype)
        self.x0 = jnp.zeros(n_rec, dtype)

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> RateRNNState:
        shape = tuple(batch_shape) + (self.n_rec,)
        x = jnp.broadcast_to(self.x0, shape)
        u = jnp.zeros(tuple(batch_shape) + (self.n_in,), x.dtype)
        carry = init_carry(self.solver, self.vector_field, x, u, self._diffusion())
        return RateRNNState(x=x, carry=carry)

    def rates(self, x: Float[Array, "*batch n_rec"]) -> Float[Array, "*batch n_rec"]:
        """r = f(x)."""
        return self.nonlinearity(x)

    def readout(self, x: Float[Array, "*batch n_rec"]) -> Float[Array, "*batch n_out"]:
        """z = W_out f(x) + b_out."""
        return self.rates(x) @ self.w_out + self.b_out

    def vector_field(self, t, x, u):
        drive = self.rates(x) @ self.w_rec + u @ self.w_in + self.b
        return (drive - x) / self.tau

    def diffusion(self, t, x, u):
        return jnp.broadcast_to(self.noise * jnp.sqrt(2.0 / self.tau), x.shape)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def _inputs(self, u, shape) -> Float[Array, "..."]:
        target = tuple(shape[:-1]) + (self.n_in,)
        u = jnp.asarray(0.0 if u is None else u)
        if not jnp.issubdtype(u.dtype, jnp.floating):
            u = u.astype(self.tau.dtype)
        try:
            ok = np.broadcast_shapes(u.shape, target) == target
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"RateRNN: input u of shape {u.shape} does not broadcast to {target} "
                f"(the state's batch shape, then n_in={self.n_in})."
            )
        return jnp.broadcast_to(u, target)

    def __call__(
        self, state: RateRNNState, u, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[RateRNNState, Float[Array, "*batch n_out"]]:
        check_dt("RateRNN", dt)
        u = self._inputs(u, state.x.shape)
        x, carry = integrate(
            self.solver, self.vector_field, t, dt, state.x, u, state.carry,
            diffusion=self._diffusion(), key=key, owner="RateRNN",
        )  # fmt: skip
        return RateRNNState(x=x, carry=carry), self.readout(x)
