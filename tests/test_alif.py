import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

ALIF = nt.neurons.ALIF


def steady_period(RI, tau, tau_a, beta, v_th, v_reset, tau_ref):
    """The period T (ms) of periodic firing under a constant drive R I (v_rest = 0).

    Just after a spike a = a+, and a+ = a+ exp(-T / tau_a) + 1 gives a+ = 1 / (1 - exp(-T/tau_a)).
    v is held at v_reset for tau_ref, then v(t) = RI + (v_reset - RI) exp(-(t - tau_ref) / tau)
    rises while the threshold v_th + beta a+ exp(-t / tau_a) falls, so they cross once: at T.
    """

    def gap(T):
        v = RI + (v_reset - RI) * np.exp(-(T - tau_ref) / tau)
        return v - (v_th + beta * np.exp(-T / tau_a) / (1.0 - np.exp(-T / tau_a)))

    return brentq(gap, tau_ref + 1e-9, 1e4, xtol=1e-12)


def run(m, current, dt, n_steps, state=None):
    state = m.init_state() if state is None else state
    _, (spikes, a, v) = nt.simulate(
        m, state, current, dt=dt, n_steps=n_steps, monitor=lambda s, o: (o, s.a, s.v)
    )
    return np.asarray(spikes), np.asarray(a), np.asarray(v)


def test_beta_zero_is_lif_step_for_step():
    p = dict(tau=15.0, v_th=10.0, v_rest=-2.0, v_reset=-4.0, tau_ref=1.0, R=2.0)
    alif, lif = ALIF(6, beta=0.0, tau_a=50.0, **p), nt.neurons.LIF(6, **p)
    current = 4.0 + 6.0 * jax.random.uniform(jax.random.key(0), (3000, 6))
    _, (za, va) = nt.simulate(alif, alif.init_state(), current, dt=0.1, n_steps=3000,
                              monitor=lambda s, o: (o, s.v))  # fmt: skip
    _, (zl, vl) = nt.simulate(lif, lif.init_state(), current, dt=0.1, n_steps=3000,
                              monitor=lambda s, o: (o, s.v))  # fmt: skip
    assert float(zl.sum()) > 50
    np.testing.assert_array_equal(za, zl)
    np.testing.assert_array_equal(va, vl)

    # The surrogate gradients agree too: with beta = 0 the adaptation reaches nothing.
    def count(model, scale):
        _, z = nt.simulate(model, model.init_state(), scale * current, dt=0.1, n_steps=3000)
        return jnp.sum(z * jnp.linspace(0.0, 1.0, 3000)[:, None])

    ga, gl = jax.grad(count, 1)(alif, 1.0), jax.grad(count, 1)(lif, 1.0)
    assert float(gl) != 0.0
    np.testing.assert_allclose(ga, gl, rtol=1e-6)


def test_adaptation_decays_analytically_and_jumps_by_one():
    # No input: v stays at rest, so a decays freely from a(0) = 1 as exp(-t / tau_a).
    dt, tau_a = 0.5, 80.0
    m = ALIF(1, tau_a=tau_a)
    state = eqx.tree_at(lambda s: s.a, m.init_state(), jnp.ones(1))
    spikes, a, _ = run(m, 0.0, dt, 400, state)
    t = dt * np.arange(1, 401)
    assert spikes.sum() == 0
    np.testing.assert_allclose(a[:, 0], np.exp(-t / tau_a), rtol=1e-5)

    # Under a drive: between spikes a(n+1) = a(n) exp(-dt / tau_a); at a spike it gains 1.
    spikes, a, _ = run(ALIF(1, tau_a=tau_a, beta=1.0), 40.0, dt, 2000)
    a, spikes = a[:, 0].astype(np.float64), spikes[:, 0]
    assert spikes.sum() >= 10
    np.testing.assert_allclose(a[1:] - a[:-1] * np.exp(-dt / tau_a), spikes[1:], atol=1e-5)


@pytest.mark.parametrize("RI", [30.0, 45.0, 80.0])
def test_steady_rate_matches_analytic_period(RI):
    p = dict(tau=20.0, tau_a=100.0, beta=3.0, v_th=20.0, v_reset=0.0, tau_ref=2.0)
    dt = 0.01
    spikes, _, _ = run(ALIF(1, **p), RI, dt, 100_000)  # 1 s, ten times tau_a
    times = (np.flatnonzero(spikes[:, 0]) + 1) * dt
    isi = np.diff(times)
    late = isi[times[1:] > 700.0]  # after 7 tau_a the transient is below 1e-3 of the period
    assert len(late) >= 5
    T = steady_period(RI, **p)
    # A spike registers at the first step end past the crossing (up to dt late); each ISI is a
    # difference of two such roundings, and the mean of the steady ones is within dt of T.
    assert abs(late.mean() - T) <= dt, (late.mean(), T)
    assert np.ptp(late) <= 2 * dt
    # The adaptation matters: the rate is well below that of the same LIF (beta = 0).
    lif_T = p["tau_ref"] + p["tau"] * np.log(RI / (RI - p["v_th"]))
    assert T > 1.2 * lif_T


def test_spike_frequency_adaptation_lengthens_isis():
    dt = 0.05
    spikes, a, _ = run(ALIF(1, tau=20.0, tau_a=200.0, beta=2.0, v_th=20.0, v_reset=0.0),
                       40.0, dt, 20_000)  # fmt: skip
    times = (np.flatnonzero(spikes[:, 0]) + 1) * dt
    isi = np.diff(times)
    assert len(isi) >= 10
    assert np.all(np.diff(isi) > -dt - 1e-6), isi
    assert isi[-1] > 1.5 * isi[0]
    # The first ISI: from v_reset = 0 with a = 1 just after the first spike, v rises as
    # 40 (1 - exp(-t / 20)) to the threshold 20 + 2 exp(-t / 200); within dt of that crossing.
    first = brentq(lambda t: 40.0 * (1 - np.exp(-t / 20.0)) - (20.0 + 2.0 * np.exp(-t / 200.0)),
                   1e-6, 1e3)  # fmt: skip
    assert abs(isi[0] - first) <= dt


def test_vector_field_solves_with_diffeqsolve():
    m = ALIF(3, tau=10.0, tau_a=50.0, v_rest=-1.0)
    y0 = (jnp.array([0.0, 2.0, -3.0]), jnp.array([1.0, 0.5, 2.0]))
    current = jnp.array([1.0, 0.0, 4.0])
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(m.vector_field), diffrax.Tsit5(), 0.0, 30.0, 0.1, y0, current,
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8),
    )  # fmt: skip
    v_inf = -1.0 + current
    np.testing.assert_allclose(sol.ys[0][0], v_inf + (y0[0] - v_inf) * np.exp(-3.0), rtol=1e-5)
    np.testing.assert_allclose(sol.ys[1][0], y0[1] * np.exp(-30.0 / 50.0), rtol=1e-5)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ALIF(0), "size"),
        (lambda: ALIF(3, tau=0.0), r"tau=0\.0"),
        (lambda: ALIF(3, tau_a=-1.0), r"tau_a=-1\.0"),
        (lambda: ALIF(3, beta=-0.5), r"beta=-0\.5"),
        (lambda: ALIF(3, tau_ref=-1.0), r"tau_ref=-1\.0"),
        (lambda: ALIF(3, v_reset=25.0, v_th=20.0), "v_reset"),
        (lambda: ALIF(3, beta=jnp.ones(4)), "beta"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_noise_needs_a_key_and_input_shape_is_checked():
    m = ALIF(2, noise=1.0)
    with pytest.raises(ValueError, match="key"):
        m(m.init_state(), 0.0, t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="current"):
        ALIF(2)(ALIF(2).init_state(), jnp.ones(3), t=0.0, dt=0.1)
