import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

Izhikevich = nt.neurons.Izhikevich
# (a, b, c, d) of Izhikevich (2003), Fig. 2.
TYPES = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
}
PARAMS = np.array(list(TYPES.values())).T  # rows a, b, c, d; one column per type
T, CURRENT = 500.0, 10.0


def euler_reference(T, dt, current=CURRENT, v_th=30.0):
    """Spike times of the four types by forward Euler in float64 NumPy, from rest."""
    a, b, c, d = PARAMS
    v = ((b - 5.0) - np.sqrt((5.0 - b) ** 2 - 4 * 0.04 * 140.0)) / 0.08  # lower fixed point
    u = b * v
    times = [[] for _ in TYPES]
    for n in range(round(T / dt)):
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
        du = a * (b * v - u)
        v, u = v + dt * dv, u + dt * du
        for j in np.nonzero(v >= v_th)[0]:
            times[j].append((n + 1) * dt)
        fired = v >= v_th
        v, u = np.where(fired, c, v), np.where(fired, u + d, u)
    return [np.array(t) for t in times]


@pytest.fixture(scope="module")
def reference():
    return euler_reference(T, 0.005)


def simulate_types(dt, **kwargs):
    m = Izhikevich(4, *map(jnp.asarray, PARAMS), **kwargs)
    _, spikes = nt.simulate(m, m.init_state(), CURRENT, dt=dt, duration=T)
    spikes = np.asarray(spikes)
    return [(np.nonzero(spikes[:, j])[0] + 1) * dt for j in range(4)]


def check_patterns(times):
    rs, fs, ch, ib = (np.diff(t) for t in times)
    # Regular spiking: adapting (the first ISI clearly shorter than the later ones), no bursts.
    assert len(rs) >= 5 and rs.min() > 10.0
    assert rs[0] < 0.6 * np.median(rs[1:])
    # Fast spiking: fast tonic firing with nearly constant ISI once adapted, well above RS.
    assert np.std(fs[5:]) / np.mean(fs[5:]) < 0.05 and fs.max() < 10.0
    assert len(times[1]) > 4 * len(times[0])
    # Chattering: repetitive bursts. ISIs are bimodal, short within (< 10 ms) and long between
    # bursts (> 20 ms), nothing in between; several bursts of at least 3 spikes.
    short, long = ch < 10.0, ch > 20.0
    assert np.all(short | long)
    assert long.sum() >= 5 and short.sum() >= 2 * long.sum() + 2
    # Intrinsically bursting: an initial burst (>= 3 spikes, ISIs < 10 ms), then tonic single
    # spikes (every later ISI > 20 ms).
    n_burst = np.argmax(ib > 10.0)
    assert n_burst >= 2 and np.all(ib[:n_burst] < 10.0) and np.all(ib[n_burst:] > 20.0)
    assert len(ib) - n_burst >= 5


def test_reference_shows_the_published_patterns(reference):
    check_patterns(reference)  # the test's own float64 Euler integration


@pytest.mark.parametrize("dt", [0.1, 0.5])
def test_published_firing_patterns(dt):
    check_patterns(simulate_types(dt))


@pytest.mark.parametrize("dt", [0.1, 0.5])
def test_spike_counts_match_float64_euler(reference, dt):
    times = simulate_types(dt)
    counts = np.array([len(t) for t in times])
    expected = np.array([len(t) for t in reference])
    assert expected.min() >= 10
    # A spike registers at the first step end past v_th, so an ISI may come out up to dt longer:
    # over the run the count may fall short by up to (count * dt / mean ISI), plus one at the end.
    allowed = 1 + expected * dt / np.array([np.mean(np.diff(t)) for t in reference])
    assert np.all(np.abs(counts - expected) <= allowed), (counts, expected, allowed)
    # First spikes (after >= 17 ms of subthreshold approach) within 2 dt of the reference, whose
    # own error (Euler at 0.005 ms) is below 0.02 ms.
    np.testing.assert_allclose([t[0] for t in times], [t[0] for t in reference], atol=2 * dt)


def test_rest():
    m = Izhikevich(3, b=jnp.array([0.2, 0.25, 1.0]))
    s = m.init_state((2,))
    assert s.v.shape == s.u.shape == (2, 3)
    # 0.04 v^2 + (5 - b) v + 140 = 0, lower root; b = 1 has none (Izhikevich's v = -65 then).
    for j, b in enumerate([0.2, 0.25]):
        expected = min(np.roots([0.04, 5.0 - b, 140.0]))
        np.testing.assert_allclose(np.asarray(s.v[:, j]), expected, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(s.u[:, j]), b * expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(s.v[:, 2]), -65.0)
    np.testing.assert_allclose(np.asarray(s.u[:, 2]), -65.0)
    dv, du = m.vector_field(0.0, (s.v[0], s.u[0]), 0.0)
    np.testing.assert_allclose(np.asarray(dv[:2]), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.asarray(du[:2]), 0.0, atol=1e-6)
    _, spikes = nt.simulate(m, m.init_state(), 0.0, dt=0.1, duration=200.0)
    assert float(spikes[:, :2].sum()) == 0.0


def test_refractory_and_reset():
    m = Izhikevich(1, c=-60.0, d=5.0, tau_ref=1.0)
    _, (v, u, spikes) = nt.simulate(
        m, m.init_state(), 15.0, dt=0.1, duration=200.0, monitor=lambda s, o: (s.v, s.u, o)
    )
    v, u, spikes = np.asarray(v[:, 0]), np.asarray(u[:, 0]), np.asarray(spikes[:, 0])
    idx = np.nonzero(spikes)[0]
    assert len(idx) >= 3
    for n in idx:
        assert v[n] == -60.0 and np.all(v[n + 1 : n + 11] == -60.0) and v[n + 11] != -60.0
        assert u[n] - u[n - 1] > 4.9  # the jump d = 5 (u itself drifts by < 0.1 per step)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: Izhikevich(0), "size"),
        (lambda: Izhikevich(2, c=30.0), r"c=30\.0, v_th=30\.0"),
        (lambda: Izhikevich(2, c=-50.0, v_th=-60.0), r"c=-50\.0, v_th=-60\.0"),
        (lambda: Izhikevich(2, tau_ref=-0.5), r"tau_ref=-0\.5"),
        (lambda: Izhikevich(2, a=jnp.ones(3)), "a"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_call_and_noise_without_key():
    m = Izhikevich(3)
    s = m.init_state()
    with pytest.raises(ValueError, match=r"dt=-1\.0"):
        m(s, 10.0, t=0.0, dt=-1.0)
    with pytest.raises(ValueError, match=r"current of shape \(4,\)"):
        m(s, jnp.ones(4), t=0.0, dt=0.1)
    noisy = Izhikevich(3, noise=1.0)
    with pytest.raises(ValueError, match="key"):
        noisy(noisy.init_state(), 10.0, t=0.0, dt=0.1)
    s, _ = noisy(noisy.init_state(), 10.0, t=0.0, dt=0.1, key=jax.random.key(0))
    assert np.unique(np.asarray(s.v)).size == 3


def test_jit_grad_and_batch():
    m = Izhikevich(4, *map(jnp.asarray, PARAMS))

    def run(m, state):
        return nt.simulate(m, state, CURRENT, dt=0.1, n_steps=1000)

    _, eager = run(m, m.init_state())
    _, jitted = eqx.filter_jit(run)(m, m.init_state())
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))

    grads = eqx.filter_jit(eqx.filter_grad(lambda m: run(m, m.init_state())[1].sum()))(m)
    for g in (grads.a, grads.d):
        assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)

    state, spikes = run(m, m.init_state((3,)))
    assert spikes.shape == (1000, 3, 4) and state.u.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(spikes[:, 2]), np.asarray(eager))
