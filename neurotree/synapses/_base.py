"""The synapse protocols: `Synapse` (the dynamics of a synaptic variable g) and `Output` (the
current g drives in the post neuron), and the checks the synapse models share."""

import abc
from typing import ClassVar

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import check, param


class Synapse(eqx.Module):
    """Synaptic dynamics: a variable g driven by the input arriving at each step.

    - `init_state(shape)`: the state at rest (zeros) for a synaptic variable g of `shape`.
    - `vector_field(t, y, args)`: the input-free dynamics with diffrax's signature, solved by the
      diffrax solver in the model's static `solver` field.
    - `__call__(state, x, *, t, dt) -> (state, g)`: one step from t to t + dt (ms). The continuous
      state is advanced with `nt.integrators.integrate`, then the input `x` arriving this step
      (shaped like g) is applied, and g is returned; an input at step n shows in g from step n on.

    `linear` is True when the step is linear in (state, x). Only then may inputs be summed before
    the synapse (`AlignPost`: x is the weighted sum of the spikes reaching each post neuron) with
    the same result as summing the outputs of per-pre-neuron synapses (`AlignPre`).
    """

    linear: ClassVar[bool]

    @abc.abstractmethod
    def init_state(self, shape: int | tuple[int, ...]):
        """The state at rest for a synaptic variable of `shape`."""

    @abc.abstractmethod
    def vector_field(self, t, y, args):
        """The input-free time derivative of the continuous state (per ms)."""

    @abc.abstractmethod
    def __call__(self, state, x, *, t, dt):
        """Advance `state` from `t` to `t + dt`, apply the arriving `x`; return `(state, g)`."""


class Output(eqx.Module):
    """Turns the synaptic variable g into a current in the post neuron: `__call__(g, v)`.

    `v` is the post membrane potential in mV; it may be None when `needs_v` is False.
    """

    needs_v: ClassVar[bool]

    @abc.abstractmethod
    def __call__(self, g, v):
        """The synaptic current (positive depolarises)."""


def time_constant(owner: str, name: str, value: ArrayLike) -> Float[Array, "..."]:
    """A positive time constant (ms) as a float JAX array."""
    arr = param(owner, name, value)
    check(owner, name, arr, lambda v: v > 0, "a positive time constant in ms")
    return arr


def non_negative(owner: str, name: str, value: ArrayLike, unit: str) -> Float[Array, "..."]:
    arr = param(owner, name, value)
    check(owner, name, arr, lambda v: v >= 0, f"non-negative ({unit})")
    return arr


def state_shape(owner: str, shape, **params: Array) -> tuple[int, ...]:
    """Normalise `shape` (an int or a tuple of ints) and check every parameter broadcasts to it."""
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple | list) or not all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ValueError(
            f"{owner}.init_state(shape={shape!r}): shape must be a tuple of non-negative integers."
        )
    shape = tuple(int(s) for s in shape)
    for name, value in params.items():
        try:
            ok = np.broadcast_shapes(np.shape(value), shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{owner}.init_state(shape={shape}): parameter {name} of shape "
                f"{np.shape(value)} does not broadcast to the synaptic variable's shape {shape}."
            )
    return shape
