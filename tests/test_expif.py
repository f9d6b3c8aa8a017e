import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

ExpIF, AdExIF = nt.neurons.ExpIF, nt.neurons.AdExIF
FLOAT64 = jnp.zeros(()).dtype == jnp.float64
# BrainPy's defaults, written out independently of the library.
P = dict(v_rest=-65.0, v_reset=-68.0, v_th=-30.0, v_T=-59.9, delta_T=3.48, R=1.0, tau=10.0)


# How far an AdEx ISI at dt = 0.01 ms may be from the exact one: up to dt because a spike is
# registered at the first step end past the crossing; up to ~1.2 dt more because until then w
# keeps integrating a (v - v_rest) / tau_w with v at the cut-off instead of restarting from
# v_reset, which leaves w larger by up to dt (a (v_th - v_reset) + b) / tau_w and lengthens the
# next ISI (float64 runs show the total at 2.2 dt, shrinking in proportion to dt); and ~0.01 ms
# from float32 rounding of v near the slow passage past v_T.
ISI_ATOL = 3 * 0.01 + 0.01


def spike_times(spikes, dt):
    """Times (ms) of the spikes in a (n_steps,) record: a spike at step n is at (n + 1) dt."""
    return (np.nonzero(np.asarray(spikes))[0] + 1) * dt


def adex_reference(current, T, v0, w0, *, a, b, tau_w, tau_ref, p=P):
    """Spike times of the AdEx (a = b = 0: ExpIF) in float64: LSODA to the exact crossing of
    v_th (scipy event location), then v -> v_reset, w -> w + b, v held for tau_ref."""

    def f(t, y):
        v, w = y
        exp = p["delta_T"] * np.exp((v - p["v_T"]) / p["delta_T"])
        dv = (-(v - p["v_rest"]) + exp - p["R"] * w + p["R"] * current) / p["tau"]
        return [dv, (a * (v - p["v_rest"]) - w) / tau_w]

    def crossing(t, y):
        return y[0] - p["v_th"]

    crossing.terminal, crossing.direction = True, 1
    t, y, out = 0.0, [v0, w0], []
    while t < T:
        sol = solve_ivp(f, (t, T), y, events=crossing, rtol=1e-10, atol=1e-10, method="LSODA")
        if not sol.t_events[0].size:
            break
        ts, (_, w) = sol.t_events[0][0], sol.y_events[0][0]
        out.append(ts)
        if tau_ref > 0:  # v is held at v_reset while w relaxes freely
            hold = solve_ivp(
                lambda t, w: [(a * (p["v_reset"] - p["v_rest"]) - w[0]) / tau_w],
                (ts, ts + tau_ref), [w + b], rtol=1e-12, atol=1e-12,
            )  # fmt: skip
            t, y = ts + tau_ref, [p["v_reset"], hold.y[0, -1]]
        else:
            t, y = ts, [p["v_reset"], w + b]
    return np.array(out)


def test_rest_is_the_fixed_point():
    def g(v, k):
        return -k * (v - P["v_rest"]) + P["delta_T"] * np.exp((v - P["v_T"]) / P["delta_T"])

    tol = 1e-9 if FLOAT64 else 2e-5
    rest = brentq(g, P["v_rest"], P["v_T"], args=(1.0,), xtol=1e-13)
    np.testing.assert_allclose(np.asarray(ExpIF(2).init_state((3,)).v), rest, rtol=tol)
    a = 0.5
    rest = brentq(g, P["v_rest"], P["v_T"], args=(1.0 + a,), xtol=1e-13)
    s = AdExIF(2, a=a).init_state()
    np.testing.assert_allclose(np.asarray(s.v), rest, rtol=tol)
    np.testing.assert_allclose(np.asarray(s.w), a * (rest - P["v_rest"]), rtol=1e-4)
    # No rest for v_T - v_rest < delta_T (fires without input): fall back to v_rest.
    np.testing.assert_array_equal(np.asarray(ExpIF(1, v_T=-63.0).init_state().v), [-65.0])


def test_rheobase():
    # tau dv/dt = f(v) + R I with f(v) = -(v - v_rest) + delta_T exp((v - v_T) / delta_T) smallest
    # at v = v_T, f(v_T) = v_rest - v_T + delta_T: fixed points exist iff R I <= v_T - v_rest - dT.
    R = 2.0
    I_rh = (P["v_T"] - P["v_rest"] - P["delta_T"]) / R
    factors = np.array([0.5, 0.99, 1.01, 1.1])
    m = ExpIF(4, R=R)
    _, spikes = nt.simulate(m, m.init_state(), jnp.asarray(factors * I_rh), dt=0.1, duration=2000.0)
    counts = np.asarray(spikes.sum(0))
    np.testing.assert_array_equal(counts[:2], 0)
    assert np.all(counts[2:] >= 2), counts


def test_spike_times_match_float64_reference():
    # Heun (default) at dt = 0.01 ms. A spike is registered at the first step end past the
    # crossing (up to dt late) and the next interval starts from there, so each ISI differs from
    # the exact one by less than dt plus the solver's error. Heun is second order; its error
    # measured here is < 0.01 ms over latencies of up to 107 ms (I = 2 nA, near the rheobase,
    # where the slow passage past v_T amplifies it).
    dt, T = 0.01, 150.0
    currents = np.array([2.0, 5.0, 10.0, 20.0])
    m = ExpIF(4)
    v0 = float(m.init_state().v[0])
    _, spikes = nt.simulate(m, m.init_state(), jnp.asarray(currents), dt=dt, duration=T)
    worst = 0.0
    for j, current in enumerate(currents):
        ref = adex_reference(current, T, v0, 0.0, a=0.0, b=0.0, tau_w=1.0, tau_ref=1.7)
        t = spike_times(spikes[:, j], dt)
        assert abs(len(t) - len(ref)) <= 1 and len(ref) >= 1
        n = min(len(t), len(ref))
        assert abs(t[0] - ref[0]) < dt + 0.01
        err = np.abs(np.diff(t[:n]) - np.diff(ref[:n]))
        worst = max(worst, err.max(initial=0.0))
    assert worst < dt + 0.01, worst


def test_adaptation_and_float64_reference():
    a, b, tau_w, current, dt, T = 1.0, 3.0, 100.0, 20.0, 0.01, 400.0
    m = AdExIF(1, a=a, b=b, tau_w=tau_w)
    s0 = m.init_state()
    _, spikes = nt.simulate(m, s0, current, dt=dt, duration=T)
    t = spike_times(spikes[:, 0], dt)
    isi = np.diff(t)
    assert len(isi) >= 10
    # Spike-frequency adaptation: ISIs grow (up to the +-dt grid jitter) to a plateau.
    assert np.all(np.diff(isi) > -dt * 1.01), isi
    assert isi[-1] > 1.5 * isi[0], isi
    np.testing.assert_allclose(isi[-3:], isi[-1], rtol=0.01)
    ref = adex_reference(
        current, T, float(s0.v[0]), float(s0.w[0]), a=a, b=b, tau_w=tau_w, tau_ref=0.0
    )
    assert len(t) == len(ref)
    np.testing.assert_allclose(np.diff(t), np.diff(ref), atol=ISI_ATOL)
    np.testing.assert_allclose(isi[-1], np.diff(ref)[-1], rtol=2e-3)


def test_refractory_period_with_adaptation_matches_reference():
    dt, T = 0.01, 150.0
    m = AdExIF(1, tau_ref=2.0)
    s0 = m.init_state()
    _, spikes = nt.simulate(m, s0, 15.0, dt=dt, duration=T)
    t = spike_times(spikes[:, 0], dt)
    ref = adex_reference(
        15.0, T, float(s0.v[0]), float(s0.w[0]), a=1.0, b=1.0, tau_w=30.0, tau_ref=2.0
    )
    assert len(t) == len(ref) >= 5
    np.testing.assert_allclose(np.diff(t), np.diff(ref), atol=ISI_ATOL)


@pytest.mark.parametrize("solver", [None, nt.integrators.ExponentialEuler(), diffrax.Tsit5()])
def test_no_overflow_for_large_steps_and_cutoffs(solver):
    kw = {} if solver is None else dict(solver=solver)
    # The clipped exponential: finite values and slopes for any v.
    m = ExpIF(1, **kw)
    v = jnp.array([-70.0, -30.0, 0.0, 1e4, 1e30], dtype=jnp.float32)
    f = jax.vmap(lambda v: m.vector_field(0.0, v, 0.0))
    df = jax.vmap(jax.grad(lambda v: m.vector_field(0.0, v, 0.0)))
    assert np.all(np.isfinite(np.asarray(f(v)))) and np.all(np.isfinite(np.asarray(df(v))))
    if solver is None:
        # Explicit default: any dt, any cut-off (here Brette & Gerstner's 20 mV peak).
        cases = [(ExpIF, dict(v_th=20.0), 0.5), (AdExIF, dict(v_th=20.0), 1.0)]
    else:
        cases = [(ExpIF, {}, 0.1), (AdExIF, {}, 0.1)]
    currents = jnp.array([5.0, 100.0, 1e4])
    for cls, params, dt in cases:
        m = cls(3, **params, **kw)
        state, (vs, spikes) = nt.simulate(
            m, m.init_state(), currents, dt=dt, n_steps=100, monitor=lambda s, o: (s.v, o)
        )
        vs, spikes = np.asarray(vs), np.asarray(spikes)
        assert np.all(np.isfinite(vs)) and spikes.sum() >= 5
        if cls is AdExIF:  # w does not integrate the overshoot of a crossing step
            assert np.all(np.abs(np.asarray(state.w)) < 2 * float(spikes.sum()) + 100.0)
        np.testing.assert_array_equal(vs[spikes > 0], float(m.v_reset))  # exact reset

        if solver is not None:
            continue

        def loss(m, currents, dt=dt):
            _, s = nt.simulate(m, m.init_state(), currents, dt=dt, n_steps=100)
            return s.sum()

        grads = eqx.filter_jit(eqx.filter_grad(lambda mc: loss(*mc)))((m, currents))
        assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ExpIF(0), "size"),
        (lambda: ExpIF(3, tau=0.0), r"tau=0\.0"),
        (lambda: ExpIF(3, delta_T=0.0), r"delta_T=0\.0"),
        (lambda: ExpIF(3, tau_ref=-1.0), r"tau_ref=-1\.0"),
        (lambda: ExpIF(3, v_reset=-30.0), r"v_reset=-30\.0, v_th=-30\.0"),
        (lambda: ExpIF(3, v_T=jnp.ones(2)), "v_T"),
        (lambda: AdExIF((3, -1)), "size"),
        (lambda: AdExIF(3, tau_w=-5.0), r"tau_w=-5\.0"),
        (lambda: AdExIF(3, tau=-1.0), r"tau=-1\.0"),
        (lambda: AdExIF(3, delta_T=-1.0), r"delta_T=-1\.0"),
        (lambda: AdExIF(3, v_th=-70.0), r"v_reset=-68\.0, v_th=-70\.0"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("cls", [ExpIF, AdExIF])
def test_bad_call_and_noise_without_key(cls):
    m = cls(3)
    s = m.init_state()
    with pytest.raises(ValueError, match=r"dt=0\.0"):
        m(s, 1.0, t=0.0, dt=0.0)
    with pytest.raises(ValueError, match=r"current of shape \(2,\)"):
        m(s, jnp.ones(2), t=0.0, dt=0.1)
    noisy = cls(3, noise=0.5)
    with pytest.raises(ValueError, match="key"):
        noisy(noisy.init_state(), 1.0, t=0.0, dt=0.1)
    s, _ = noisy(noisy.init_state(), 1.0, t=0.0, dt=0.1, key=jax.random.key(0))
    assert np.unique(np.asarray(s.v)).size == 3


@pytest.mark.parametrize("cls,field", [(ExpIF, "tau"), (AdExIF, "a")])
def test_jit_grad_and_batch(cls, field):
    m = cls(2, **{field: jnp.array([1.0, 2.0]) * (10.0 if field == "tau" else 0.5)})
    currents = jnp.array([12.0, 20.0])

    def run(m, currents):
        return nt.simulate(m, m.init_state(), currents, dt=0.1, n_steps=600)

    _, eager = run(m, currents)
    _, jitted = eqx.filter_jit(run)(m, currents)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager))
    assert np.all(np.asarray(eager.sum(0)) >= 2)

    grads = eqx.filter_jit(eqx.filter_grad(lambda m: run(m, currents)[1].sum()))(m)
    g = np.asarray(getattr(grads, field))
    assert np.all(np.isfinite(g)) and np.any(g != 0)

    s = m.init_state((4,))
    assert all(x.shape == (4, 2) for x in jax.tree.leaves(s) if x.ndim)
    state, spikes = nt.simulate(m, s, jnp.broadcast_to(currents, (4, 2)), dt=0.1, n_steps=600)
    assert spikes.shape == (600, 4, 2) and state.v.shape == (4, 2)
    np.testing.assert_array_equal(np.asarray(spikes[:, 3]), np.asarray(eager))
