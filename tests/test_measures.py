"""Measures on spike records against known answers: Bernoulli (discretised Poisson) trains,
regular trains, synchronous and independent populations, sinusoids, scipy's Welch estimate."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats

import neurotree as nt

A = nt.analysis


def bernoulli(seed, n_steps, shape, p):
    """Spikes with probability p per step, independent: a Poisson train discretised at dt."""
    return (np.random.default_rng(seed).random((n_steps,) + shape) < p).astype(np.float32)


def regular(n_steps, n, period, rng=None):
    """One spike every `period` steps, each neuron with its own phase."""
    phase = np.arange(n) % period if rng is None else rng.integers(0, period, n)
    steps = np.arange(n_steps)[:, None]
    return ((steps - phase[None, :]) % period == 0).astype(np.float32)


# A 20 Hz Bernoulli train at dt = 0.1 ms for 10 s: p = 0.002 per step, about 200 ISIs each.
DT, RATE, N, STEPS = 0.1, 20.0, 100, 100_000
P = RATE * DT / 1000.0


@pytest.fixture(scope="module")
def poisson():
    return bernoulli(0, STEPS, (N,), P)


def test_isi_cv_poisson(poisson):
    # Geometric ISIs (the discretised exponential) have CV = sqrt(1 - p). For n exponential ISIs
    # the delta method gives sd(CV estimate) = 1 / sqrt(n) (from Var m = 1/n, Var s^2 = 8/n,
    # Cov(m, s^2) = 2/n with unit mean), and a bias of order 1/n.
    cv = np.asarray(A.isi_cv(poisson))
    n_isi = poisson.sum(0) - 1
    assert cv.shape == (N,) and np.all(np.isfinite(cv))
    se = 1.0 / np.sqrt(n_isi.sum())
    assert abs(cv.mean() - np.sqrt(1 - P)) < 4 * se + 1.0 / n_isi.mean()
    # The spread across neurons is the predicted sd.
    assert 0.7 < cv.std() * np.sqrt(n_isi.mean()) < 1.3


def test_fano_poisson(poisson):
    # Bernoulli counts are binomial: F = 1 - p. For K windows of mean count lam, the variance
    # of the estimate is ~ 2 / (K - 1) + 1 / (K lam) (sample variance, Poisson kurtosis 1/lam).
    window = 100.0
    fano = np.asarray(A.fano_factor(poisson, dt=DT, window=window))
    K, lam = STEPS // 1000, RATE * window / 1000
    se = np.sqrt(2 / (K - 1) + 1 / (K * lam)) / np.sqrt(N)
    assert fano.shape == (N,)
    assert abs(fano.mean() - (1 - P)) < 4 * se
    assert 0.7 < fano.std() / (se * np.sqrt(N)) < 1.3


def test_regular_trains():
    spikes = regular(20_000, 8, 250)  # 40 Hz at dt = 0.1 ms
    np.testing.assert_allclose(A.isi_cv(spikes), 0.0, atol=1e-6)
    # Windows holding a whole number of periods: identical counts, F = 0.
    np.testing.assert_allclose(A.fano_factor(spikes, dt=DT, window=100.0), 0.0, atol=1e-6)
    # Otherwise counts are floor or ceil of w / period: over K windows their sample variance is
    # at most K / (K - 1) / 4, so F <= K / (K - 1) / (4 mean) -> 0 as the window grows.
    for window in (11.0, 37.0, 111.0, 333.0):
        fano = np.asarray(A.fano_factor(spikes, dt=DT, window=window))
        K, mean = 20_000 // round(window / DT), window / 25.0
        assert np.all(fano <= K / (K - 1) / (4 * mean) * 1.01), (window, fano)


def test_isi_cv_edge_cases():
    spikes = np.zeros((100, 4), np.float32)
    spikes[[10], 1] = 1  # 1 spike: no ISI
    spikes[[10, 30], 2] = 1  # 2 spikes: one ISI, no sd
    spikes[[10, 30, 70], 3] = 1  # ISIs 20, 40: sd 14.14 (n - 1), mean 30
    cv = np.asarray(A.isi_cv(spikes))
    assert np.all(np.isnan(cv[:3]))
    np.testing.assert_allclose(cv[3], np.std([20, 40], ddof=1) / 30, rtol=1e-6)
    with pytest.raises(ValueError, match="at most one spike per step"):
        A.isi_cv(spikes * 2)


def test_firing_rate_rect_counts(poisson):
    # The rect rate at step i is the count over steps i - 50 .. i + 49 (w = 100 steps) / 10 ms,
    # renormalised to the steps that exist near the ends.
    x = poisson[:5000, :10]
    rate = np.asarray(A.firing_rate(x, dt=DT, window=10.0, per_neuron=True))
    assert rate.shape == x.shape
    for i in (0, 3, 49, 50, 2500, 4950, 4999):
        lo, hi = max(i - 50, 0), min(i + 50, len(x))
        np.testing.assert_allclose(
            rate[i], x[lo:hi].sum(0) / ((hi - lo) * DT / 1000), rtol=1e-5, atol=1e-3
        )
    population = np.asarray(A.firing_rate(x, dt=DT, window=10.0))
    np.testing.assert_allclose(population, rate.mean(-1), rtol=1e-5, atol=1e-3)
    # Odd window: symmetric around i.
    rate = np.asarray(A.firing_rate(x, dt=DT, window=10.1, per_neuron=True))
    np.testing.assert_allclose(rate[100], x[50:151].sum(0) / 10.1e-3, rtol=1e-5)


def test_firing_rate_known_rates(poisson):
    # A regular 40 Hz train, window a whole number of periods: exactly 40 Hz in the interior;
    # with the renormalised window, the mean rate is unbiased up to the edges.
    spikes = regular(10_000, 8, 250)
    rate = np.asarray(A.firing_rate(spikes, dt=DT, window=50.0, per_neuron=True))
    np.testing.assert_allclose(rate[250:-250], 40.0, rtol=1e-5)
    # Poisson: the time-averaged population rate is 20 Hz within its standard error
    # sqrt(count) / (N T); the Gaussian rate too, batch axes kept.
    for kind, window in (("rect", 20.0), ("gaussian", 5.0)):
        rate = np.asarray(A.firing_rate(poisson.reshape(STEPS, 4, 25), dt=DT, window=window,
                                        kind=kind))  # fmt: skip
        assert rate.shape == (STEPS, 4)
        se = np.sqrt(RATE * 10.0 * N) / (N * 10.0)
        assert abs(rate.mean() - RATE) < 4 * se, (kind, rate.mean())


def test_firing_rate_gaussian_single_spike():
    # One spike: the rate is the Gaussian density (1/ms) x 1000 cut at 4 sd (renormalised to
    # the mass 0.99994 inside), integrating to one spike.
    spikes = np.zeros((4000, 1), np.float32)
    spikes[2000, 0] = 1
    sigma = 5.0
    rate = np.asarray(A.firing_rate(spikes, dt=DT, window=sigma, kind="gaussian"))
    t = (np.arange(4000) - 2000) * DT
    inside = np.abs(t) <= 4 * sigma + 1e-9
    density = scipy.stats.norm.pdf(t, scale=sigma) / (2 * scipy.stats.norm.cdf(4.0) - 1)
    np.testing.assert_allclose(rate, 1000 * np.where(inside, density, 0.0), atol=1e-3)
    np.testing.assert_allclose(rate.sum() * DT / 1000, 1.0, rtol=1e-5)


def test_cross_correlation():
    a = bernoulli(1, 50_000, (1,), 0.02)[:, 0]
    lags, rho = A.cross_correlation(a, a, dt=1.0, max_lag=20.0)
    np.testing.assert_allclose(lags, np.arange(-20, 21))
    np.testing.assert_allclose(rho[20], 1.0, rtol=1e-5)
    # b is a delayed by 5 ms: the peak is at +5 ms (b follows a).
    b = np.concatenate([np.zeros(5, np.float32), a[:-5]])
    lags, rho = A.cross_correlation(a, b, dt=1.0, max_lag=20.0)
    assert lags[np.argmax(rho)] == 5.0 and rho.max() > 0.99
    # The definition, directly, at a few lags (bins of 2 steps).
    x, y = a.reshape(-1, 2).sum(1), b.reshape(-1, 2).sum(1)
    _, rho = A.cross_correlation(a, b, dt=1.0, max_lag=8.0, bin=2.0)
    K, xc, yc = len(x), x - x.mean(), y - y.mean()
    for k in (-4, -1, 0, 2, 4):
        direct = (xc[max(0, -k) : K - max(0, k)] * yc[max(0, k) : K - max(0, -k)]).mean()
        np.testing.assert_allclose(rho[k + 4], direct / (x.std() * y.std()), atol=1e-4)


def test_cross_correlation_independent_pairs():
    # All pairs of 20 independent trains: rho ~ N(0, 1 / (K - |k|)) at each lag, so
    # (K - |k|) rho^2 averages 1 over the 190 pairs x 21 lags (sd ~ sqrt(2 / 3990)).
    s = bernoulli(2, 20_000, (20,), 0.05)
    lags, rho = A.cross_correlation(s[:, :, None], s[:, None, :], dt=1.0, max_lag=10.0)
    assert rho.shape == (21, 20, 20)
    np.testing.assert_allclose(np.diagonal(rho[10]), 1.0, rtol=1e-5)
    i, j = np.triu_indices(20, 1)
    scaled = (20_000 - np.abs(lags))[:, None] * np.asarray(rho)[:, i, j] ** 2
    assert abs(scaled.mean() - 1.0) < 4 * np.sqrt(2 / scaled.size) * 3  # lags share samples
    assert np.abs(np.asarray(rho)[:, i, j]).max() < 5 / np.sqrt(20_000 - 10)


def test_synchrony_index():
    one = bernoulli(3, 20_000, (1,), 0.02)
    same = np.repeat(one, 50, axis=1)
    np.testing.assert_allclose(A.synchrony_index(same, dt=1.0, bin=5.0), 1.0, rtol=1e-5)
    # n independent neurons: chi^2 = 1 / n, up to the sample variance's relative sd
    # sqrt(2 / (K - 1)) over K = 4000 bins.
    n = 50
    independent = bernoulli(4, 20_000, (2, n), 0.02)
    chi = np.asarray(A.synchrony_index(independent, dt=1.0, bin=5.0))
    assert chi.shape == (2,)
    np.testing.assert_allclose(chi**2 * n, 1.0, atol=4 * np.sqrt(2 / 3999))
    assert np.isnan(A.synchrony_index(np.zeros((100, 3)), dt=1.0, bin=5.0))


def test_power_spectrum_matches_scipy():
    x = np.random.default_rng(5).normal(size=(3000, 2, 3)).astype(np.float32)
    for segment in (None, 128.0, 301.0):
        freqs, power = A.power_spectrum(x, dt=0.5, segment=segment)
        nperseg = 256 if segment is None else round(segment / 0.5)
        f_ref, p_ref = scipy.signal.welch(x, fs=2000.0, nperseg=nperseg, axis=0)
        np.testing.assert_allclose(freqs, f_ref, rtol=1e-6)
        np.testing.assert_allclose(power, p_ref, rtol=1e-3, atol=1e-7)


def test_power_spectrum_sinusoidal_population():
    # 200 neurons with rate r(t) = r0 (1 + m sin(2 pi f t)), f = 12 Hz: the population rate's
    # spectrum peaks at f holding the sinusoid's power (r0 m)^2 / 2 = 50 Hz^2, on a white floor
    # of the Poisson noise, 2 p (1 - p) / n (1000 / dt)^2 / fs Hz^2/Hz.
    dt, n, r0, m, f = 1.0, 200, 20.0, 0.5, 12.0
    t = (np.arange(8192) + 1) * dt
    p = r0 * (1 + m * np.sin(2 * np.pi * f * t / 1000)) * dt / 1000
    rng = np.random.default_rng(6)
    spikes = (rng.random((len(t), n)) < p[:, None]).astype(np.float32)
    rate = jnp.asarray(spikes).mean(-1) * 1000 / dt
    freqs, power = A.power_spectrum(rate, dt=dt, segment=1024.0)
    freqs, power = np.asarray(freqs), np.asarray(power)
    df = freqs[1]
    peak = np.argmax(power[1:]) + 1
    assert abs(freqs[peak] - f) <= df
    p0 = r0 * dt / 1000
    floor = 2 * p0 * (1 - p0) / n * (1000 / dt) ** 2 / (1000 / dt)
    near = np.abs(freqs - f) <= 3 * df
    np.testing.assert_allclose(power[near].sum() * df, 50.0 + floor * near.sum() * df, rtol=0.1)
    np.testing.assert_allclose(np.median(power[freqs > 100]), floor, rtol=0.1)


def test_errors():
    s = np.zeros((100, 3), np.float32)
    with pytest.raises(ValueError, match="dt"):
        A.firing_rate(s, dt=0.0)
    with pytest.raises(ValueError, match="whole number of steps"):
        A.firing_rate(s, dt=0.3, window=1.0)
    with pytest.raises(ValueError, match="kind"):
        A.firing_rate(s, dt=1.0, kind="box")
    with pytest.raises(ValueError, match="at least 2"):
        A.fano_factor(s, dt=1.0, window=60.0)
    with pytest.raises(ValueError, match="same steps"):
        A.cross_correlation(s, s[:50], dt=1.0, max_lag=5.0)
    with pytest.raises(ValueError, match="longer"):
        A.cross_correlation(s, s, dt=1.0, max_lag=100.0)
    with pytest.raises(ValueError, match="longer"):
        A.power_spectrum(s, dt=1.0, segment=200.0)
