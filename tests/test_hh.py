import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import neurotree as nt
from neurotree.channels._hh import alpha_m, alpha_n

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

X64 = jax.config.jax_enable_x64


def _v0_and_spike(state, spike):
    return state.v[0], spike[0]


def _v_and_spike(state, spike):
    return state.v, spike


def _v(state, spike):
    return state.v


# An independent float64 reference: the squid-axon equations (Hodgkin & Huxley 1952, modern
# convention), classical RK4 at h = 0.001 ms.
def _rates(v):
    am = 0.1 * (v + 40) / (1 - math.exp(-(v + 40) / 10))
    bm = 4 * math.exp(-(v + 65) / 18)
    ah = 0.07 * math.exp(-(v + 65) / 20)
    bh = 1 / (1 + math.exp(-(v + 35) / 10))
    an = 0.01 * (v + 55) / (1 - math.exp(-(v + 55) / 10))
    bn = 0.125 * math.exp(-(v + 65) / 80)
    return am, bm, ah, bh, an, bn


def _rhs(v, m, h, n, current):
    am, bm, ah, bh, an, bn = _rates(v)
    i_ion = 120 * m**3 * h * (v - 50) + 36 * n**4 * (v + 77) + 0.3 * (v + 54.387)
    return (
        current - i_ion,
        am * (1 - m) - bm * m,
        ah * (1 - h) - bh * h,
        an * (1 - n) - bn * n,
    )


def _gates_at(v):
    am, bm, ah, bh, an, bn = _rates(v)
    return am / (am + bm), ah / (ah + bh), an / (an + bn)


def _rest():
    return brentq(lambda v: _rhs(v, *_gates_at(v), 0.0)[0], -70.0, -60.0, xtol=1e-13)


def _rk4_trace(current, t_end, h=0.001):
    def shift(y, k, c):
        return tuple(a + c * b for a, b in zip(y, k, strict=True))

    y = (_rest(), *_gates_at(_rest()))
    n = round(t_end / h)
    vs = np.empty(n + 1)
    vs[0] = y[0]
    for i in range(n):
        k1 = _rhs(*y, current)
        k2 = _rhs(*shift(y, k1, h / 2), current)
        k3 = _rhs(*shift(y, k2, h / 2), current)
        k4 = _rhs(*shift(y, k3, h), current)
        slope = (p + 2 * q + 2 * r + s for p, q, r, s in zip(k1, k2, k3, k4, strict=True))
        y = shift(y, tuple(slope), h / 6)
        vs[i + 1] = y[0]
    return vs


def _crossings(v, dt, v_th=20.0):
    """Upward crossing times of v (sampled at 0, dt, 2 dt, ...), linearly interpolated."""
    i = np.flatnonzero((v[:-1] < v_th) & (v[1:] >= v_th))
    return (i + (v_th - v[i]) / (v[i + 1] - v[i])) * dt


@pytest.fixture(scope="module")
def reference_spikes():
    return _crossings(_rk4_trace(10.0, 100.0), 0.001)


def _run(model, current, dt, duration):
    state = model.init_state()
    _, (v, spike) = nt.simulate(
        model, state, current, dt=dt, duration=duration, monitor=_v0_and_spike
    )
    v = np.concatenate([[float(state.v[0])], np.asarray(v, np.float64)])
    return v, np.asarray(spike)


def test_reference_sanity(reference_spikes):
    # Repetitive firing at about 68 Hz for I = 10 uA/cm^2 (Hodgkin & Huxley's squid axon).
    assert len(reference_spikes) == 7
    assert np.allclose(np.diff(reference_spikes)[1:], 14.64, atol=0.05)


def test_rest_is_a_fixed_point():
    model = nt.neurons.HH(2)
    state = model.init_state()
    assert np.allclose(state.v, _rest(), atol=1e-9 if X64 else 2e-5)
    assert np.allclose(state.m, _gates_at(_rest())[0], atol=1e-6)
    _, (v, spike) = nt.simulate(model, state, 0.0, dt=0.01, duration=100.0, monitor=_v_and_spike)
    assert float(jnp.max(jnp.abs(v - state.v))) < 1e-3
    assert float(spike.sum()) == 0.0


@pytest.mark.parametrize("solver", [diffrax.Heun(), diffrax.Tsit5()], ids=["Heun", "Tsit5"])
@pytest.mark.parametrize("dt", [0.01, 0.05])
def test_spike_times_match_rk4(reference_spikes, solver, dt):
    v, spike = _run(nt.neurons.HH(1, solver=solver), 10.0, dt, 100.0)
    times = _crossings(v, dt)
    assert len(times) == len(reference_spikes)
    assert np.max(np.abs(times - reference_spikes)) < 0.1
    # The spike output marks exactly the steps in which v crossed v_th from below.
    assert set(np.unique(spike)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.flatnonzero(spike), np.floor(times / dt + 1e-9).astype(int))


@pytest.mark.parametrize("dt", [0.01, 0.025])
def test_default_solver_spike_times_match_rk4(reference_spikes, dt):
    # ExponentialRK2: measured 0.015 ms at dt = 0.01 and 0.081 ms at dt = 0.025.
    v, spike = _run(nt.neurons.HH(1), 10.0, dt, 100.0)
    times = _crossings(v, dt)
    assert len(times) == len(reference_spikes) == spike.sum()
    assert np.max(np.abs(times - reference_spikes)) < 0.1


@pytest.mark.parametrize(
    "solver,order,dts",
    [
        (nt.integrators.ExponentialEuler(), 1, (0.01, 0.05)),
        (nt.integrators.ExponentialRK2(), 2, (0.01, 0.025)),
    ],
    ids=["ExponentialEuler", "ExponentialRK2"],
)
def test_exponential_solvers_order_and_stability(reference_spikes, solver, order, dts):
    # Spike-time error ratio between two step sizes follows the order (ExponentialEuler: 0.48 ms
    # at dt = 0.01 and 2.40 ms at 0.05; ExponentialRK2: 0.015 and 0.081 ms at 0.01 and 0.025).
    errors = []
    for dt in dts:
        v, spike = _run(nt.neurons.HH(1, solver=solver), 10.0, dt, 100.0)
        times = _crossings(v, dt)
        assert len(times) == len(reference_spikes) == spike.sum()
        errors.append(np.max(np.abs(times - reference_spikes)))
    expected = (dts[1] / dts[0]) ** order
    assert 0.7 * expected < errors[1] / errors[0] < 1.3 * expected, errors
    # Both stay stable (same spike count, finite) at dt = 0.1 ms, where Heun diverges.
    v, spike = _run(nt.neurons.HH(1, solver=solver), 10.0, 0.1, 100.0)
    assert np.all(np.isfinite(v)) and spike.sum() == len(reference_spikes)


def test_no_nan_at_removable_singularities():
    for f, v0, limit, slope in ((alpha_m, -40.0, 1.0, 0.05), (alpha_n, -55.0, 0.1, 0.005)):
        v = jnp.asarray(v0)
        assert float(f(v)) == pytest.approx(limit, rel=1e-6)
        assert float(jax.grad(f)(v)) == pytest.approx(slope, rel=1e-4)
        # Continuous across the switch to the series expansion.
        for dv in (1e-2, -1e-2, 1e-1):
            x = (v0 + dv + (40.0 if f is alpha_m else 55.0)) / 10
            exact = (1.0 if f is alpha_m else 0.1) * x / (1 - math.exp(-x))
            assert float(f(v + dv)) == pytest.approx(exact, rel=1e-5)

    def v_after(v_init):
        model = nt.neurons.HH(2, v_init=v_init)
        state = model.init_state()
        state, _ = model(state, 5.0, t=0.0, dt=0.01)
        return state.v.sum()

    v_init = jnp.array([-40.0, -55.0])
    value, grad = jax.jit(jax.value_and_grad(v_after))(v_init)
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(grad)) and np.all(grad > 0)


def test_grad_wrt_gNa_through_simulate():
    def loss(gNa):
        model = nt.neurons.HH(1, gNa=gNa, solver=diffrax.Heun())
        _, v = nt.simulate(model, model.init_state(), 10.0, dt=0.01, n_steps=150, monitor=_v)
        return jnp.mean(v)

    g = jax.jit(jax.grad(loss))(jnp.asarray(120.0))
    assert np.isfinite(float(g)) and float(g) > 0  # more sodium conductance, earlier upstroke
    if X64:
        h, value = 1e-4, jax.jit(loss)
        fd = (value(120.0 + h) - value(120.0 - h)) / (2 * h)
        assert float(g) == pytest.approx(float(fd), rel=1e-5)


def test_vmap_over_gNa_equals_loop():
    gNas = jnp.array([80.0, 120.0, 160.0])

    def run(gNa):
        model = nt.neurons.HH(1, gNa=gNa)
        _, v = nt.simulate(model, model.init_state(), 10.0, dt=0.02, n_steps=500, monitor=_v)
        return v

    batched = eqx.filter_jit(eqx.filter_vmap(run))(gNas)
    looped = jnp.stack([run(g) for g in gNas])
    # vmap and the loop compile to different fusions, so float32 rounding differs; the upstroke
    # (dv/dt up to ~500 mV/ms) amplifies it to ~2e-4 mV. A wrong batching rule would differ by mV.
    atol = 1e-8 if X64 else 2e-3
    np.testing.assert_allclose(batched, looped, atol=atol, rtol=0)


def test_batch_shape_and_jit():
    model = nt.neurons.HH((3,), gK=jnp.array([30.0, 36.0, 42.0]))
    state = model.init_state((2,))
    assert state.v.shape == state.m.shape == state.spike.shape == (2, 3)
    current = jnp.array([[0.0, 10.0, 20.0], [5.0, 10.0, 15.0]])
    step = eqx.filter_jit(lambda s, i: model(s, i, t=0.0, dt=0.02))
    jitted, _ = step(state, current)
    _, (v, spikes) = nt.simulate(
        model, state, current, dt=0.02, duration=40.0, monitor=_v_and_spike
    )
    np.testing.assert_allclose(jitted.v, v[0], rtol=1e-6)
    assert v.shape == spikes.shape == (2000, 2, 3)
    counts = spikes.sum(0)
    assert counts[0, 0] == 0 and counts[0, 2] > counts[0, 1] > 0
    # Each row of the batch is the same population under its own input.
    np.testing.assert_array_equal(counts[0, 1], counts[1, 1])


def test_noise_needs_a_key():
    model = nt.neurons.HH(4, noise=1.0)
    state = model.init_state()
    with pytest.raises(ValueError, match="no key"):
        model(state, 0.0, t=0.0, dt=0.01)
    _, v = nt.simulate(model, state, 0.0, dt=0.01, n_steps=200, key=jax.random.key(0), monitor=_v)
    assert np.all(np.isfinite(v)) and float(jnp.std(v[-1])) > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="size"):
        nt.neurons.HH(0)
    with pytest.raises(ValueError, match="size"):
        nt.neurons.HH((2, -1))
    with pytest.raises(ValueError, match="C must be a positive"):
        nt.neurons.HH(2, C=0.0)
    with pytest.raises(ValueError, match="C must be a positive"):
        nt.neurons.HH(2, C=jnp.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="gNa must be a conductance"):
        nt.neurons.HH(2, gNa=-1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        nt.neurons.HH(2, gK=jnp.ones(3))
    with pytest.raises((TypeError, ValueError), match="solver"):
        nt.neurons.HH(2, solver="rk4")
    model = nt.neurons.HH(2)
    state = model.init_state()
    with pytest.raises(ValueError, match="dt"):
        model(state, 0.0, t=0.0, dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        model(state, 0.0, t=0.0, dt=-0.01)
    with pytest.raises(ValueError, match="does not broadcast to the state's shape"):
        model(state, jnp.ones(3), t=0.0, dt=0.01)
