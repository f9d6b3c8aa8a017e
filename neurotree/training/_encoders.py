"""Spike-train encoders: static intensities in, spike trains with a leading time axis out.

Every encoder returns float 0/1 arrays of shape (n_steps, *x.shape): time first, then the
input's own axes (batch, then features), ready to pass as `inputs` to `nt.simulate`. Step n
covers the time [n dt, (n + 1) dt) of the run. Random encoders take an explicit `key`.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import concrete


def _n_steps(owner: str, n_steps) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"{owner}(n_steps={n_steps!r}): n_steps must be a positive integer.")
    return int(n_steps)


def _positive(owner: str, name: str, value) -> ArrayLike:
    v = concrete(value)
    if v is not None and (v.ndim != 0 or not (np.isfinite(v) and v > 0)):
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a positive finite scalar.")
    return value


def _floats(x: ArrayLike) -> Float[Array, "..."]:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _check_range(owner: str, name: str, x, low: float, high: float | None, what: str) -> None:
    """Raise if the concrete `x` has values outside [low, high] (or is not finite)."""
    v = concrete(x)
    if v is None:
        return
    bad = ~np.isfinite(v) | (v < low)
    if high is not None:
        bad |= v > high
    if np.any(bad):
        shown = v[bad].reshape(-1)[:5]
        raise ValueError(
            f"{owner}: {name} has values {shown} outside {what} (at {int(bad.sum())} of "
            f"{v.size} entries)."
        )


def bernoulli_encode(
    key: PRNGKeyArray, p: ArrayLike, *, n_steps: int
) -> Float[Array, " n_steps *shape"]:
    """Each entry of `p` (in [0, 1]) is the probability of a spike at every step.

        s_n ~ Bernoulli(p)    independently for each step n and entry

    so the spike count of an entry over the run is Binomial(n_steps, p). Useful for
    intensities already scaled to [0, 1] (pixels), e.g. `bernoulli_encode(key, 0.2 * x, ...)`.

    Reference: snnTorch's `spikegen.rate` (Eshraghian et al. 2023, Proc IEEE 111(9):1016-1054).
    """
    n_steps = _n_steps("bernoulli_encode", n_steps)
    p = _floats(p)
    _check_range("bernoulli_encode", "p", p, 0.0, 1.0, "[0, 1] (probabilities per step)")
    u = jax.random.uniform(key, (n_steps,) + p.shape, p.dtype)
    return (u < p).astype(p.dtype)


def poisson_encode(
    key: PRNGKeyArray, rates_hz: ArrayLike, *, n_steps: int, dt: ArrayLike
) -> Float[Array, " n_steps *shape"]:
    """Rates (Hz) as Poisson-like spike trains: one Bernoulli draw per step.

        s_n ~ Bernoulli(p),    p = rate dt / 1000    (rate in Hz, dt in ms)

    the clock-driven approximation of a Poisson process of that rate (at most one spike per
    step; the mean count n_steps p = rate * duration is exact, the variance is n_steps p (1 - p)
    instead of the Poisson's n_steps p). Raises if some p > 1: a step cannot hold the rate;
    take a smaller dt. For several spikes per step use `nt.inputs.PoissonInput`.

    Reference: Dayan & Abbott (2001), Theoretical Neuroscience, ch. 1.4, MIT Press.
    """
    n_steps = _n_steps("poisson_encode", n_steps)
    _positive("poisson_encode", "dt", dt)
    rates = _floats(rates_hz)
    _check_range("poisson_encode", "rates_hz", rates, 0.0, None, "[0, inf) Hz")
    p = rates * (jnp.asarray(dt, rates.dtype) / 1000.0)
    r, h = concrete(rates), concrete(dt)
    if r is not None and h is not None and r.size and np.max(r) * float(h) / 1000.0 > 1.0:
        raise ValueError(
            f"poisson_encode(dt={float(h)}): the highest rate, {float(np.max(r))} Hz, gives a "
            f"spike probability {float(np.max(r)) * float(h) / 1000.0:.3g} per step, above 1; "
            f"use dt <= {1000.0 / float(np.max(r)):.4g} ms or lower rates."
        )
    u = jax.random.uniform(key, (n_steps,) + p.shape, p.dtype)
    return (u < p).astype(p.dtype)


def latency_encode(
    x: ArrayLike,
    *,
    n_steps: int,
    tau: ArrayLike = 5.0,
    threshold: ArrayLike = 0.01,
    dt: ArrayLike = 1.0,
) -> Float[Array, " n_steps *shape"]:
    """Time-to-first-spike code: one spike per input, earlier for stronger inputs.

    Each input charges an RC membrane, tau dv/dt = -v + x from v = 0, which crosses
    `threshold` at

        t*(x) = tau ln(x / (x - threshold))    for x > threshold (ms),

    and the spike is emitted in step n = floor(t* / dt + 1/2), the step whose window
    [n dt - dt/2, n dt + dt/2) holds t* (as `nt.inputs.SpikeTimes` places events). Inputs
    x <= threshold never reach the threshold and never spike, nor do inputs whose t* falls in
    step n_steps or later: only x > threshold / (1 - exp(-(n_steps - 1/2) dt / tau)) spike
    within the run. Inputs must be finite and non-negative (any scale; `threshold` is in their
    unit). Not differentiable in x (the output is piecewise constant).

    Reference: Eshraghian et al. (2023), Training spiking neural networks using lessons from
    deep learning, Proc IEEE 111(9):1016-1054 (snnTorch's `spikegen.latency`, with `clip=True`);
    Gütig & Sompolinsky (2006), The tempotron, Nat Neurosci 9(3):420-428 (latency codes).
    """
    owner = "latency_encode"
    n_steps = _n_steps(owner, n_steps)
    _positive(owner, "tau", tau)
    _positive(owner, "threshold", threshold)
    _positive(owner, "dt", dt)
    x = _floats(x)
    _check_range(owner, "x", x, 0.0, None, "[0, inf)")
    above = x > threshold
    safe = jnp.where(above, x, 2.0 * threshold + 1.0)
    t_star = tau * jnp.log(safe / (safe - threshold))
    steps = jnp.floor(t_star / dt + 0.5)
    fires = above & (steps < n_steps)
    index = jnp.where(fires, steps, -1).astype(jnp.int32)
    grid = jnp.arange(n_steps, dtype=jnp.int32).reshape((n_steps,) + (1,) * x.ndim)
    return (grid == index).astype(x.dtype)
