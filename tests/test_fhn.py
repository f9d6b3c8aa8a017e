import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

X64 = jax.config.jax_enable_x64

# The FitzHugh-Nagumo equations with FitzHugh's parameters, typed out independently.
A, B, TAU = 0.7, 0.8, 12.5


def _rhs(t, u, current):
    v, w = u
    return [v - v**3 / 3 - w + current, (v + A - B * w) / TAU]


def _fixed_point(current):
    """w = (v + a) / b and the real root of v^3 / 3 + (1 / b - 1) v + a / b - I = 0."""
    roots = np.roots([1 / 3, 0.0, 1 / B - 1, A / B - current])
    (v,) = roots[np.abs(roots.imag) < 1e-12].real
    return v, (v + A) / B


def _hopf_currents():
    """tr J = 1 - v^2 - b / tau vanishes at v = -+sqrt(1 - b / tau); the currents whose fixed
    point sits there (det J = (1 - b (1 - v^2)) / tau > 0, so these are Hopf points)."""
    v = np.sqrt(1 - B / TAU)
    return tuple(x**3 / 3 - x + (x + A) / B for x in (-v, v))


def _reference(u0, current, t_end, t_eval=None):
    return solve_ivp(
        _rhs, (0.0, t_end), u0, args=(current,), method="DOP853", rtol=1e-10, atol=1e-12,
        t_eval=t_eval,
    )  # fmt: skip


def _run(model, current, dt, duration, state=None):
    state = model.init_state() if state is None else state
    _, v = nt.simulate(model, state, current, dt=dt, duration=duration, monitor=lambda s, o: o.v)
    return np.concatenate([np.asarray(state.v, np.float64)[None], np.asarray(v, np.float64)])


def test_rest_state_is_the_analytic_fixed_point():
    model = nt.neurons.FitzHughNagumo(1)
    state = model.init_state()
    v_rest, w_rest = _fixed_point(0.0)
    assert v_rest == pytest.approx(-1.19941, abs=1e-5)
    tol = 1e-12 if X64 else 1e-6
    np.testing.assert_allclose([float(state.v[0]), float(state.w[0])], [v_rest, w_rest], atol=tol)
    # From v = w = 0 the model relaxes to the same point (one excursion on the way).
    start = eqx.tree_at(lambda s: (s.v, s.w), state, (jnp.zeros(1), jnp.zeros(1)))
    end, _ = nt.simulate(model, start, 0.0, dt=0.1, duration=500.0)
    np.testing.assert_allclose([float(end.v[0]), float(end.w[0])], [v_rest, w_rest], atol=1e-5)


def test_returns_state_as_output():
    model = nt.neurons.FitzHughNagumo(3)
    state, out = model(model.init_state(), 0.5, t=0.0, dt=0.1)
    assert isinstance(out, nt.neurons.FitzHughNagumoState)
    assert out is state


def test_trajectory_matches_reference():
    # I = 0.5 (relaxation oscillation, period 39.47), dt = 0.1, 300 ms, against DOP853.
    model = nt.neurons.FitzHughNagumo(1)
    state = model.init_state()
    dt, t_end = 0.1, 300.0
    _, out = nt.simulate(model, state, 0.5, dt=dt, duration=t_end)
    t = np.arange(1, out.v.shape[0] + 1) * dt
    ref = _reference([float(state.v[0]), float(state.w[0])], 0.5, t_end, t_eval=t)
    # Tsit5's own error is ~1e-7 here (measured in float64). In float32, per-step rounding
    # accumulates to a phase error of ~1e-3 by t = 300, which on the jumps of v (slopes up to
    # ~2 per ms) is ~1e-2 (measured 0.013).
    tol = 1e-5 if X64 else 0.05
    np.testing.assert_allclose(out.v[:, 0], ref.y[0], atol=tol)
    np.testing.assert_allclose(out.w[:, 0], ref.y[1], atol=tol)


def test_hopf_points_bound_the_oscillations():
    i_low, i_high = _hopf_currents()
    assert (i_low, i_high) == pytest.approx((0.33128, 1.41872), abs=1e-5)
    # Both Hopf bifurcations are subcritical: stable rest and a large cycle coexist for
    # currents a few thousandths outside the interval (a step from the I = 0 rest lands on the
    # cycle there, as the reference also shows). 0.01 outside, rest is the only attractor.
    currents = jnp.asarray([i_low - 0.01, i_low + 0.01, i_high - 0.01, i_high + 0.01])
    model = nt.neurons.FitzHughNagumo(4)
    v = _run(model, currents, 0.1, 3000.0)
    late = v[-10000:]
    amplitude = late.max(axis=0) - late.min(axis=0)
    assert amplitude[0] < 1e-4 and amplitude[3] < 1e-4
    assert amplitude[1] > 3.0 and amplitude[2] > 3.0
    v_low, _ = _fixed_point(i_low - 0.01)
    np.testing.assert_allclose(v[-1, 0], v_low, atol=1e-5)


def test_jit_and_grad_through_simulate():
    state = nt.neurons.FitzHughNagumo(1).init_state()

    def mean_v(a):
        model = nt.neurons.FitzHughNagumo(1, a=a)
        _, v = nt.simulate(model, state, 0.5, dt=0.1, duration=100.0, monitor=lambda s, o: o.v)
        return jnp.mean(v)

    g = jax.jit(jax.grad(mean_v))(jnp.asarray(0.7))
    assert np.isfinite(g) and g != 0
    h = 1e-5 if X64 else 1e-2
    fd = (mean_v(0.7 + h) - mean_v(0.7 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6 if X64 else 5e-3)


def test_vmap_over_parameters_equals_loop():
    state = nt.neurons.FitzHughNagumo(1).init_state()

    def run(tau):
        model = nt.neurons.FitzHughNagumo(1, tau=tau)
        _, v = nt.simulate(model, state, 0.5, dt=0.1, n_steps=500, monitor=lambda s, o: o.v)
        return v

    taus = jnp.asarray([10.0, 12.5, 15.0])
    batched = eqx.filter_vmap(run)(taus)
    looped = jnp.stack([run(tau) for tau in taus])
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-5)


def test_batch_shape():
    model = nt.neurons.FitzHughNagumo(2, b=jnp.asarray([0.8, 0.5]))
    state = model.init_state((3,))
    assert state.v.shape == state.w.shape == (3, 2)
    currents = jnp.asarray([[0.0, 0.5], [1.0, 1.0], [2.0, 0.2]])
    _, out = nt.simulate(model, state, currents, dt=0.1, n_steps=300)
    assert out.v.shape == out.w.shape == (300, 3, 2)

    def first(s, o):  # one function for all runs, so simulate compiles once
        return o.v[0]

    for n, b in enumerate([0.8, 0.5]):
        single = nt.neurons.FitzHughNagumo(1, b=b)
        for k in range(3):
            _, vb = nt.simulate(
                single, single.init_state(), currents[k, n], dt=0.1, n_steps=300,
                monitor=first,
            )  # fmt: skip
            np.testing.assert_allclose(out.v[:, k, n], vb, rtol=1e-5, atol=1e-5)


def test_other_solvers_run():
    model = nt.neurons.FitzHughNagumo(1, solver=nt.integrators.ExponentialEuler())
    assert model.init_state().carry is None
    v = _run(model, 0.5, 0.1, 100.0)
    assert np.isfinite(v).all() and v.max() > 1.5
    assert nt.neurons.FitzHughNagumo(1, solver=diffrax.Heun()).init_state().carry is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=-3), "size must be a positive integer"),
        (dict(size=2, tau=0.0), "tau must be a positive time constant"),
        (dict(size=2, a=jnp.ones(3)), "does not broadcast to the population's shape"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nt.neurons.FitzHughNagumo(**kwargs)


def test_bad_solver():
    # A ValueError from the model; with runtime type checks on, jaxtyping's TypeError first.
    with pytest.raises((TypeError, ValueError), match="solver"):
        nt.neurons.FitzHughNagumo(2, solver="rk4")


def test_bad_inputs():
    model = nt.neurons.FitzHughNagumo(2)
    state = model.init_state()
    with pytest.raises(ValueError, match="input current of shape \\(2, 3\\) does not broadcast"):
        model(state, jnp.ones((2, 3)), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="dt must be a positive step"):
        model(state, 0.0, t=0.0, dt=0.0)
