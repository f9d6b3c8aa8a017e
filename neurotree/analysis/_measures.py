"""Measures on records: firing rates, spike-train irregularity and variability, correlation,
synchrony and power spectra.

Records have the time axis first, as `nt.simulate` returns them: spikes of shape (T, *batch, n)
with n neurons last, one step of `dt` ms per row. A spike is a nonzero value (a step may hold a
count > 1 where the measure says so). Rates are in Hz, times and windows in ms, frequencies in Hz.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Shaped

from .._core import concrete


def _dt(owner: str, dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, int | float | np.number) or not dt > 0:
        raise ValueError(f"{owner}(dt={dt!r}): dt must be a positive step in ms (a number).")
    return float(dt)


def _steps(owner: str, name: str, value, dt: float, minimum: int = 1) -> int:
    """`value` ms as a whole number of steps of `dt` ms (at least `minimum`)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a duration in ms.")
    n = round(float(value) / dt)
    if n < minimum or not math.isclose(n * dt, float(value), rel_tol=1e-6, abs_tol=1e-9):
        raise ValueError(
            f"{owner}({name}={value!r}, dt={dt!r}): {name} must be a whole number of steps dt, "
            f"at least {minimum}."
        )
    return n


def _records(owner: str, x, name: str = "spikes", min_ndim: int = 2) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < min_ndim or x.shape[0] < 1:
        shape = "(T, *batch, n)" if min_ndim == 2 else "(T, ...)"
        raise ValueError(
            f"{owner}: {name} of shape {x.shape}; expected {shape} with the time axis first."
        )
    return x


def _binned(x: Array, n_bin: int) -> Array:
    """Sums over consecutive bins of `n_bin` steps; the last T mod n_bin steps are left out."""
    k = x.shape[0] // n_bin
    return x[: k * n_bin].reshape((k, n_bin) + x.shape[1:]).sum(axis=1)


def firing_rate(
    spikes: Shaped[ArrayLike, "T *batch n"],
    *,
    dt: float,
    window: float = 10.0,
    kind: str = "rect",
    per_neuron: bool = False,
) -> Float[Array, " T *batch"] | Float[Array, "T *batch n"]:
    """Smoothed firing rate in Hz: the population rate (mean over the n neurons, shape
    (T, *batch)), or each neuron's (`per_neuron=True`, shape (T, *batch, n)).

        rate(t_i) = 1000 / dt * sum_j K(j) s(t_{i - j}) / sum_j K(j)      (Hz, dt in ms)

    with the sums over the steps j inside the record. `kind="rect"`: K = 1 on a window of
    `window` ms (a whole number of steps w), steps i - ceil((w - 1) / 2) to i + floor((w - 1) / 2),
    so the rate is the spike count in the window divided by its duration (BrainPy's
    `firing_rate`). `kind="gaussian"`: K(j) = exp(-(j dt)^2 / (2 window^2)), window the standard
    deviation in ms, truncated at 4 standard deviations. Near the ends of the record the kernel is
    renormalised over the steps that exist, so a constant rate is estimated without bias up to
    the edges (BrainPy pads with zeros instead, which lowers the rate there).
    Reference: Dayan & Abbott (2001), Theoretical Neuroscience, MIT Press, section 1.2.
    """
    owner = "firing_rate"
    dt = _dt(owner, dt)
    x = _records(owner, spikes)
    if not per_neuron:
        x = x.mean(axis=-1)
    T = x.shape[0]
    if kind == "rect":
        w = _steps(owner, "window", window, dt)
        lo, hi = (w - 1) - (w - 1) // 2, (w - 1) // 2
        c = jnp.concatenate([jnp.zeros((1,) + x.shape[1:], x.dtype), jnp.cumsum(x, axis=0)])
        i = jnp.arange(T)
        start, stop = jnp.maximum(i - lo, 0), jnp.minimum(i + hi + 1, T)
        count = (stop - start).astype(x.dtype).reshape((T,) + (1,) * (x.ndim - 1))
        return (c[stop] - c[start]) / (count * (dt / 1000.0))
    if kind == "gaussian":
        if not (isinstance(window, int | float | np.number) and window > 0):
            raise ValueError(f"{owner}(window={window!r}): the Gaussian's sd must be > 0 ms.")
        half = int(math.ceil(4.0 * float(window) / dt))
        j = jnp.arange(-half, half + 1, dtype=x.dtype) * dt
        kernel = jnp.exp(-0.5 * jnp.square(j / window))
        n_fft = T + 2 * half

        def smooth(y):
            full = jnp.fft.irfft(
                jnp.fft.rfft(y, n_fft, axis=0)
                * jnp.fft.rfft(kernel, n_fft).reshape((-1,) + (1,) * (y.ndim - 1)),
                n_fft,
                axis=0,
            )
            return full[half : half + T]

        norm = smooth(jnp.ones((T,), x.dtype)).reshape((T,) + (1,) * (x.ndim - 1))
        return smooth(x) / (norm * (dt / 1000.0))
    raise ValueError(f'{owner}(kind={kind!r}): expected "rect" or "gaussian".')


def isi_cv(spikes: Shaped[ArrayLike, "T *batch n"]) -> Float[Array, "*batch n"]:
    """Coefficient of variation of each neuron's inter-spike intervals, CV = sd(ISI) / mean(ISI).

    The sd is the sample sd (n - 1 in the denominator). A neuron with fewer than two ISIs
    (fewer than three spikes) has no defined CV: NaN. Spikes must be 0/1 per step (a step
    holding two spikes would hide an ISI shorter than dt: a ValueError if the record is
    concrete); the CV is dimensionless, so dt is not needed. A Poisson train has CV = 1, a
    regular one CV = 0; a Bernoulli train with spike probability p per step has geometric
    ISIs and CV = sqrt(1 - p).
    Reference: Softky & Koch (1993), J Neurosci 13(1):334-350; Dayan & Abbott (2001), 1.4.
    """
    owner = "isi_cv"
    x = _records(owner, spikes)
    values = concrete(x)
    if values is not None and np.any(values > 1):
        raise ValueError(
            f"{owner}: a step holds {values.max():g} spikes; the ISIs need at most one spike per "
            "step (record with a smaller dt)."
        )
    spiking = x > 0
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    step = jnp.broadcast_to(jnp.arange(x.shape[0]).reshape(shape), x.shape)
    last = jax.lax.cummax(jnp.where(spiking, step, -1), axis=0)
    prev = jnp.concatenate([jnp.full((1,) + x.shape[1:], -1, last.dtype), last[:-1]])
    valid = spiking & (prev >= 0)
    isi = jnp.where(valid, step - prev, 0).astype(x.dtype)
    n = valid.sum(axis=0)
    mean = isi.sum(axis=0) / jnp.maximum(n, 1)
    var = jnp.sum(jnp.where(valid, jnp.square(isi - mean), 0.0), axis=0) / jnp.maximum(n - 1, 1)
    return jnp.where(n >= 2, jnp.sqrt(var) / mean, jnp.nan)


def fano_factor(
    spikes: Shaped[ArrayLike, "T *batch n"], *, dt: float, window: float
) -> Float[Array, "*batch n"]:
    """Fano factor of each neuron's spike counts in consecutive windows of `window` ms:
    F = var(N) / mean(N), with the sample variance (K - 1 in the denominator, K windows).

    The record is cut into K = floor(T / w) windows of w steps (K >= 2 is required); the
    last T - K w steps are not counted. A silent neuron has F = NaN (0 / 0). Poisson counts
    have F = 1; Bernoulli spikes with probability p per step F = 1 - p; a regular train
    F <= 1 / (4 mean(N)), which falls to 0 as the window grows.
    Reference: Fano (1947), Phys Rev 72:26; Dayan & Abbott (2001), 1.4.
    """
    owner = "fano_factor"
    dt = _dt(owner, dt)
    x = _records(owner, spikes)
    w = _steps(owner, "window", window, dt)
    if x.shape[0] // w < 2:
        raise ValueError(
            f"{owner}(window={window!r}): the record of {x.shape[0]} steps of {dt} ms holds "
            f"{x.shape[0] // w} window(s) of {w} steps; a variance needs at least 2."
        )
    counts = _binned(x, w)
    mean = counts.mean(axis=0)
    return jnp.where(mean > 0, counts.var(axis=0, ddof=1) / mean, jnp.nan)


def cross_correlation(
    spikes_a: Shaped[ArrayLike, " T *shape_a"],
    spikes_b: Shaped[ArrayLike, " T_b *shape_b"],
    *,
    dt: float,
    max_lag: float,
    bin: float | None = None,
) -> tuple[Float[Array, " lags"], Float[Array, " lags *shape"]]:
    """Cross-correlation function of spike counts in bins of `bin` ms (default dt):

        rho(tau) = 1 / (K - |k|) sum_i (a_i - <a>) (b_{i+k} - <b>) / (sd(a) sd(b)),  tau = k bin

    for |tau| <= `max_lag`, a and b the counts in the K bins, means and sds over all bins. A
    peak at tau > 0 means b follows a. The trailing axes of `spikes_a` and `spikes_b` broadcast
    against each other, pair by pair: to correlate every neuron of a with every neuron of b, pass
    `a[:, :, None]` and `b[:, None, :]`. Returns (the lags in ms, rho with the lag axis first).
    Identical trains give rho(0) = 1; independent ones rho ~ 0 with sd ~ 1 / sqrt(K - |k|).
    A train without spikes has no sd: NaN. The last T mod (bin / dt) steps are not counted.
    Reference: Perkel, Gerstein & Moore (1967), Biophys J 7(4):419-440.
    """
    owner = "cross_correlation"
    dt = _dt(owner, dt)
    a = _records(owner, spikes_a, "spikes_a", 1)
    b = _records(owner, spikes_b, "spikes_b", 1)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{owner}: spikes_a has {a.shape[0]} steps and spikes_b {b.shape[0]}; the records "
            "must cover the same steps."
        )
    try:
        shape = np.broadcast_shapes(a.shape[1:], b.shape[1:])
    except ValueError:
        raise ValueError(
            f"{owner}: the trailing shapes {a.shape[1:]} and {b.shape[1:]} do not broadcast."
        ) from None
    n_bin = 1 if bin is None else _steps(owner, "bin", bin, dt)
    a, b = _binned(a, n_bin), _binned(b, n_bin)
    K = a.shape[0]
    L = _steps(owner, "max_lag", max_lag, n_bin * dt, minimum=0)
    if L >= K:
        raise ValueError(
            f"{owner}(max_lag={max_lag!r}): {L} bins of lag need a record longer than its {K} bins."
        )
    a = jnp.broadcast_to(a - a.mean(axis=0), (K,) + shape)
    b = jnp.broadcast_to(b - b.mean(axis=0), (K,) + shape)
    n_fft = K + L
    spec = jnp.conj(jnp.fft.rfft(a, n_fft, axis=0)) * jnp.fft.rfft(b, n_fft, axis=0)
    circ = jnp.fft.irfft(spec, n_fft, axis=0)  # circ[k] = sum_i a_i b_{i+k}, k mod n_fft
    k = jnp.arange(-L, L + 1)
    overlap = (K - jnp.abs(k)).astype(a.dtype).reshape((-1,) + (1,) * len(shape))
    cov = circ[jnp.remainder(k, n_fft)] / overlap
    rho = cov / (a.std(axis=0) * b.std(axis=0))
    return k.astype(a.dtype) * (n_bin * dt), rho


def synchrony_index(
    spikes: Shaped[ArrayLike, "T *batch n"], *, dt: float, bin: float
) -> Float[Array, "*batch"]:
    """Golomb's synchrony measure chi on spike counts in bins of `bin` ms:

        chi^2 = Var_t(N(t)) / mean_i Var_t(N_i(t)),    N(t) = mean_i N_i(t)

    with N_i(t) neuron i's count in the bin at t, the variances over the bins. chi = 1 when
    every neuron fires the same train (full synchrony); for n independent neurons chi^2 ~ 1 / n
    (chi ~ 1 / sqrt(n)): chi measures synchrony at the resolution of the bin. NaN if every
    neuron is silent. The last T mod (bin / dt) steps are not counted.
    Reference: Golomb & Rinzel (1993), Phys Rev E 48(6):4810-4814; Golomb (2007), Neuronal
    synchrony measures, Scholarpedia 2(1):1347.
    """
    owner = "synchrony_index"
    dt = _dt(owner, dt)
    x = _records(owner, spikes)
    counts = _binned(x, _steps(owner, "bin", bin, dt))
    if counts.shape[0] < 2:
        raise ValueError(f"{owner}(bin={bin!r}): the record holds fewer than 2 bins.")
    individual = counts.var(axis=0).mean(axis=-1)
    population = counts.mean(axis=-1).var(axis=0)
    return jnp.where(individual > 0, jnp.sqrt(population / individual), jnp.nan)


def power_spectrum(
    signal: Shaped[ArrayLike, " T *shape"], *, dt: float, segment: float | None = None
) -> tuple[Float[Array, " freqs"], Float[Array, " freqs *shape"]]:
    """Power spectral density by Welch's method (e.g. of a population rate).

    The signal is cut into segments of `segment` ms (default: 256 steps, or the whole record
    if shorter) overlapping by half; each segment has its mean removed, is multiplied by a
    periodic Hann window w and transformed; the one-sided density is

        P(f) = 2 |sum_j w_j x_j e^{-2 pi i f t_j}|^2 / (fs sum_j w_j^2),    fs = 1000 / dt Hz

    (not doubled at 0 and at the Nyquist frequency), averaged over the segments, so that the
    integral of P over f is the signal's variance. Segments that do not fit whole are left
    out at the end, as scipy.signal.welch does (whose defaults this matches). Returns (the
    frequencies in Hz, P with the frequency axis first, in signal unit^2 / Hz).
    Reference: Welch (1967), IEEE Trans Audio Electroacoust 15(2):70-73.
    """
    owner = "power_spectrum"
    dt = _dt(owner, dt)
    x = _records(owner, signal, "signal", 1)
    T = x.shape[0]
    n_seg = min(T, 256) if segment is None else _steps(owner, "segment", segment, dt, 2)
    if n_seg > T:
        raise ValueError(
            f"{owner}(segment={segment!r}): a segment of {n_seg} steps is longer than the "
            f"record's {T}."
        )
    step = n_seg - n_seg // 2
    starts = np.arange(0, T - n_seg + 1, step)
    segments = x[starts[:, None] + np.arange(n_seg)[None, :]]  # (n_segments, n_seg, *shape)
    segments = segments - segments.mean(axis=1, keepdims=True)
    window = 0.5 - 0.5 * jnp.cos(2 * jnp.pi * jnp.arange(n_seg, dtype=x.dtype) / n_seg)
    window = window.reshape((1, n_seg) + (1,) * (x.ndim - 1))
    fs = 1000.0 / dt
    power = jnp.square(jnp.abs(jnp.fft.rfft(segments * window, axis=1)))
    power = power.mean(axis=0) / (fs * jnp.sum(jnp.square(window)))
    double = np.full(n_seg // 2 + 1, 2.0)
    double[0] = 1.0
    if n_seg % 2 == 0:
        double[-1] = 1.0
    power = power * jnp.asarray(double, x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    return jnp.fft.rfftfreq(n_seg, dt / 1000.0).astype(x.dtype), power
