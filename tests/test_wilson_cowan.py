import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

X64 = jax.config.jax_enable_x64

# BrainPy's defaults, and Wilson & Cowan's (1972) limit-cycle set (their c1..c4 = 16, 12, 15, 3;
# r_e = r_i = 1; P = 1.25), in the model's names: wIE is the weight of I onto E.
DEFAULTS = dict(tau_E=1.0, a_E=1.2, theta_E=2.8, tau_I=1.0, a_I=1.0, theta_I=4.0,
                wEE=12.0, wIE=4.0, wEI=13.0, wII=11.0, r=1.0)  # fmt: skip
CYCLE = dict(DEFAULTS, a_E=1.3, theta_E=4.0, a_I=2.0, theta_I=3.7,
             wEE=16.0, wIE=12.0, wEI=15.0, wII=3.0)  # fmt: skip


def _gain(x, a, theta):
    return 1 / (1 + np.exp(-a * (x - theta))) - 1 / (1 + np.exp(a * theta))


def _rhs(t, u, p, i_e, i_i):
    e, i = u
    fe = _gain(p["wEE"] * e - p["wIE"] * i + i_e, p["a_E"], p["theta_E"])
    fi = _gain(p["wEI"] * e - p["wII"] * i + i_i, p["a_I"], p["theta_I"])
    return np.array(
        [(-e + (1 - p["r"] * e) * fe) / p["tau_E"], (-i + (1 - p["r"] * i) * fi) / p["tau_I"]]
    )


def _reference(p, i_e, i_i, t_end, t_eval=None):
    event = lambda t, u, *args: u[0] - 0.2  # noqa: E731
    event.direction = 1
    return solve_ivp(
        _rhs, (0.0, t_end), [0.0, 0.0], args=(p, i_e, i_i), method="DOP853", rtol=1e-10,
        atol=1e-12, t_eval=t_eval, events=event,
    )  # fmt: skip


def _jacobian(p, u, i_e, i_i, h=1e-7):
    cols = [(_rhs(0, u + d, p, i_e, i_i) - _rhs(0, u - d, p, i_e, i_i)) / (2 * h)
            for d in (np.array([h, 0.0]), np.array([0.0, h]))]  # fmt: skip
    return np.stack(cols, axis=1)


def _crossings(x, dt, level=0.2):
    i = np.flatnonzero((x[:-1] < level) & (x[1:] >= level))
    return (i + (level - x[i]) / (x[i + 1] - x[i])) * dt


def test_zero_input_stays_at_rest():
    model = nt.neurons.WilsonCowan(3)
    state = model.init_state()
    assert np.all(state.rE == 0) and np.all(state.rI == 0)
    end, _ = nt.simulate(model, state, None, dt=0.1, duration=20.0)
    np.testing.assert_array_equal(end.rE, 0.0)
    np.testing.assert_array_equal(end.rI, 0.0)


def test_fixed_point_solves_the_steady_state_equations():
    # Defaults, inputs I_E = 1, I_I = 0.5: a stable node (eigenvalues checked below).
    model = nt.neurons.WilsonCowan(1)
    end, _ = nt.simulate(model, model.init_state(), {"E": 1.0, "I": 0.5}, dt=0.1, duration=50.0)
    fixed = fsolve(lambda u: _rhs(0, u, DEFAULTS, 1.0, 0.5), [0.5, 0.3], xtol=1e-13)
    np.testing.assert_allclose(_rhs(0, fixed, DEFAULTS, 1.0, 0.5), 0.0, atol=1e-12)
    assert np.all(np.linalg.eigvals(_jacobian(DEFAULTS, fixed, 1.0, 0.5)).real < 0)
    tol = 1e-9 if X64 else 1e-6
    np.testing.assert_allclose([float(end.rE[0]), float(end.rI[0])], fixed, atol=tol)


def test_trajectory_matches_reference():
    # The limit-cycle set at I_E = 1.25, dt = 0.1 ms, 100 ms (20 cycles) against DOP853.
    model = nt.neurons.WilsonCowan(1, **CYCLE)
    dt, t_end = 0.1, 100.0
    _, out = nt.simulate(model, model.init_state(), 1.25, dt=dt, duration=t_end)
    t = np.arange(1, out.rE.shape[0] + 1) * dt
    ref = _reference(CYCLE, 1.25, 0.0, t_end, t_eval=t)
    # Tsit5's own error here is ~5e-6 (measured in float64); float32 rounding accumulates to
    # a phase error that shows as ~2e-4 in rE by t = 100 (measured).
    tol = 2e-5 if X64 else 2e-3
    np.testing.assert_allclose(out.rE[:, 0], ref.y[0], atol=tol)
    np.testing.assert_allclose(out.rI[:, 0], ref.y[1], atol=tol)


def test_limit_cycle_of_wilson_cowan_1972():
    i_e = 1.25
    fixed = fsolve(lambda u: _rhs(0, u, CYCLE, i_e, 0.0), [0.2, 0.2], xtol=1e-13)
    np.testing.assert_allclose(_rhs(0, fixed, CYCLE, i_e, 0.0), 0.0, atol=1e-12)
    eig = np.linalg.eigvals(_jacobian(CYCLE, fixed, i_e, 0.0))
    assert np.all(eig.real > 0) and np.all(eig.imag != 0)  # an unstable focus
    model = nt.neurons.WilsonCowan(1, **CYCLE)
    dt, t_end = 0.05, 400.0
    _, out = nt.simulate(model, model.init_state(), i_e, dt=dt, duration=t_end)
    rE = np.concatenate([[0.0], np.asarray(out.rE[:, 0], np.float64)])
    times = _crossings(rE, dt)
    period = np.mean(np.diff(times[times > 100.0]))
    ref = _reference(CYCLE, i_e, 0.0, t_end)
    ref_period = np.mean(np.diff(ref.t_events[0][ref.t_events[0] > 100.0]))
    assert ref_period == pytest.approx(5.0034, abs=1e-4)
    # Measured: 2e-8 (float64), 9e-5 (float32, per-step rounding of rE and rI).
    np.testing.assert_allclose(period, ref_period, rtol=1e-6 if X64 else 3e-4)
    late = rE[round(200.0 / dt) :]
    np.testing.assert_allclose(np.ptp(late), 0.16996, atol=1e-4)


def test_input_forms():
    model = nt.neurons.WilsonCowan(2)
    state = model.init_state()
    step = lambda x: model(state, x, t=0.0, dt=0.1)[0]  # noqa: E731
    single, as_dict = step(1.0), step({"E": 1.0})
    np.testing.assert_array_equal(single.rE, as_dict.rE)
    np.testing.assert_array_equal(single.rI, as_dict.rI)
    only_i = step({"I": jnp.asarray([0.0, 3.0])})
    assert float(only_i.rI[1]) > 0 and float(only_i.rI[0]) == 0
    # E feels the input to I only through rI (within the step, through Tsit5's stages).
    assert float(only_i.rE[1]) < 0 and float(only_i.rE[0]) == 0
    # A dict of time series through simulate.
    n = 20
    series = {"E": jnp.ones((n, 2)), "I": jnp.zeros(n)}
    _, out = nt.simulate(model, state, series, dt=0.1, n_steps=n)
    _, ref = nt.simulate(model, state, 1.0, dt=0.1, n_steps=n)
    np.testing.assert_allclose(out.rE, ref.rE, rtol=1e-6)


def test_jit_and_grad_through_simulate():
    def mean_rE(wEE):
        model = nt.neurons.WilsonCowan(1, **dict(CYCLE, wEE=wEE))
        _, out = nt.simulate(model, model.init_state(), 1.25, dt=0.1, duration=20.0)
        return jnp.mean(out.rE)

    g = jax.jit(jax.grad(mean_rE))(jnp.asarray(16.0))
    assert np.isfinite(g) and g != 0
    h = 1e-5 if X64 else 1e-2
    fd = (mean_rE(16.0 + h) - mean_rE(16.0 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6 if X64 else 5e-3)


def test_vmap_over_parameters_equals_loop():
    def run(i_e, wII):
        model = nt.neurons.WilsonCowan(1, **dict(CYCLE, wII=wII))
        _, out = nt.simulate(model, model.init_state(), i_e, dt=0.1, n_steps=300)
        return out.rE

    i_es, wIIs = jnp.asarray([0.5, 1.25, 2.0]), jnp.asarray([2.0, 3.0, 4.0])
    batched = eqx.filter_vmap(run)(i_es, wIIs)
    looped = jnp.stack([run(i, w) for i, w in zip(i_es, wIIs, strict=True)])
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-6)


def test_batch_shape():
    model = nt.neurons.WilsonCowan((2, 3), **CYCLE)
    state = model.init_state((4,))
    assert state.rE.shape == state.rI.shape == (4, 2, 3)
    i_e = jnp.linspace(0.0, 3.0, 4 * 2 * 3).reshape(4, 2, 3)
    _, out = nt.simulate(model, state, {"E": i_e}, dt=0.1, n_steps=200)
    assert out.rE.shape == out.rI.shape == (200, 4, 2, 3)
    single = nt.neurons.WilsonCowan(1, **CYCLE)

    def first(s, o):  # one function for all runs, so simulate compiles once
        return o.rE[0]

    for idx in [(0, 0, 0), (1, 1, 2), (3, 0, 1)]:
        _, rE = nt.simulate(
            single, single.init_state(), i_e[idx], dt=0.1, n_steps=200, monitor=first
        )
        np.testing.assert_allclose(out.rE[(slice(None),) + idx], rE, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=0), "size must be a positive integer"),
        (dict(size=2, tau_I=-1.0), "tau_I must be a positive time constant"),
        (dict(size=2, a_E=0.0), "a_E must be a positive gain"),
        (dict(size=2, wIE=-4.0), "wIE must be >= 0"),
        (dict(size=2, r=-1.0), "r must be >= 0"),
        (dict(size=2, theta_E=jnp.ones(3)), "does not broadcast to the population's shape"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nt.neurons.WilsonCowan(**kwargs)


def test_bad_solver():
    # A ValueError from the model; with runtime type checks on, jaxtyping's TypeError first.
    with pytest.raises((TypeError, ValueError), match="solver"):
        nt.neurons.WilsonCowan(2, solver="rk4")


def test_bad_inputs():
    model = nt.neurons.WilsonCowan(2)
    state = model.init_state()
    with pytest.raises(ValueError, match="keys \\['e'\\]; expected a dict with keys 'E'"):
        model(state, {"e": 1.0}, t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="input I of shape \\(3,\\) does not broadcast"):
        model(state, {"I": jnp.ones(3)}, t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="input E of shape \\(3,\\) does not broadcast"):
        model(state, jnp.ones(3), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="dt must be a positive step"):
        model(state, 0.0, t=0.0, dt=-1.0)
