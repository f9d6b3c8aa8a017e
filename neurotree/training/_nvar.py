"""Nonlinear vector autoregression (NVAR): the next-generation reservoir computer.

    O_lin[n]   = (u[n], u[n - s], ..., u[n - (k-1) s])                  d = k n_in features
    O_nonlin[n] = the unique monomials of order 2, ..., p of O_lin    C(d + q - 1, q) of order q
    O_total[n] = (1, O_lin[n], O_nonlin[n])

Reference: Gauthier, Bollt, Griffith & Barbosa (2021), Next generation reservoir computing,
Nature Communications 12:5564.
"""

import functools
import itertools
import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._core import DynamicalSystem, broadcast_input, check_dt


class NVARState(eqx.Module):
    buffer: Float[Array, "*batch n_buffer n_in"]


@functools.lru_cache(maxsize=64)
def _monomials(d: int, order: int) -> tuple[np.ndarray, ...]:
    """For each order q = 2..order, the (n_q, q) indices of the linear features multiplied."""
    return tuple(
        np.asarray(list(itertools.combinations_with_replacement(range(d), q)), np.int32)
        for q in range(2, order + 1)
    )


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"NVAR({name}={value!r}): {name} must be an integer >= {low}.")
    return int(value)


class NVAR(DynamicalSystem):
    """Nonlinear vector autoregression, the next-generation reservoir (NG-RC).

        O_lin[n]    = (u[n], u[n - s], ..., u[n - (k-1) s])          (k = `delays`, s = `stride`)
        O_nonlin[n] = all unique monomials of order 2..p (p = `order`) of the entries of O_lin
        O_total[n]  = (1, O_lin[n], O_nonlin[n])                    (the 1 if `constant`)

    With d = k n_in linear features there are C(d + q - 1, q) monomials of order q, in the order
    of `itertools.combinations_with_replacement(range(d), q)`; `n_features` is
    [1] + d + sum_{q=2..p} C(d + q - 1, q) (28 for Gauthier et al.'s Lorenz model: n_in = 3,
    k = 2, p = 2). The linear features are ordered newest first, each delay's n_in inputs
    together. A linear readout of O_total (fitted with `ridge`) is the NG-RC.

    State: the last (k-1) s + 1 inputs (newest first), zeros at rest; the first (k-1) s outputs
    of a run therefore see zeros for the missing past (Gauthier et al.'s warm-up, to discard).
    Inputs are (*batch, n_in); one call is one sample (`t` and `dt` are not used). Outputs:
    O_total (*batch, n_features). There are no trainable parameters.

    Reference: Gauthier, Bollt, Griffith & Barbosa (2021), Nature Communications 12:5564.
    """

    n_in: int = eqx.field(static=True)
    delays: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    order: int = eqx.field(static=True)
    constant: bool = eqx.field(static=True)

    def __init__(
        self, n_in: int, delays: int = 2, stride: int = 1, order: int = 2, *, constant: bool = True
    ):
        self.n_in = _check_int("n_in", n_in, 1)
        self.delays = _check_int("delays", delays, 1)
        self.stride = _check_int("stride", stride, 1)
        self.order = _check_int("order", order, 1)
        if not isinstance(constant, bool):
            raise ValueError(f"NVAR(constant={constant!r}): constant must be True or False.")
        self.constant = constant

    @property
    def n_linear(self) -> int:
        return self.delays * self.n_in

    @property
    def n_features(self) -> int:
        d = self.n_linear
        nonlinear = sum(math.comb(d + q - 1, q) for q in range(2, self.order + 1))
        return int(self.constant) + d + nonlinear

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> NVARState:
        n_buffer = (self.delays - 1) * self.stride + 1
        shape = tuple(batch_shape) + (n_buffer, self.n_in)
        return NVARState(buffer=jnp.zeros(shape, jnp.result_type(float)))

    def features(self, buffer: Float[Array, "*batch n_buffer n_in"]) -> Float[Array, "*batch f"]:
        """O_total from a buffer of past inputs (newest first)."""
        linear = buffer[..., :: self.stride, :].reshape(buffer.shape[:-2] + (self.n_linear,))
        parts = [linear]
        for idx in _monomials(self.n_linear, self.order):
            parts.append(jnp.prod(linear[..., idx], axis=-1))
        if self.constant:
            parts.insert(0, jnp.ones(linear.shape[:-1] + (1,), linear.dtype))
        return jnp.concatenate(parts, axis=-1)

    def __call__(
        self, state: NVARState, u, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[NVARState, Float[Array, "*batch f"]]:
        check_dt("NVAR", dt)
        batch = state.buffer.shape[:-2]
        u = broadcast_input("NVAR", "u", u, batch + (self.n_in,)).astype(state.buffer.dtype)
        buffer = jnp.concatenate([u[..., None, :], state.buffer[..., :-1, :]], axis=-2)
        return NVARState(buffer=buffer), self.features(buffer)
