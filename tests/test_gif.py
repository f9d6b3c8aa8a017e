import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

GIF = nt.neurons.GIF
FLOAT64 = jnp.zeros(()).dtype == jnp.float64
# Mihalas & Niebur (2009) Table 1 in ms and mV (BrainPy's GIF defaults), written out here.
P = dict(
    v_rest=-70.0, v_reset=-70.0, theta_inf=-50.0, theta_reset=-60.0, R=20.0, tau=20.0,
    a=0.0, b=0.01, k1=0.2, k2=0.02, R1=0.0, R2=1.0, A1=0.0, A2=0.0,
)  # fmt: skip


def reference(current, T, theta0=None, **kw):
    """Spike times and (theta at each spike) of the Mihalas-Niebur model in float64: DOP853 to
    the exact crossing v = theta (scipy event location), then the paper's reset rules."""
    p = {**P, **kw}

    def f(t, y):
        v, I1, I2, theta = y
        return [
            (-(v - p["v_rest"]) + p["R"] * (current + I1 + I2)) / p["tau"],
            -p["k1"] * I1,
            -p["k2"] * I2,
            p["a"] * (v - p["v_rest"]) - p["b"] * (theta - p["theta_inf"]),
        ]

    def crossing(t, y):
        return y[0] - y[3]

    crossing.terminal, crossing.direction = True, 1
    t, y = 0.0, [p["v_rest"], 0.0, 0.0, p["theta_inf"] if theta0 is None else theta0]
    times, thetas = [], []
    while t < T:
        sol = solve_ivp(f, (t, T), y, events=crossing, rtol=1e-11, atol=1e-11, method="DOP853")
        if not sol.t_events[0].size:
            break
        t, (_, I1, I2, theta) = sol.t_events[0][0], sol.y_events[0][0]
        times.append(t)
        thetas.append(theta)
        y = [
            p["v_reset"], p["R1"] * I1 + p["A1"], p["R2"] * I2 + p["A2"],
            max(p["theta_reset"], theta),
        ]  # fmt: skip
    return np.array(times), np.array(thetas)


def run(m, current, T, dt, state=None):
    state = m.init_state() if state is None else state
    _, (spikes, v_th, I1, I2) = nt.simulate(
        m, state, current, dt=dt, duration=T, monitor=lambda s, o: (o, s.v_th, s.I1, s.I2)
    )
    spikes, v_th, I1, I2 = (np.asarray(x[:, 0]) for x in (spikes, v_th, I1, I2))
    idx = np.nonzero(spikes)[0]
    return (idx + 1) * dt, idx, v_th, I1, I2


# Spike timing at dt = 0.01 ms. A spike registers at the first step end past the crossing, so
# in exact arithmetic each spike is up to dt late and each ISI, a difference of two such
# roundings, is within dt of the exact one. Exponential Euler is exact for each variable alone
# but holds the others fixed over a step, a first-order error in the coupling (v driven by the
# decaying I1, I2; v_th driven by v) that float64 runs measure at up to 0.021 ms (about dt). In
# float32, rounding of v over the thousands of steps of an ISI (each adding ~0.005 mV to a value
# whose ulp is 4e-6 mV) moves a slow crossing further, in proportion to the ISI (measured 0.035
# ms on a 107 ms inter-burst interval, 3e-4 of it).
ISI_ATOL, ISI_RTOL = 2 * 0.01 + 0.005, (0.0 if FLOAT64 else 5e-4)
SLACK = 1e-3 if FLOAT64 else 0.015  # float32 jitter of a crossing for the constant threshold


def test_tonic_spiking_matches_analytic():
    # a = 0: the threshold stays at theta_inf and v is a LIF from v_reset = v_rest, so
    # ISI = tau ln(R I / (R I - (theta_inf - v_reset))) = 20 ln 3 ms for I = 1.5 (R I = 30 mV).
    dt = 0.01
    t, _, v_th, _, _ = run(GIF(1), 1.5, 300.0, dt)
    expected = 20.0 * np.log(3.0)
    err = np.diff(np.concatenate([[0.0], t])) - expected
    assert len(t) >= 12
    assert np.all(err > -SLACK) and np.all(err < dt + SLACK), err
    np.testing.assert_array_equal(v_th, -50.0)
    ref, _ = reference(1.5, 300.0)
    np.testing.assert_allclose(np.diff(ref), expected, rtol=1e-8)


def test_spike_frequency_adaptation_matches_reference():
    # a > 0: depolarisation raises the threshold, which recovers with rate b only slowly, so
    # the threshold at each spike climbs and the ISIs lengthen (Mihalas & Niebur Fig. 1C).
    dt, T, kw = 0.01, 500.0, dict(a=0.005)
    t, idx, v_th, _, _ = run(GIF(1, **kw), 2.0, T, dt)
    ref, ref_theta = reference(2.0, T, **kw)
    isi = np.diff(t)
    assert len(t) == len(ref) >= 15
    assert np.all(np.diff(isi) > -dt) and isi[-1] > 1.5 * isi[0], isi
    assert np.all(np.diff(v_th[idx]) > 0)
    np.testing.assert_allclose(isi, np.diff(ref), atol=ISI_ATOL, rtol=ISI_RTOL)
    np.testing.assert_allclose(t[0], ref[0], atol=dt)
    # The threshold when the spike registers: within its drift over one step of the exact value.
    np.testing.assert_allclose(v_th[idx], ref_theta, atol=5e-3)


def test_spike_induced_threshold_reset():
    # Hyperpolarisation-induced spiking (theta_inf = -120 mV, a = 0.03 / ms, I = -1, as in
    # BrainPy's reproduction of Mihalas & Niebur Fig. 1): v sags to -90 mV, the threshold falls
    # below it, the neuron fires and the spike resets the threshold up to theta_reset = -60 mV.
    dt, T, kw = 0.01, 300.0, dict(theta_inf=-120.0, a=0.03)
    m = GIF(1, **kw)
    state = eqx.tree_at(lambda s: s.v_th, m.init_state(), jnp.full(1, -50.0))
    t, idx, v_th, _, _ = run(m, -1.0, T, dt, state)
    ref, ref_theta = reference(-1.0, T, theta0=-50.0, **kw)
    assert len(t) == len(ref) >= 5
    assert np.all(ref_theta < -60.0)  # the reset is an increase
    np.testing.assert_array_equal(v_th[idx], -60.0)  # max(theta_reset, theta) = theta_reset
    np.testing.assert_allclose(np.diff(t), np.diff(ref), atol=ISI_ATOL, rtol=ISI_RTOL)


def test_bursting_currents_match_reference():
    # Spike-induced currents: I1 -> R1 I1 + A1, I2 -> R2 I2 + A2 (tonic bursting, Fig. 1D).
    dt, T, kw = 0.01, 300.0, dict(a=0.005, A1=10.0, A2=-0.6)
    t, idx, _, I1, I2 = run(GIF(1, **kw), 2.0, T, dt)
    ref, _ = reference(2.0, T, **kw)
    assert len(t) == len(ref) >= 10
    np.testing.assert_allclose(I1[idx], 10.0)  # R1 = 0: I1 is set to A1
    np.testing.assert_allclose(I2[idx] - I2[idx - 1], -0.6, atol=1e-3)  # R2 = 1: I2 += A2
    np.testing.assert_allclose(np.diff(t), np.diff(ref), atol=ISI_ATOL, rtol=ISI_RTOL)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: GIF(0), "size"),
        (lambda: GIF(2, tau=0.0), r"tau=0\.0"),
        (lambda: GIF(2, tau_ref=-1.0), r"tau_ref=-1\.0"),
        (lambda: GIF(2, b=-0.5), r"b=-0\.5"),
        (lambda: GIF(2, k2=-0.25), r"k2=-0\.25"),
        (lambda: GIF(2, theta_reset=-70.1), r"v_reset=-70\.0, theta_reset=-70\.1"),
        (lambda: GIF(2, v_reset=-55.0), r"v_reset=-55\.0, theta_reset=-60\.0"),
        (lambda: GIF(2, A1=jnp.ones(3)), "A1"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_call_and_noise_without_key():
    m = GIF(3)
    s = m.init_state()
    with pytest.raises(ValueError, match=r"dt=0\.0"):
        m(s, 1.5, t=0.0, dt=0.0)
    with pytest.raises(ValueError, match=r"current of shape \(2,\)"):
        m(s, jnp.ones(2), t=0.0, dt=0.1)
    noisy = GIF(3, noise=1.0)
    with pytest.raises(ValueError, match="key"):
        noisy(noisy.init_state(), 1.5, t=0.0, dt=0.1)
    s, _ = noisy(noisy.init_state(), 1.5, t=0.0, dt=0.1, key=jax.random.key(0))
    assert np.unique(np.asarray(s.v)).size == 3


def test_jit_grad_and_batch():
    kw = dict(a=jnp.array([0.0, 0.005]), A1=jnp.array([0.0, 10.0]), A2=jnp.array([0.0, -0.6]))
    m = GIF(2, **kw)

    def sim(m, state, n_steps=1000):
        return nt.simulate(m, state, 2.0, dt=0.1, n_steps=n_steps)

    _, eager = sim(m, m.init_state())
    _, jitted = eqx.filter_jit(sim)(m, m.init_state())
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))
    assert np.all(np.asarray(eager.sum(0)) >= 4)

    # The surrogate gradient through the reset multiplies by 1 - spike_fn'(v - v_th) (v - v_reset)
    # on every step near threshold, down to -19 for the default Sigmoid(4) and v - v_reset = 20;
    # the slow linear approach to threshold spends several steps there, so over many spikes it
    # overflows. Through the whole run use detach_reset; without it, a short run stays finite.
    def loss(m, n_steps):
        return sim(m, m.init_state(), n_steps)[1].sum()

    for detach, n_steps in ((True, 1000), (False, 200)):
        grads = eqx.filter_jit(eqx.filter_grad(loss))(GIF(2, **kw, detach_reset=detach), n_steps)
        for g in (grads.tau, grads.theta_inf, grads.A1):
            assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)

    state, spikes = sim(m, m.init_state((3,)))
    assert spikes.shape == (1000, 3, 2) and state.v_th.shape == state.I2.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(spikes[:, 0]), np.asarray(eager))
