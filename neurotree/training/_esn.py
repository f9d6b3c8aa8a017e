"""Echo state network: a random leaky-integrator reservoir of tanh units with a linear readout.

    x[n+1] = (1 - a) x[n] + a tanh(u[n] W_in + x[n] W + b)
    y[n+1] = x[n+1] W_out + b_out                               (when a readout is set)

References: Jaeger (2001), GMD Report 148; Jaeger, Lukoševičius, Popovici & Siewert (2007),
Neural Networks 20:335 (leaky integrators); Lukoševičius (2012), A practical guide to applying
echo state networks, in Neural Networks: Tricks of the Trade, Springer.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, broadcast_input, check, check_dt, param
from ..kernels._common import exact_precision


class ESNState(eqx.Module):
    x: Float[Array, "*batch n_res"]


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a positive integer.")
    return int(value)


def _fraction(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a number in (0, 1].")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a number in (0, 1].")
    return float(value)


def _sparse_matrix(rng: np.random.Generator, shape, connectivity: float) -> np.ndarray:
    values = rng.uniform(-1.0, 1.0, size=shape)
    return values * (rng.uniform(size=shape) < connectivity)


class EchoStateNetwork(DynamicalSystem):
    """Echo state network (leaky-integrator reservoir of tanh units).

        x[n+1] = (1 - a) x[n] + a tanh(u[n] W_in + x[n] W + b)
        y[n+1] = x[n+1] W_out + b_out        (if a readout is set, see `with_readout`)

    One call is one update of the map: the leak rate `a` = `leak` is per step (a = dt / tau for a
    continuous-time leaky integrator tau dx/dt = -x + tanh(...) sampled every dt); `t` and `dt`
    are accepted for the protocol and do not enter the update. Inputs `u` are (*batch, n_in)
    (dimensionless; scale them through `input_scaling`).

    Construction (seeded by `key`): W_in has entries uniform in [-1, 1] times `input_scaling`
    (a scalar or one value per input), each present with probability `input_connectivity`; W
    has entries uniform in [-1, 1], each present with probability `connectivity`, rescaled so
    that its spectral radius (largest |eigenvalue|) is `spectral_radius`; b is uniform in
    [-bias_scaling, bias_scaling]. `n_out` adds a zero readout (n_res, n_out) for training by
    gradient descent; `with_readout(W_out, b_out)` sets one (e.g. from `ridge` or `force`).

    Outputs: the reservoir state x[n+1] (*batch, n_res), or the readout y[n+1] (*batch, n_out)
    when one is set. Every array (W_in, W, b, leak, W_out, b_out) is a leaf that
    `eqx.filter_grad` reaches, so BPTT through `nt.simulate` trains the readout, the reservoir,
    or both.

    Reference: Jaeger (2001), GMD Report 148; Lukoševičius (2012), Neural Networks: Tricks of
    the Trade, Springer, 659-686.
    """

    n_in: int = eqx.field(static=True)
    n_res: int = eqx.field(static=True)
    W_in: Float[Array, "n_in n_res"]
    W: Float[Array, "n_res n_res"]
    b: Float[Array, " n_res"]
    leak: Float[Array, ""]
    W_out: Float[Array, "n_res n_out"] | None
    b_out: Float[Array, " n_out"] | None

    def __init__(
        self,
        n_in: int,
        n_res: int,
        n_out: int | None = None,
        *,
        key: PRNGKeyArray | None,
        spectral_radius: float = 0.9,
        leak: ArrayLike = 0.3,
        input_scaling: ArrayLike = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 1.0,
    ):
        owner = "EchoStateNetwork"
        self.n_in = _positive_int(owner, "n_in", n_in)
        self.n_res = _positive_int(owner, "n_res", n_res)
        if n_out is not None:
            n_out = _positive_int(owner, "n_out", n_out)
        if key is None:
            raise ValueError(
                f"{owner}: the reservoir is random; pass key=jax.random.key(seed) to build it."
            )
        connectivity = _fraction(owner, "connectivity", connectivity)
        input_connectivity = _fraction(owner, "input_connectivity", input_connectivity)
        if not (isinstance(spectral_radius, int | float | np.number) and spectral_radius >= 0):
            raise ValueError(
                f"{owner}(spectral_radius={spectral_radius!r}): spectral_radius must be a "
                "non-negative number (below 1 for the echo state property with tanh units)."
            )
        if not (isinstance(bias_scaling, int | float | np.number) and bias_scaling >= 0):
            raise ValueError(
                f"{owner}(bias_scaling={bias_scaling!r}): bias_scaling must be a non-negative "
                "number."
            )
        self.leak = param(owner, "leak", leak, ())
        check(owner, "leak", self.leak, lambda v: (v > 0) & (v <= 1), "a leak rate in (0, 1]")
        scale = np.asarray(param(owner, "input_scaling", input_scaling, (self.n_in,)))
        dtype = jnp.result_type(float)

        # Construction is concrete (the spectral radius needs eigenvalues): the key seeds a
        # NumPy generator, which costs no compilation per reservoir shape.
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
        w_in = _sparse_matrix(rng, (self.n_in, self.n_res), input_connectivity)
        w_in = w_in * np.broadcast_to(scale, (self.n_in,))[:, None]
        w = _sparse_matrix(rng, (self.n_res, self.n_res), connectivity)
        radius = float(np.max(np.abs(np.linalg.eigvals(w))))
        if spectral_radius == 0:
            w = np.zeros_like(w)
        elif radius < 1e-12:
            raise ValueError(
                f"{owner}(n_res={self.n_res}, connectivity={connectivity}): the sampled "
                "recurrent matrix has spectral radius 0 (too few connections) and cannot be "
                f"rescaled to spectral_radius={spectral_radius}; raise connectivity or n_res."
            )
        else:
            w = w * (float(spectral_radius) / radius)
        bias = rng.uniform(-1.0, 1.0, size=self.n_res)
        self.W_in = jnp.asarray(w_in, dtype)
        self.W = jnp.asarray(w, dtype)
        self.b = jnp.asarray(bias * float(bias_scaling), dtype)
        self.W_out = None if n_out is None else jnp.zeros((self.n_res, n_out), dtype)
        self.b_out = None if n_out is None else jnp.zeros((n_out,), dtype)

    @property
    def n_out(self) -> int | None:
        return None if self.W_out is None else self.W_out.shape[1]

    def with_readout(self, W_out: ArrayLike, b_out: ArrayLike | None = None) -> "EchoStateNetwork":
        """This network with the readout y = x W_out + b_out (W_out (n_res, n_out))."""
        W_out = jnp.asarray(W_out, self.W.dtype)
        if W_out.ndim != 2 or W_out.shape[0] != self.n_res:
            raise ValueError(
                f"EchoStateNetwork.with_readout: W_out of shape {W_out.shape}; expected "
                f"(n_res, n_out) = ({self.n_res}, n_out)."
            )
        n_out = W_out.shape[1]
        b_out = jnp.zeros((n_out,), W_out.dtype) if b_out is None else jnp.asarray(b_out)
        if b_out.shape != (n_out,):
            raise ValueError(
                f"EchoStateNetwork.with_readout: b_out of shape {b_out.shape}; expected "
                f"({n_out},) to match W_out {W_out.shape}."
            )
        return eqx.tree_at(
            lambda m: (m.W_out, m.b_out), self, (W_out, b_out.astype(W_out.dtype)),
            is_leaf=lambda x: x is None,
        )  # fmt: skip

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> ESNState:
        return ESNState(x=jnp.zeros(tuple(batch_shape) + (self.n_res,), self.W.dtype))

    def __call__(
        self, state: ESNState, u, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[ESNState, Float[Array, "*batch n"]]:
        check_dt("EchoStateNetwork", dt)
        u = broadcast_input("EchoStateNetwork", "u", u, state.x.shape[:-1] + (self.n_in,))
        drive = (
            jnp.matmul(u, self.W_in, precision=exact_precision())
            + jnp.matmul(state.x, self.W, precision=exact_precision())
            + self.b
        )
        x = (1.0 - self.leak) * state.x + self.leak * jnp.tanh(drive)
        if self.W_out is None:
            return ESNState(x=x), x
        return ESNState(x=x), jnp.matmul(x, self.W_out, precision=exact_precision()) + self.b_out
