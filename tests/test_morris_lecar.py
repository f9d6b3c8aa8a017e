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

X64 = jax.config.jax_enable_x64

# The Morris-Lecar equations with BrainPy's defaults, typed out independently of the library.
V_CA, G_CA, V_K, G_K, V_L, G_L, C = 130.0, 4.4, -84.0, 8.0, -60.0, 2.0, 20.0
V1, V2, V3, V4, PHI, V_TH = -1.2, 18.0, 2.0, 30.0, 0.04, 10.0


def _m_inf(v):
    return 0.5 * (1 + np.tanh((v - V1) / V2))


def _w_inf(v):
    return 0.5 * (1 + np.tanh((v - V3) / V4))


def _rhs(t, u, current):
    v, w = u
    i_ion = G_CA * _m_inf(v) * (v - V_CA) + G_K * w * (v - V_K) + G_L * (v - V_L)
    return [(current - i_ion) / C, PHI * np.cosh((v - V3) / (2 * V4)) * (_w_inf(v) - w)]


def _steady_current(v):
    return G_CA * _m_inf(v) * (v - V_CA) + G_K * _w_inf(v) * (v - V_K) + G_L * (v - V_L)


def _fixed_point(current):
    return brentq(lambda v: _steady_current(v) - current, -100.0, 50.0, xtol=1e-13)


def _hopf_current():
    """Where the trace of the Jacobian at the fixed point crosses zero (the lower one)."""

    def trace(v):
        dv_dv = -(
            G_CA * _m_inf(v) + G_CA * (v - V_CA) * (1 - np.tanh((v - V1) / V2) ** 2) / (2 * V2)
            + G_K * _w_inf(v) + G_L
        ) / C  # fmt: skip
        dw_dw = -PHI * np.cosh((v - V3) / (2 * V4))
        return dv_dv + dw_dw

    v_h = brentq(trace, -50.0, -10.0, xtol=1e-13)
    return _steady_current(v_h)


def _reference(v0, w0, current, t_end, t_eval=None):
    event = lambda t, u, current: u[0] - V_TH  # noqa: E731
    event.direction = 1
    return solve_ivp(
        _rhs, (0.0, t_end), [v0, w0], args=(current,), method="DOP853", rtol=1e-10, atol=1e-10,
        t_eval=t_eval, events=event,
    )  # fmt: skip


def _crossings(v, dt, v_th=V_TH):
    """Upward crossing times of v (sampled at 0, dt, 2 dt, ...), linearly interpolated."""
    i = np.flatnonzero((v[:-1] < v_th) & (v[1:] >= v_th))
    return (i + (v_th - v[i]) / (v[i + 1] - v[i])) * dt


def _run(model, current, dt, duration, state=None):
    state = model.init_state() if state is None else state
    _, (v, spike) = nt.simulate(
        model, state, current, dt=dt, duration=duration, monitor=lambda s, o: (s.v, o)
    )
    v = np.concatenate([np.asarray(state.v, np.float64)[None], np.asarray(v, np.float64)])
    return v, np.asarray(spike)


def test_rest_state_is_the_fixed_point():
    model = nt.neurons.MorrisLecar(1)
    state = model.init_state()
    v_rest = _fixed_point(0.0)
    assert v_rest == pytest.approx(-60.83, abs=0.01)
    tol = 1e-9 if X64 else 1e-4
    np.testing.assert_allclose(float(state.v[0]), v_rest, atol=tol)
    np.testing.assert_allclose(float(state.w[0]), _w_inf(v_rest), atol=tol)
    v, spike = _run(model, 0.0, 0.1, 200.0)
    assert spike.sum() == 0
    np.testing.assert_allclose(v[:, 0], v_rest, atol=10 * tol)


def test_trajectory_and_spike_times_match_reference():
    # I = 100 uA/cm^2, dt = 0.1 ms, 300 ms (4 spikes) against DOP853 at rtol 1e-10.
    model = nt.neurons.MorrisLecar(1)
    state = model.init_state()
    dt, t_end = 0.1, 300.0
    v, spike = _run(model, 100.0, dt, t_end, state)
    t = np.arange(v.shape[0]) * dt
    ref = _reference(float(state.v[0]), float(state.w[0]), 100.0, t_end, t_eval=t)
    # Tsit5's own error at dt = 0.1 ms is ~1e-7 mV. In float32 each step rounds v and w at
    # ~1e-7 relative; the accumulated phase error (~0.003 ms by 300 ms, measured) shows up as a
    # voltage error on the upstroke, where v rises at up to ~30 mV/ms (measured 0.09 mV).
    np.testing.assert_allclose(v[:, 0], ref.y[0], atol=1e-5 if X64 else 0.3)
    ref_spikes = ref.t_events[0]
    assert len(ref_spikes) == 4
    # Linear interpolation of the crossing adds up to ~1e-4 ms at dt = 0.1 ms.
    np.testing.assert_allclose(_crossings(v[:, 0], dt), ref_spikes, atol=1e-3 if X64 else 0.02)
    # One spike per crossing, at the step whose end first has v >= v_th.
    steps = np.flatnonzero(spike[:, 0])
    assert set(np.unique(spike)) <= {0.0, 1.0}
    np.testing.assert_array_equal(steps, np.ceil(ref_spikes / dt).astype(int) - 1)


def test_rest_below_onset_and_repetitive_firing_above():
    i_hopf = _hopf_current()
    # The rest state loses stability in a (subcritical) Hopf bifurcation at 88.56 uA/cm^2.
    assert i_hopf == pytest.approx(88.56, abs=0.01)
    # Three neurons, one per current: well below onset (below the bistable window that a
    # subcritical Hopf opens), just above the Hopf point, and far above it.
    currents = np.array([60.0, i_hopf + 2.0, 150.0])
    model = nt.neurons.MorrisLecar(3)
    dt, t_end = 0.1, 2000.0
    v, spike = _run(model, jnp.asarray(currents), dt, t_end)
    late = slice(round(500.0 / dt), None)
    assert spike[late, 0].sum() == 0
    np.testing.assert_allclose(v[-1, 0], _fixed_point(60.0), atol=1e-6 if X64 else 1e-3)
    rates = []
    for k in (1, 2):
        times = _crossings(v[:, k], dt)
        times = times[times > 500.0]
        rate = 1000.0 / np.mean(np.diff(times))
        state = model.init_state()
        ref = _reference(float(state.v[0]), float(state.w[0]), currents[k], t_end).t_events[0]
        ref_rate = 1000.0 / np.mean(np.diff(ref[ref > 500.0]))
        np.testing.assert_allclose(rate, ref_rate, rtol=1e-3)
        rates.append(rate)
    # Class II excitability: firing starts at a finite rate (about 10 Hz) and rises with I.
    assert 8.0 < rates[0] < 12.0
    assert rates[1] > rates[0] + 3.0


def test_jit_and_grad_through_simulate():
    state = nt.neurons.MorrisLecar(1).init_state()

    def loss(g_K):
        model = nt.neurons.MorrisLecar(1, g_K=g_K)
        _, (v, spike) = nt.simulate(
            model, state, 100.0, dt=0.1, duration=100.0, monitor=lambda s, o: (s.v, o)
        )
        return jnp.mean(v) + jnp.sum(spike)

    g = jax.jit(jax.grad(loss))(jnp.asarray(8.0))
    assert np.isfinite(g) and g != 0

    def mean_v(g_K):  # v is never reset, so this is smooth in g_K: finite differences apply
        model = nt.neurons.MorrisLecar(1, g_K=g_K)
        state = model.init_state()  # the rest state depends on g_K too
        _, v = nt.simulate(model, state, 50.0, dt=0.1, duration=50.0, monitor=lambda s, o: s.v)
        return jnp.mean(v)

    g = jax.grad(mean_v)(jnp.asarray(8.0))
    h = 1e-4 if X64 else 0.05
    fd = (mean_v(8.0 + h) - mean_v(8.0 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6 if X64 else 2e-3)


def test_vmap_over_parameters_equals_loop():
    def run(g_K):
        model = nt.neurons.MorrisLecar(1, g_K=g_K)
        state = model.init_state()
        _, v = nt.simulate(model, state, 100.0, dt=0.1, n_steps=300, monitor=lambda s, o: s.v)
        return v

    g_Ks = jnp.asarray([7.0, 8.0, 9.5])
    batched = eqx.filter_vmap(run)(g_Ks)
    looped = jnp.stack([run(g) for g in g_Ks])
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-4)


def test_batch_shape():
    model = nt.neurons.MorrisLecar(2, g_K=jnp.asarray([8.0, 9.0]))
    state = model.init_state((3,))
    assert state.v.shape == state.w.shape == state.spike.shape == (3, 2)
    currents = jnp.asarray([[0.0, 50.0], [100.0, 100.0], [150.0, 0.0]])
    _, v = nt.simulate(model, state, currents, dt=0.1, n_steps=500, monitor=lambda s, o: s.v)
    assert v.shape == (500, 3, 2)

    def first(s, o):  # one function for all runs, so simulate compiles once
        return s.v[0]

    for b in range(3):
        for n in range(2):
            single = nt.neurons.MorrisLecar(1, g_K=[8.0, 9.0][n])
            _, vb = nt.simulate(
                single, single.init_state(), currents[b, n], dt=0.1, n_steps=500,
                monitor=first,
            )  # fmt: skip
            np.testing.assert_allclose(v[:, b, n], vb, rtol=1e-5, atol=1e-4)


def test_other_solvers_run():
    model = nt.neurons.MorrisLecar(1, solver=diffrax.Heun())
    assert model.init_state().carry is None
    v, spike = _run(model, 100.0, 0.1, 100.0)
    assert spike.sum() == 1 and np.isfinite(v).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=0), "size must be a positive integer"),
        (dict(size=2, C=0.0), "C must be a positive capacitance"),
        (dict(size=2, g_K=-1.0), "g_K must be a conductance >= 0"),
        (dict(size=2, V2=0.0), "V2 must be a positive slope"),
        (dict(size=2, phi=-0.04), "phi must be a positive rate"),
        (dict(size=2, g_Ca=jnp.ones(3)), "does not broadcast to the population's shape"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nt.neurons.MorrisLecar(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(solver="rk4"), dict(spike_fn=jnp.tanh)])
def test_bad_solver_or_spike_fn(kwargs):
    # A ValueError from the model; with runtime type checks on, jaxtyping's TypeError first.
    with pytest.raises((TypeError, ValueError), match=next(iter(kwargs))):
        nt.neurons.MorrisLecar(2, **kwargs)


def test_bad_inputs():
    model = nt.neurons.MorrisLecar(2)
    state = model.init_state()
    with pytest.raises(ValueError, match="input current of shape \\(3,\\) does not broadcast"):
        model(state, jnp.ones(3), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="dt must be a positive step"):
        model(state, 0.0, t=0.0, dt=0.0)
