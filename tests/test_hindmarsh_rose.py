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

# The Hindmarsh-Rose equations with BrainPy's defaults, typed out independently of the library.
A, B, C, D, R, S, X_R, V_TH = 1.0, 3.0, 1.0, 5.0, 0.01, 4.0, -1.6, 1.0


def _rhs(t, u, current):
    x, y, z = u
    return [y - A * x**3 + B * x**2 - z + current, C - D * x**2 - y, R * (S * (x - X_R) - z)]


def _rest():
    """The I = 0 fixed point: y = c - d x^2, z = s (x - x_r) and the real root of
    a x^3 + (d - b) x^2 + s x - (c + s x_r) = 0."""
    roots = np.roots([A, D - B, S, -(C + S * X_R)])
    (x,) = roots[np.abs(roots.imag) < 1e-12].real
    return x, C - D * x**2, S * (x - X_R)


def _reference(u0, current, t_end, t_eval=None):
    event = lambda t, u, current: u[0] - V_TH  # noqa: E731
    event.direction = 1
    return solve_ivp(
        _rhs, (0.0, t_end), u0, args=(current,), method="DOP853", rtol=1e-10, atol=1e-12,
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


def _u0(state):
    return [float(state.v[0]), float(state.y[0]), float(state.z[0])]


def _bursts(times):
    """Split spike times into bursts at the largest gap between sorted inter-spike intervals;
    returns the bursts and the ratio of the shortest long ISI to the longest short one."""
    isi = np.diff(times)
    s = np.sort(isi)
    k = np.argmax(s[1:] / s[:-1])
    cut = np.sqrt(s[k] * s[k + 1])
    bursts = np.split(times, np.flatnonzero(isi > cut) + 1)
    return bursts, s[k + 1] / s[k]


def test_rest_state_is_the_fixed_point():
    model = nt.neurons.HindmarshRose(1)
    state = model.init_state()
    tol = 1e-12 if X64 else 1e-5  # float32 rounding of y = -11.87 is 1e-6
    np.testing.assert_allclose(_u0(state), _rest(), atol=tol)
    v, spike = _run(model, 0.0, 0.05, 500.0)
    assert spike.sum() == 0
    np.testing.assert_allclose(v[:, 0], _rest()[0], atol=10 * tol)


def test_trajectory_and_spike_times_match_reference():
    # I = 3, dt = 0.05, 200 time units (the tonic run-in and the first bursts) against DOP853.
    model = nt.neurons.HindmarshRose(1)
    state = model.init_state()
    dt, t_end = 0.05, 200.0
    v, spike = _run(model, 3.0, dt, t_end, state)
    t = np.arange(v.shape[0]) * dt
    ref = _reference(_u0(state), 3.0, t_end, t_eval=t)
    # Tsit5's own error here is ~1e-5 (measured in float64). In float32 the rounding of z,
    # which changes by ~1e-4 per step, accumulates to a phase error of ~1e-3 time units by
    # t = 200; on upstrokes with slopes up to ~10 per unit time that is ~1e-2 in v.
    np.testing.assert_allclose(v[:, 0], ref.y[0], atol=2e-4 if X64 else 0.1)
    ref_spikes = ref.t_events[0]
    assert len(ref_spikes) == 17
    # Measured: 6e-4 (float64, mostly the linear interpolation of crossings), 8e-3 (float32).
    np.testing.assert_allclose(_crossings(v[:, 0], dt), ref_spikes, atol=2e-3 if X64 else 0.03)
    steps = np.flatnonzero(spike[:, 0])
    np.testing.assert_array_equal(steps, np.ceil(ref_spikes / dt).astype(int) - 1)


def test_bursting_at_I_3():
    model = nt.neurons.HindmarshRose(1)
    state = model.init_state()
    dt, t_end = 0.05, 2000.0
    v, _ = _run(model, 3.0, dt, t_end, state)
    times = _crossings(v[:, 0], dt)
    times = times[times > 500.0]  # after the initial tonic run-in
    bursts, gap = _bursts(times)
    ref = _reference(_u0(state), 3.0, t_end).t_events[0]
    ref_bursts, ref_gap = _bursts(ref[ref > 500.0])
    # The inter-spike intervals form two well-separated groups (within bursts ~13 and ~24,
    # between bursts ~61: a ratio of 2.53), and every complete burst has three spikes, as in
    # the reference.
    assert gap > 2.0
    sizes = [len(b) for b in bursts[1:-1]]
    assert len(sizes) >= 12 and set(sizes) == {3}
    assert {len(b) for b in ref_bursts[1:-1]} == {3}
    period = np.mean(np.diff([b[0] for b in bursts[1:-1]]))
    ref_period = np.mean(np.diff([b[0] for b in ref_bursts[1:-1]]))
    # The burst period (95.73) is set by the slow z; in float32 its per-step rounding shifts it
    # by 6e-4 (measured; 2e-7 in float64).
    np.testing.assert_allclose(period, ref_period, rtol=1e-5 if X64 else 2e-3)
    np.testing.assert_allclose(gap, ref_gap, rtol=1e-2)


def test_jit_and_grad_through_simulate():
    state = nt.neurons.HindmarshRose(1).init_state()

    def loss(r):
        model = nt.neurons.HindmarshRose(1, r=r)
        _, (v, spike) = nt.simulate(
            model, state, 3.0, dt=0.05, duration=50.0, monitor=lambda s, o: (s.v, o)
        )
        return jnp.mean(v) + jnp.sum(spike)

    g = jax.jit(jax.grad(loss))(jnp.asarray(0.01))
    assert np.isfinite(g) and g != 0

    def mean_v(s):  # v is never reset, so this is smooth in s and finite differences apply
        model = nt.neurons.HindmarshRose(1, s=s)
        _, v = nt.simulate(model, state, 1.0, dt=0.05, duration=20.0, monitor=lambda s, o: s.v)
        return jnp.mean(v)

    g = jax.grad(mean_v)(jnp.asarray(4.0))
    h = 1e-4 if X64 else 0.02
    fd = (mean_v(4.0 + h) - mean_v(4.0 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6 if X64 else 2e-3)


def test_vmap_over_parameters_equals_loop():
    def run(b):
        model = nt.neurons.HindmarshRose(1, b=b)
        state = model.init_state()
        _, v = nt.simulate(model, state, 3.0, dt=0.05, n_steps=400, monitor=lambda s, o: s.v)
        return v

    bs = jnp.asarray([2.5, 3.0, 3.5])
    batched = eqx.filter_vmap(run)(bs)
    looped = jnp.stack([run(b) for b in bs])
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-5)


def test_batch_shape():
    model = nt.neurons.HindmarshRose((2, 2))
    state = model.init_state((3,))
    for x in (state.v, state.y, state.z, state.spike):
        assert x.shape == (3, 2, 2)
    currents = jnp.linspace(0.0, 4.0, 12).reshape(3, 2, 2)
    _, v = nt.simulate(model, state, currents, dt=0.05, n_steps=400, monitor=lambda s, o: s.v)
    assert v.shape == (400, 3, 2, 2)
    single = nt.neurons.HindmarshRose(1)

    def first(s, o):  # one function for all runs, so simulate compiles once
        return s.v[0]

    for idx in [(0, 0, 0), (1, 0, 1), (2, 1, 1)]:
        _, vb = nt.simulate(
            single, single.init_state(), currents[idx], dt=0.05, n_steps=400,
            monitor=first,
        )  # fmt: skip
        np.testing.assert_allclose(v[(slice(None),) + idx], vb, rtol=1e-5, atol=1e-5)


def test_other_solvers_run():
    model = nt.neurons.HindmarshRose(1, solver=diffrax.Heun())
    assert model.init_state().carry is None
    v, spike = _run(model, 3.0, 0.02, 20.0)
    assert spike.sum() >= 3 and np.isfinite(v).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=(2, 0)), "size must be a positive integer"),
        (dict(size=2, r=-0.01), "r must be a non-negative rate"),
        (dict(size=2, b=jnp.ones((2, 2))), "does not broadcast to the population's shape"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nt.neurons.HindmarshRose(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(solver="rk4"), dict(spike_fn=jnp.tanh)])
def test_bad_solver_or_spike_fn(kwargs):
    # A ValueError from the model; with runtime type checks on, jaxtyping's TypeError first.
    with pytest.raises((TypeError, ValueError), match=next(iter(kwargs))):
        nt.neurons.HindmarshRose(2, **kwargs)


def test_bad_inputs():
    model = nt.neurons.HindmarshRose(2)
    state = model.init_state()
    with pytest.raises(ValueError, match="input current of shape \\(3,\\) does not broadcast"):
        model(state, jnp.ones(3), t=0.0, dt=0.05)
    with pytest.raises(ValueError, match="dt must be a positive step"):
        model(state, 0.0, t=0.0, dt=-0.05)
