"""FORCE learning: a linear readout trained online by recursive least squares (RLS).

    k[n] = P[n-1] r[n] / (1 + r[n]^T P[n-1] r[n])
    P[n] = P[n-1] - k[n] r[n]^T P[n-1]                                 P[0] = I / alpha
    W[n] = W[n-1] - k[n] e[n]^T,    e[n] = r[n]^T W[n-1] - f[n]        W[0] = 0

Reference: Sussillo & Abbott (2009), Generating coherent patterns of activity from chaotic neural
networks, Neuron 63:544; Haykin (2002), Adaptive Filter Theory, 4th ed., ch. 9, Prentice Hall.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import check, check_dt
from ..kernels._common import exact_precision


class RLSState(eqx.Module):
    """The state of recursive least squares: P, the running inverse of the regularised
    correlation matrix (sum_i r_i r_i^T + alpha I)^-1 of the features, and W, the readout."""

    P: Float[Array, "n n"]
    W: Float[Array, "n m"]


def rls_init(n_features: int, n_out: int, *, alpha: ArrayLike, dtype=None) -> RLSState:
    """RLS at the start: P = I / alpha (alpha > 0, in the units of r^2) and W = 0."""
    for name, v in (("n_features", n_features), ("n_out", n_out)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise ValueError(f"rls_init({name}={v!r}): {name} must be a positive integer.")
    if isinstance(alpha, bool) or alpha is None:
        raise ValueError(f"rls_init(alpha={alpha!r}): alpha must be a positive number.")
    check("rls_init", "alpha", alpha, lambda v: v > 0, "a positive regularisation strength")
    dtype = jnp.result_type(float) if dtype is None else dtype
    P = jnp.eye(n_features, dtype=dtype) / jnp.asarray(alpha, dtype)
    return RLSState(P=P, W=jnp.zeros((n_features, n_out), dtype))


def rls_update(state: RLSState, r: Float[Array, " n"], error: Float[Array, " m"]) -> RLSState:
    """One RLS step for features r (n,) and the a-priori error e = r^T W - f (m,).

        k = P r / (1 + r^T P r),   P <- P - k (P r)^T,   W <- W - k e^T

    After samples 1..N from `rls_init(alpha=alpha)`, W is the ridge solution
    argmin_W sum_i |r_i^T W - f_i|^2 + alpha |W|^2 (no separate bias), up to rounding.
    P is kept symmetric.

    Reference: Sussillo & Abbott (2009), Neuron 63:544, eqs. 4-5.
    """
    n, m = state.W.shape
    r = jnp.asarray(r, state.P.dtype)
    error = jnp.asarray(error, state.P.dtype)
    if r.shape != (n,) or error.shape != (m,):
        raise ValueError(
            f"rls_update: features r of shape {r.shape} and error of shape {error.shape}; "
            f"expected ({n},) and ({m},) for the readout W of shape {state.W.shape}."
        )
    Pr = jnp.matmul(state.P, r, precision=exact_precision())
    k = Pr / (1.0 + jnp.dot(r, Pr, precision=exact_precision()))
    P = state.P - jnp.outer(k, Pr)
    return RLSState(P=0.5 * (P + P.T), W=state.W - jnp.outer(k, error))


class ForceResult(eqx.Module):
    """What `force` returns: the readout `W` (n, m) and `b` (m,) (predictions are
    `features @ W + b`), the final `rls` state (to continue training), the model's final
    `state`, and `outputs` (T, m): the readout z[n] = r[n] W[n-1] + b[n-1] at each step, before
    that step's update (the signal fed back, and the online training error's first term)."""

    W: Float[Array, "n m"]
    b: Float[Array, " m"]
    rls: RLSState
    state: Any
    outputs: Float[Array, "T m"]


def _output_features(state, outputs):
    return outputs


def force(
    model: Callable[..., tuple[Any, Any]],
    inputs: ArrayLike | None,
    targets: ArrayLike,
    *,
    alpha: ArrayLike,
    dt: ArrayLike,
    state: Any = None,
    features: Callable[[Any, Any], Array] | None = None,
    feedback: bool = False,
    washout: int = 0,
    bias: bool = True,
    t0: ArrayLike = 0.0,
    key: PRNGKeyArray | None = None,
) -> ForceResult:
    """FORCE learning: run `model` online and train a linear readout of it by RLS at each step.

    At step n (time t0 + n dt) the model advances with input u[n] (or, with `feedback`, the
    concatenation (u[n], z[n-1]) of the input and the last readout, z[-1] = 0; with
    `inputs=None` the readout alone), its features r[n] = `features(state, outputs)` (default:
    the outputs, e.g. an `EchoStateNetwork`'s reservoir state; with `bias` a constant 1 is
    appended) give the readout z[n] = r[n]^T W[n-1], and `rls_update` moves W towards the
    target f[n] (not during the first `washout` steps). All steps run in one `jax.lax.scan`.

    Without feedback this is online recursive least squares on the states the model visits;
    with feedback it is FORCE proper (Sussillo & Abbott 2009): the readout is fed back while it
    learns, and its error is kept small from the first steps on. Since P[0] = I / alpha, W after
    the run is the ridge solution with `alpha` on the features seen; the bias is one of those
    features, so unlike `ridge`'s it is penalised too.

    **Arguments:** `inputs` (T, n_u) or None; `targets` (T, m); `alpha` > 0; `dt` (ms) passed
    to the model (the ESN and NVAR ignore it); `state` the model's initial state (default
    `model.init_state()`); `key` for stochastic models (step n gets `fold_in(key, n)`).
    Features must be a vector (n,): one stream, no batch axes.

    Reference: Sussillo & Abbott (2009), Generating coherent patterns of activity from chaotic
    neural networks, Neuron 63:544.
    """
    check_dt("force", dt)
    f = jnp.asarray(targets)
    if f.ndim != 2 or f.shape[0] == 0:
        raise ValueError(
            f"force: targets of shape {f.shape}; expected (T, m), one target vector per step."
        )
    n_steps, n_out = f.shape
    if inputs is None:
        if not feedback:
            raise ValueError(
                "force(inputs=None): without inputs the model needs the readout fed back; "
                "pass feedback=True or give inputs of shape (T, n_in)."
            )
        u = None
    else:
        u = jnp.asarray(inputs)
        if u.ndim != 2 or u.shape[0] != n_steps:
            raise ValueError(
                f"force: inputs of shape {u.shape} and targets of shape {f.shape}; expected "
                f"inputs (T, n_in) with the same T = {n_steps} steps."
            )
    if isinstance(washout, bool) or not isinstance(washout, int | np.integer):
        raise ValueError(f"force(washout={washout!r}): washout must be an integer.")
    if not 0 <= washout < n_steps:
        raise ValueError(
            f"force(washout={washout}): washout must be in [0, {n_steps}), the number of steps."
        )
    features = _output_features if features is None else features
    state = model.init_state() if state is None else state
    dtype = jnp.result_type(f.dtype, float)
    f = f.astype(dtype)
    dt = jnp.asarray(dt, dtype)
    t0 = jnp.asarray(t0, dtype)

    def model_input(u_n, z_prev):
        if not feedback:
            return u_n
        return z_prev if u_n is None else jnp.concatenate([u_n, z_prev], axis=-1)

    def advance(state, u_n, z_prev, n):
        k = None if key is None else jax.random.fold_in(key, n)
        state, out = model(state, model_input(u_n, z_prev), t=t0 + n * dt, dt=dt, key=k)
        r = jnp.asarray(features(state, out), dtype)
        if bias:
            r = jnp.concatenate([r, jnp.ones(r.shape[:-1] + (1,), dtype)], axis=-1)
        return state, r

    u0 = None if u is None else u[0]
    r_shape = jax.eval_shape(advance, state, u0, jnp.zeros(n_out, dtype), 0)[1].shape
    if len(r_shape) != 1:
        raise ValueError(
            f"force: the features have shape {r_shape} (with the bias); expected a vector "
            "(n,): train one unbatched stream, or pass features= that returns a vector."
        )
    rls = rls_init(r_shape[0], n_out, alpha=alpha, dtype=dtype)

    def step(carry, xs):
        state, rls, z_prev, n = carry
        u_n, f_n = xs
        state, r = advance(state, u_n, z_prev, n)
        z = jnp.matmul(r, rls.W, precision=exact_precision())
        updated = rls_update(rls, r, z - f_n)
        learn = n >= washout
        rls = jax.tree.map(lambda a, b: jnp.where(learn, a, b), updated, rls)
        return (state, rls, z, n + 1), z

    carry = (state, rls, jnp.zeros(n_out, dtype), jnp.asarray(0, jnp.int32))
    (state, rls, _, _), outputs = jax.lax.scan(step, carry, (u, f))
    W, b = (rls.W[:-1], rls.W[-1]) if bias else (rls.W, jnp.zeros(n_out, dtype))
    return ForceResult(W=W, b=b, rls=rls, state=state, outputs=outputs)
