"""Current waveforms: functions of time `f(t)` for `nt.simulate`, and the same sampled as series.

A waveform module is an input function: `nt.simulate(model, state, nt.inputs.Ramp(0.0, 10.0,
t_end=100.0), dt=0.1, duration=200.0)` gives step n the value `f(t0 + n dt)`. Its parameters are
float JAX arrays (trainable with `eqx.filter_grad`, sweepable with `eqx.filter_vmap`) and broadcast
to the population's shape. The functions `constant_input`, `section_input`, `ramp_input` and
`sinusoidal_input` return the same values as an array with a leading time axis, sampled at the step
starts n dt (n = 0, 1, ...), as BrainPy's `brainpy.inputs` does (Wang et al. 2023, eLife 12:e86365).

Window edges are compared with a tolerance of a few float ulps of the edge, so that step starts
t0 + n dt, which carry rounding error, fall on the side of an edge they are meant to.
"""

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import check, concrete, param


def _time(t: ArrayLike, dtype) -> Array:
    t = jnp.asarray(t)
    return t if jnp.issubdtype(t.dtype, jnp.floating) else t.astype(dtype)


def _reached(t: Array, edge: Array) -> Array:
    """`t >= edge` up to 4 ulps of `edge` (at least 4 ulps of 1 ms)."""
    eps = jnp.finfo(jnp.result_type(t, edge)).eps
    return t >= edge - 4 * eps * jnp.maximum(jnp.abs(edge), 1.0)


def _within(t: Array, start: Array, end: Array | None) -> Array:
    """`start <= t < end` (no end if `end` is None), edges as in `_reached`."""
    inside = _reached(t, start)
    return inside if end is None else inside & ~_reached(t, end)


class Constant(eqx.Module):
    """A constant current, `f(t) = value` at every t.

    Units: those of the current it models (e.g. nA). Reference: BrainPy's `constant_input`
    (Wang et al. 2023, eLife 12:e86365).
    """

    value: Float[Array, "*shape"]

    def __init__(self, value: ArrayLike):
        self.value = param("Constant", "value", value)

    def __call__(self, t: ArrayLike) -> Float[Array, "*shape"]:
        return self.value


class Section(eqx.Module):
    """A piecewise constant current.

        f(t) = values[k]   for sum(durations[:k]) <= t < sum(durations[:k + 1]),   0 after.

    Sections start at t = 0 ms (f = 0 before). `values` is a sequence of scalars or arrays that
    broadcast to one shape (e.g. one value per neuron), or an array whose leading axis indexes
    the sections; `durations` (ms, non-negative) has one entry per section. Reference: BrainPy's
    `section_input` (Wang et al. 2023, eLife 12:e86365).
    """

    values: Float[Array, " k *shape"]
    durations: Float[Array, " k"]

    def __init__(
        self, values: Sequence[ArrayLike] | ArrayLike, durations: Sequence[ArrayLike] | ArrayLike
    ):
        if isinstance(values, list | tuple):
            if not values:
                raise ValueError("Section(values=[]): values must hold at least one section.")
            arrs = [param("Section", f"values[{k}]", v) for k, v in enumerate(values)]
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrs))
            except ValueError:
                raise ValueError(
                    f"Section(values): the sections' values have shapes "
                    f"{[a.shape for a in arrs]}, which do not broadcast to one shape."
                ) from None
            self.values = jnp.stack([jnp.broadcast_to(a, shape) for a in arrs])
        else:
            self.values = param("Section", "values", values)
            if self.values.ndim == 0 or self.values.shape[0] == 0:
                raise ValueError(
                    f"Section(values of shape {self.values.shape}): values must be a sequence of "
                    "sections' values or an array whose leading axis indexes the sections."
                )
        durations = param("Section", "durations", durations)
        n = self.values.shape[0]
        if durations.shape != (n,):
            raise ValueError(
                f"Section(durations of shape {durations.shape}): expected one duration per "
                f"section, shape ({n},)."
            )
        check("Section", "durations", durations, lambda v: np.isfinite(v) & (v >= 0),
              "finite and non-negative (ms)")  # fmt: skip
        self.durations = durations

    def __call__(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _time(t, self.values.dtype)
        ends = jnp.cumsum(self.durations)
        starts = jnp.concatenate([jnp.zeros(1, ends.dtype), ends[:-1]])
        inside = _within(t, starts, ends)
        inside = inside.reshape(inside.shape + (1,) * (self.values.ndim - 1))
        return jnp.sum(jnp.where(inside, self.values, 0.0), axis=0)


class Ramp(eqx.Module):
    """A linear ramp.

        f(t) = c_start + (c_end - c_start) (t - t_start) / (t_end - t_start)
               for t_start <= t < t_end,   0 outside.

    Units: c_start, c_end those of the current (e.g. nA); t_start, t_end in ms (t_end required,
    later than t_start). Reference: BrainPy's `ramp_input` (Wang et al. 2023, eLife 12:e86365),
    which instead reaches c_end at the last step of the window.
    """

    c_start: Float[Array, "*#shape"]
    c_end: Float[Array, "*#shape"]
    t_start: Float[Array, "*#shape"]
    t_end: Float[Array, "*#shape"]

    def __init__(
        self,
        c_start: ArrayLike,
        c_end: ArrayLike,
        t_start: ArrayLike = 0.0,
        t_end: ArrayLike | None = None,
    ):
        if t_end is None:
            raise ValueError(
                "Ramp(t_end=None): t_end (ms) is required; the ramp goes from c_start at t_start "
                "to c_end at t_end."
            )
        self.c_start = param("Ramp", "c_start", c_start)
        self.c_end = param("Ramp", "c_end", c_end)
        self.t_start = param("Ramp", "t_start", t_start)
        self.t_end = param("Ramp", "t_end", t_end)
        _check_window("Ramp", self.t_start, self.t_end)

    def __call__(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _time(t, self.c_start.dtype)
        ramp = self.c_start + (self.c_end - self.c_start) * (t - self.t_start) / (
            self.t_end - self.t_start
        )
        return jnp.where(_within(t, self.t_start, self.t_end), ramp, 0.0)


class Sinusoidal(eqx.Module):
    """A sinusoidal current.

        f(t) = amplitude sin(2 pi frequency (t - t_start) / 1000) + bias
               for t_start <= t < t_end (no end if t_end is None),   0 outside.

    Units: amplitude and bias those of the current (e.g. nA); frequency in Hz (non-negative);
    t, t_start, t_end in ms. Reference: BrainPy's `sinusoidal_input` (Wang et al. 2023, eLife
    12:e86365), where `bias=True` adds the amplitude.
    """

    amplitude: Float[Array, "*#shape"]
    frequency: Float[Array, "*#shape"]
    bias: Float[Array, "*#shape"]
    t_start: Float[Array, "*#shape"]
    t_end: Float[Array, "*#shape"] | None

    def __init__(
        self,
        amplitude: ArrayLike,
        frequency: ArrayLike,
        bias: ArrayLike = 0.0,
        t_start: ArrayLike = 0.0,
        t_end: ArrayLike | None = None,
    ):
        self.amplitude = param("Sinusoidal", "amplitude", amplitude)
        self.frequency = param("Sinusoidal", "frequency", frequency)
        check("Sinusoidal", "frequency", self.frequency, lambda v: v >= 0, "non-negative (Hz)")
        self.bias = param("Sinusoidal", "bias", bias)
        self.t_start = param("Sinusoidal", "t_start", t_start)
        self.t_end = None if t_end is None else param("Sinusoidal", "t_end", t_end)
        if self.t_end is not None:
            _check_window("Sinusoidal", self.t_start, self.t_end)

    def __call__(self, t: ArrayLike) -> Float[Array, "*shape"]:
        t = _time(t, self.amplitude.dtype)
        phase = 2 * jnp.pi * self.frequency * (t - self.t_start) / 1000.0
        wave = self.amplitude * jnp.sin(phase) + self.bias
        return jnp.where(_within(t, self.t_start, self.t_end), wave, 0.0)


def _check_window(owner: str, t_start: Array, t_end: Array) -> None:
    a, b = concrete(t_start), concrete(t_end)
    if a is not None and b is not None and not np.all(b > a):
        shown = lambda v: v.reshape(()) if v.size == 1 else v  # noqa: E731
        raise ValueError(
            f"{owner}(t_start={shown(a)!s}, t_end={shown(b)!s}): t_end must be later than t_start."
        )


def _steps(owner: str, name: str, value: ArrayLike, dt: ArrayLike) -> int:
    """`value / dt` as an int when `value` (ms) is a whole number of steps dt, else raise."""
    v, h = concrete(value), concrete(dt)
    if v is None or h is None:
        raise ValueError(
            f"{owner}: {name} and dt must be concrete numbers (they fix the number of steps)."
        )
    if h.ndim != 0 or not h > 0:
        raise ValueError(f"{owner}(dt={h}): dt must be a positive scalar step in ms.")
    if v.size != 1:
        raise ValueError(f"{owner}({name} of shape {v.shape}): {name} must be a number (ms).")
    shown, v, h = v.reshape(()), float(v.reshape(())), float(h)
    n = round(v / h) if math.isfinite(v) else -1
    if n < 0 or not math.isclose(n * h, v, rel_tol=1e-6, abs_tol=1e-9):
        raise ValueError(
            f"{owner}({name}={shown!s}, dt={h!r}): {name} must be a non-negative whole number of "
            "steps dt."
        )
    return n


def _sample(waveform: eqx.Module, n_steps: int, dt: ArrayLike) -> Float[Array, "n_steps ..."]:
    """`waveform(n dt)` for n = 0, ..., n_steps - 1, as `nt.simulate` evaluates it."""
    return _sample_jit(waveform, n_steps, jnp.asarray(dt, jnp.result_type(float)))


@eqx.filter_jit
def _sample_jit(waveform, n_steps, dt):
    # One evaluation per step in a scan, with t computed as `nt.simulate` computes it: the same
    # computation, so the same values (vmap would let XLA rewrite x / c as x * (1 / c)).
    t0 = jnp.zeros((), dt.dtype)
    return jax.lax.map(lambda i: waveform(t0 + i * dt), jnp.arange(n_steps, dtype=jnp.int32))


def constant_input(value: ArrayLike, duration: ArrayLike, dt: ArrayLike) -> Float[Array, "..."]:
    """`value` at each of the `duration / dt` steps: shape (n_steps, *value.shape).

    `duration` (ms) must be a whole number of steps dt. See `Constant`.
    """
    return _sample(Constant(value), _steps("constant_input", "duration", duration, dt), dt)


def section_input(
    values: Sequence[ArrayLike] | ArrayLike,
    durations: Sequence[ArrayLike] | ArrayLike,
    dt: ArrayLike,
) -> Float[Array, "..."]:
    """`Section(values, durations)` sampled at the step starts: shape (n_steps, *value shape).

    Section k lasts durations[k] / dt steps, so every duration (ms) must be a whole number of
    steps dt; n_steps = sum(durations) / dt.
    """
    wave = Section(values, durations)
    per = [_steps("section_input", f"durations[{k}]", d, dt) for k, d in enumerate(wave.durations)]
    return _sample(wave, sum(per), dt)


def ramp_input(
    c_start: ArrayLike,
    c_end: ArrayLike,
    duration: ArrayLike,
    t_start: ArrayLike = 0.0,
    t_end: ArrayLike | None = None,
    dt: ArrayLike | None = None,
) -> Float[Array, "..."]:
    """`Ramp(c_start, c_end, t_start, t_end)` sampled at the step starts over `duration` ms.

    `t_end` defaults to `duration`; `duration` must be a whole number of steps dt (dt required).
    """
    if dt is None:
        raise ValueError("ramp_input(dt=None): dt (ms) is required.")
    wave = Ramp(c_start, c_end, t_start, duration if t_end is None else t_end)
    return _sample(wave, _steps("ramp_input", "duration", duration, dt), dt)


def sinusoidal_input(
    amplitude: ArrayLike,
    frequency: ArrayLike,
    duration: ArrayLike,
    dt: ArrayLike,
    t_start: ArrayLike = 0.0,
    t_end: ArrayLike | None = None,
    bias: ArrayLike = 0.0,
) -> Float[Array, "..."]:
    """`Sinusoidal(amplitude, frequency, bias, t_start, t_end)` sampled at the step starts over
    `duration` ms (a whole number of steps dt)."""
    wave = Sinusoidal(amplitude, frequency, bias, t_start, t_end)
    return _sample(wave, _steps("sinusoidal_input", "duration", duration, dt), dt)
