"""The `DynamicalSystem` protocol and the checks every component shares."""

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .kernels._common import concrete as concrete


class DynamicalSystem(eqx.Module):
    """Anything that `nt.simulate` can step.

    Parameters are fields; state is a separate PyTree made by `init_state` with leading
    `batch_shape` axes; `__call__` is pure and returns `(state, outputs)`. Time `t` and step `dt`
    are in ms. Randomness enters only through `key`.
    """

    @abc.abstractmethod
    def init_state(self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None):
        """The state at rest, with leading `batch_shape` axes."""

    @abc.abstractmethod
    def __call__(
        self, state, inputs, *, t: ArrayLike, dt: ArrayLike, key: PRNGKeyArray | None = None
    ) -> tuple[Any, Any]:
        """Advance `state` from `t` to `t + dt` under `inputs`; return `(state, outputs)`."""


def as_shape(owner: str, size) -> tuple[int, ...]:
    """Normalise `size` (an int or a tuple of ints) to a shape, or raise naming `owner`."""
    if isinstance(size, int | np.integer):
        shape = (size,)
    elif isinstance(size, tuple | list):
        shape = tuple(size)
    else:
        shape = None
    if (
        shape is None
        or len(shape) == 0
        or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in shape)
        or any(s <= 0 for s in shape)
    ):
        raise ValueError(
            f"{owner}(size={size!r}): size must be a positive integer or a tuple of positive "
            "integers."
        )
    return tuple(int(s) for s in shape)


def param(
    owner: str, name: str, value, shape: tuple[int, ...] | None = None
) -> Float[Array, "..."]:
    """A float parameter as a JAX array that broadcasts to `shape` (the population's shape)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a number or a float array.")
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    if shape is not None:
        try:
            np.broadcast_shapes(arr.shape, shape)
            ok = np.broadcast_shapes(arr.shape, shape) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{owner}({name}): a parameter of shape {arr.shape} does not broadcast to the "
                f"population's shape {tuple(shape)}; use a scalar or an array of that shape."
            )
    return arr


def check(owner: str, name: str, value, ok, expected: str) -> None:
    """Raise `ValueError` if the concrete `value` fails `ok`; skipped for traced values."""
    v = concrete(value)
    if v is not None and not bool(np.all(ok(v))):
        shown = v.reshape(()) if v.size == 1 else v  # NumPy's str: shortest repr in v's dtype
        raise ValueError(f"{owner}({name}={shown!s}): {name} must be {expected}.")


def check_dt(owner: str, dt) -> None:
    check(owner, "dt", dt, lambda v: v > 0, "a positive step in ms")


def broadcast_input(owner: str, name: str, x, shape: tuple[int, ...]) -> Float[Array, "..."]:
    """Broadcast an input (None for none, a scalar or an array) to the state's `shape`."""
    x = jnp.asarray(0.0 if x is None else x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    try:
        out_shape = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        out_shape = None
    if out_shape != tuple(shape):
        raise ValueError(
            f"{owner}: input {name} of shape {x.shape} does not broadcast to the state's shape "
            f"{tuple(shape)}; pass a scalar, an array of shape {tuple(shape)[-1:]} (one value per "
            "neuron) or one of the full state shape."
        )
    return jnp.broadcast_to(x, shape)


def require_key(owner: str, key) -> PRNGKeyArray:
    if key is None:
        raise ValueError(
            f"{owner} is stochastic (noise is set) but no key was given; pass "
            "`key=jax.random.key(seed)` to `nt.simulate` (or to the call)."
        )
    return key


def tree_any_differs(a, b) -> Array:
    """True where any leaf of `a` differs from the matching leaf of `b` (a scalar bool)."""
    diffs = [jnp.any(x != y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    return jnp.any(jnp.stack(diffs)) if diffs else jnp.asarray(False)
