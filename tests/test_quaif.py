import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

QuaIF = nt.neurons.QuaIF
FLOAT64 = jnp.zeros(()).dtype == jnp.float64
# BrainPy's defaults, written out independently of the library.
P = dict(v_rest=-65.0, v_reset=-68.0, v_th=-30.0, v_c=-50.0, c=0.07, R=1.0, tau=10.0)


def rheobase(p=P):
    """tau dv/dt = c (v - v_rest)(v - v_c) + R I. The quadratic is smallest at the midpoint
    v* = (v_rest + v_c) / 2, where it equals -c (v_c - v_rest)^2 / 4; fixed points (rest) exist
    iff R I <= c (v_c - v_rest)^2 / 4 (saddle-node), so I_rh = c (v_c - v_rest)^2 / (4 R)."""
    return p["c"] * (p["v_c"] - p["v_rest"]) ** 2 / (4 * p["R"])


def analytic_isi(current, tau_ref=0.0, p=P):
    """With u = v - v* and eps = R I - R I_rh > 0, tau du/dt = c u^2 + eps; so the time from
    v_reset to v_th is tau / sqrt(c eps) [atan(u_th k) - atan(u_reset k)], k = sqrt(c / eps)."""
    eps = p["R"] * (current - rheobase(p))
    mid = (p["v_rest"] + p["v_c"]) / 2
    k = np.sqrt(p["c"] / eps)
    span = np.arctan((p["v_th"] - mid) * k) - np.arctan((p["v_reset"] - mid) * k)
    return tau_ref + p["tau"] / np.sqrt(p["c"] * eps) * span


def spike_times(spikes, dt):
    return (np.nonzero(np.asarray(spikes))[0] + 1) * dt


def test_rheobase():
    # Exponential Euler's fixed points are exactly those of the ODE (phi1 > 0), so the discrete
    # rheobase is the analytic one: 0.5 % either side decides between rest and firing.
    I_rh = rheobase()
    assert I_rh == pytest.approx(3.9375)
    factors = np.array([0.0, 0.9, 0.995, 1.005, 1.05])
    m = QuaIF(5)
    _, spikes = nt.simulate(m, m.init_state(), jnp.asarray(factors * I_rh), dt=0.1, duration=3000.0)
    counts = np.asarray(spikes.sum(0))
    np.testing.assert_array_equal(counts[:3], 0)
    # Near the saddle-node the period diverges like pi tau / sqrt(c (R I - R I_rh)).
    expected = 3000.0 / analytic_isi(factors[3:] * I_rh)
    assert np.all(counts[3:] >= 2) and np.all(np.abs(counts[3:] - expected) <= 1.5), counts


@pytest.mark.parametrize("tau_ref", [0.0, 2.0])
def test_isi_matches_analytic(tau_ref):
    # dt = 0.01 ms. A spike registers at the first step end past v_th, so in exact arithmetic
    # each ISI is the analytic one rounded up to the grid: ISI - expected in [0, dt) (float64
    # runs show exactly that). In float32, rounding of v near the bottleneck v*, where a step
    # moves v by ~1e-3 mV against an ulp of 4e-6 mV, adds up to ~1e-3 of the ISI (measured 8e-4).
    dt = 0.01
    slack = 1e-6 if FLOAT64 else 1.2e-3
    currents = np.array([6.0, 8.0, 15.0, 25.0, 50.0])
    m = QuaIF(5, tau_ref=tau_ref)
    _, spikes = nt.simulate(m, m.init_state(), jnp.asarray(currents), dt=dt, duration=400.0)
    for j, current in enumerate(currents):
        isi = np.diff(spike_times(spikes[:, j], dt))
        expected = analytic_isi(current, tau_ref)
        assert len(isi) >= 4
        err = isi - expected
        assert np.all(err >= -slack * expected) and np.all(err < dt + slack * expected), (
            current, err,
        )  # fmt: skip
        np.testing.assert_allclose(1 / isi.mean(), 1 / expected, rtol=0.01)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: QuaIF(0), "size"),
        (lambda: QuaIF(2, tau=0.0), r"tau=0\.0"),
        (lambda: QuaIF(2, c=-0.07), r"c=-0\.07"),
        (lambda: QuaIF(2, tau_ref=-1.0), r"tau_ref=-1\.0"),
        (lambda: QuaIF(2, v_reset=-20.0), r"v_reset=-20\.0, v_th=-30\.0"),
        (lambda: QuaIF(2, v_c=jnp.ones(3)), "v_c"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_call_and_noise_without_key():
    m = QuaIF(3)
    s = m.init_state()
    with pytest.raises(ValueError, match=r"dt=0\.0"):
        m(s, 5.0, t=0.0, dt=0.0)
    with pytest.raises(ValueError, match=r"current of shape \(2,\)"):
        m(s, jnp.ones(2), t=0.0, dt=0.1)
    noisy = QuaIF(3, noise=1.0)
    with pytest.raises(ValueError, match="key"):
        noisy(noisy.init_state(), 5.0, t=0.0, dt=0.1)
    s, _ = noisy(noisy.init_state(), 5.0, t=0.0, dt=0.1, key=jax.random.key(0))
    assert np.unique(np.asarray(s.v)).size == 3


def test_jit_grad_and_batch():
    m = QuaIF(2, c=jnp.array([0.07, 0.1]))
    currents = jnp.array([15.0, 25.0])

    def run(m, state):
        return nt.simulate(m, state, currents, dt=0.1, n_steps=600)

    _, eager = run(m, m.init_state())
    _, jitted = eqx.filter_jit(run)(m, m.init_state())
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))
    assert np.all(np.asarray(eager.sum(0)) >= 2)

    grads = eqx.filter_jit(eqx.filter_grad(lambda m: run(m, m.init_state())[1].sum()))(m)
    for g in (grads.c, grads.tau):
        assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)

    state, spikes = run(m, m.init_state((3,)))
    assert spikes.shape == (600, 3, 2) and state.v.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(spikes[:, 1]), np.asarray(eager))
