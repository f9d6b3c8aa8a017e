import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

LIF = nt.neurons.LIF
FLOAT64 = jnp.zeros(()).dtype == jnp.float64


def spike_times(spikes, dt):
    """Times (ms) of the spikes in a (n_steps,) record: a spike at step n is at (n + 1) dt."""
    return (np.nonzero(np.asarray(spikes))[0] + 1) * dt


def analytic_rate(RI, tau, tau_ref, v_th, v_rest):
    """f = 1 / (tau_ref + tau ln(R I / (R I - (v_th - v_rest)))) in 1/ms, for v_reset = v_rest."""
    return 1.0 / (tau_ref + tau * np.log(RI / (RI - (v_th - v_rest))))


def test_rate_matches_analytic_f_I_curve():
    tau, tau_ref, v_th, v_rest, R, dt = 10.0, 2.0, 20.0, 0.0, 2.0, 0.01
    RI = np.array([22.0, 25.0, 30.0, 40.0, 60.0])
    m = LIF(5, tau=tau, v_rest=v_rest, v_reset=v_rest, v_th=v_th, tau_ref=tau_ref, R=R)
    _, spikes = nt.simulate(m, m.init_state(), jnp.asarray(RI / R), dt=dt, duration=300.0)
    expected = analytic_rate(RI, tau, tau_ref, v_th, v_rest)
    for j in range(5):
        t = spike_times(spikes[:, j], dt)
        assert len(t) >= 10
        # Each ISI is the analytic one rounded up to the grid (the spike is registered at the
        # first step end past threshold), so the rate errs by at most dt / ISI (< 0.2 % here).
        rate = 1.0 / np.mean(np.diff(t))
        np.testing.assert_allclose(rate, expected[j], rtol=0.01)
        assert 0.0 <= 1.0 / rate - 1.0 / expected[j] <= dt * (1 + 1e-3)


def test_no_spikes_at_or_below_rheobase():
    # Rheobase: R I = v_th - v_rest = 20 mV; v only approaches R I from below.
    m = LIF(4, tau=10.0, v_rest=0.0, v_reset=0.0, v_th=20.0, tau_ref=2.0, R=1.0)
    current = jnp.array([0.0, 10.0, 19.0, 19.9])
    _, spikes = nt.simulate(m, m.init_state(), current, dt=0.01, duration=500.0)
    assert float(jnp.sum(spikes)) == 0.0


@pytest.mark.parametrize(
    "tau_ref,dt,steps", [(1.0, 0.1, 10), (2.3, 0.1, 23), (0.7, 0.05, 14), (0.0, 0.1, 0)]
)
def test_refractory_holds_exactly_round_tau_ref_over_dt_steps(tau_ref, dt, steps):
    assert steps == round(tau_ref / dt)
    m = LIF(1, tau_ref=tau_ref, v_reset=-5.0)
    _, (v, spikes) = nt.simulate(
        m, m.init_state(), 100.0, dt=dt, n_steps=400, monitor=lambda s, o: (s.v[0], o[0])
    )
    v, spikes = np.asarray(v), np.asarray(spikes)
    idx = np.nonzero(spikes)[0]
    assert len(idx) >= 3
    for n in idx[:-1]:
        held = 0
        while v[n + 1 + held] == -5.0:
            held += 1
        assert held == steps
        assert spikes[n + 1 : n + 1 + steps].sum() == 0


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LIF(0), "size"),
        (lambda: LIF(-3), "size"),
        (lambda: LIF((2, 0)), "size"),
        (lambda: LIF(3, tau_ref=-1.0), r"tau_ref=-1\.0"),
        (lambda: LIF(3, tau=0.0), r"tau=0\.0"),
        (lambda: LIF(3, tau=-2.0), r"tau=-2\.0"),
        (lambda: LIF(3, tau=jnp.array([10.0, -1.0, 5.0])), "tau"),
        (lambda: LIF(3, v_reset=20.0, v_th=20.0), "v_reset"),
        (lambda: LIF(3, v_reset=25.0, v_th=20.0), "v_reset"),
        (lambda: LIF(3, tau=jnp.ones(4)), "tau"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda m, s: m(s, 1.0, t=0.0, dt=0.0), r"dt=0\.0"),
        (lambda m, s: m(s, 1.0, t=0.0, dt=-0.1), r"dt=-0\.1"),
        (lambda m, s: m(s, jnp.ones(4), t=0.0, dt=0.1), r"current of shape \(4,\)"),
        (lambda m, s: m(s, jnp.ones((2, 3)), t=0.0, dt=0.1), r"current of shape \(2, 3\)"),
    ],
)
def test_bad_call_raises(call, match):
    m = LIF(3)
    with pytest.raises(ValueError, match=match):
        call(m, m.init_state())


def test_noise_needs_a_key():
    m = LIF(3, noise=1.0)
    with pytest.raises(ValueError, match="key"):
        m(m.init_state(), 1.0, t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="key"):
        nt.simulate(m, m.init_state(), 1.0, dt=0.1, n_steps=5)
    run = lambda k: nt.simulate(m, m.init_state(), 1.0, dt=0.1, n_steps=50, key=k)[0].v  # noqa: E731
    v1, v1b, v2 = run(jax.random.key(1)), run(jax.random.key(1)), run(jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(v1), np.asarray(v1b))
    assert not np.allclose(np.asarray(v1), np.asarray(v2))


def test_detach_reset_changes_gradients_not_values():
    def run(detach, current):
        m = LIF(2, tau_ref=1.0, detach_reset=detach)
        _, (v, s) = nt.simulate(
            m, m.init_state(), current, dt=0.1, n_steps=300, monitor=lambda st, o: (st.v, o)
        )
        return v, s

    current = jnp.array([25.0, 40.0])
    (v0, s0), (v1, s1) = run(False, current), run(True, current)
    np.testing.assert_array_equal(np.asarray(v0), np.asarray(v1))
    np.testing.assert_array_equal(np.asarray(s0), np.asarray(s1))
    assert float(s0.sum()) >= 4
    g0 = jax.grad(lambda current: run(False, current)[0].sum())(current)
    g1 = jax.grad(lambda current: run(True, current)[0].sum())(current)
    assert np.all(np.isfinite(np.asarray(g0))) and np.all(np.isfinite(np.asarray(g1)))
    assert not np.allclose(np.asarray(g0), np.asarray(g1), rtol=1e-3)


def test_jit_matches_eager():
    m = LIF(3, tau_ref=1.0)
    current = jnp.array([15.0, 25.0, 40.0])
    _, eager = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=500)
    f = eqx.filter_jit(
        lambda m, current: nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=500)[1]
    )
    np.testing.assert_array_equal(np.asarray(f(m, current)), np.asarray(eager))


def test_grad_wrt_tau_through_simulate():
    # Subthreshold: v(t) = R I (1 - exp(-t / tau)), so d/dtau sum_n v(t_n) is known exactly.
    dt, n, RI = 0.1, 200, 15.0

    def loss(m):
        _, v = nt.simulate(m, m.init_state(), RI, dt=dt, n_steps=n, monitor=lambda s, o: s.v)
        return v.sum()

    m = LIF(1, tau=10.0)
    g = eqx.filter_grad(loss)(m).tau
    t = dt * np.arange(1, n + 1)
    expected = np.sum(-RI * t / 10.0**2 * np.exp(-t / 10.0))
    np.testing.assert_allclose(float(g), expected, rtol=1e-4)

    # With spikes and resets the surrogate gradient is finite and non-zero.
    def spike_loss(m):
        _, s = nt.simulate(m, m.init_state(), jnp.array([25.0, 40.0]), dt=dt, n_steps=500)
        return s.sum()

    g = eqx.filter_grad(spike_loss)(LIF(2, tau=jnp.array([10.0, 12.0]), tau_ref=1.0)).tau
    assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)


def test_vmap_over_models_with_different_tau_equals_loop():
    taus = jnp.array([5.0, 10.0, 20.0, 40.0])
    current = jnp.array([22.0, 30.0, 50.0])

    def run(m):
        return nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=400)[1]

    models = eqx.filter_vmap(lambda tau: LIF(3, tau=tau, tau_ref=1.0))(taus)
    swept = eqx.filter_vmap(run)(models)
    assert swept.shape == (4, 400, 3)
    for k, tau in enumerate(np.asarray(taus)):
        np.testing.assert_array_equal(
            np.asarray(swept[k]), np.asarray(run(LIF(3, tau=float(tau), tau_ref=1.0)))
        )
    assert len({float(swept[k].sum()) for k in range(4)}) == 4


def test_batch_shape():
    m = LIF(3, tau_ref=1.0)
    s = m.init_state((2, 4))
    assert s.v.shape == s.spike.shape == s.refractory.shape == (2, 4, 3)
    current = jnp.broadcast_to(jnp.array([15.0, 25.0, 40.0]), (2, 4, 3))
    state, spikes = nt.simulate(m, s, current, dt=0.1, n_steps=300)
    assert spikes.shape == (300, 2, 4, 3) and state.v.shape == (2, 4, 3)
    _, single = nt.simulate(m, m.init_state(), jnp.array([15.0, 25.0, 40.0]), dt=0.1, n_steps=300)
    np.testing.assert_array_equal(np.asarray(spikes[:, 1, 2]), np.asarray(single))


@pytest.mark.parametrize("solver", [diffrax.Euler(), diffrax.Heun(), diffrax.Tsit5()], ids=type)
def test_diffrax_solvers_give_the_same_spike_counts(solver):
    current = jnp.array([21.0, 25.0, 30.0, 40.0, 60.0])
    counts = []
    for s in (nt.integrators.ExponentialEuler(), solver):
        m = LIF(5, tau_ref=2.0, solver=s)
        _, spikes = nt.simulate(m, m.init_state(), current, dt=0.01, duration=200.0)
        counts.append(np.asarray(spikes.sum(0)))
    assert counts[0].min() >= 5
    np.testing.assert_array_equal(counts[1], counts[0])


def test_tsit5_carried_fsal_state_matches_diffeqsolve():
    dt, n, RI = 0.1, 40, 15.0  # subthreshold: no spike, so the FSAL stage is reused every step
    m = LIF(2, solver=diffrax.Tsit5())
    state = eqx.tree_at(lambda s: s.v, m.init_state(), jnp.array([-3.0, 12.0]))
    state, v = nt.simulate(m, state, RI, dt=dt, n_steps=n, monitor=lambda s, o: s.v)
    assert bool(state.carry.solver_state[0]) is False  # the cached stage is in use
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(m.vector_field), diffrax.Tsit5(), t0=0.0, t1=n * dt, dt0=dt,
        y0=jnp.array([-3.0, 12.0]), args=jnp.full(2, RI),
        saveat=diffrax.SaveAt(ts=dt * jnp.arange(1, n + 1)),
        stepsize_controller=diffrax.ConstantStepSize(),
    )  # fmt: skip
    tol = 1e-12 if FLOAT64 else 1e-6
    np.testing.assert_allclose(np.asarray(v), np.asarray(sol.ys), rtol=tol, atol=tol * 20)


class _Carry(eqx.Module):
    """Runs `model` with its Tsit5 carry forced stale (`fresh=False`) or forced recomputed."""

    model: LIF
    fresh: bool = eqx.field(static=True)

    def init_state(self, batch_shape=(), *, key=None):
        return self.model.init_state(batch_shape)

    def __call__(self, state, current, *, t, dt, key=None):
        current = jnp.broadcast_to(current, state.v.shape).astype(state.v.dtype)
        # integrate() recomputes the first stage iff y or args differ from the carry's.
        y = state.v + 1.0 if self.fresh else state.v
        state = eqx.tree_at(lambda s: (s.carry.y, s.carry.args), state, (y, current))
        return self.model(state, current, t=t, dt=dt)


def test_tsit5_state_is_reinitialised_after_reset():
    m = LIF(2, tau_ref=0.0, solver=diffrax.Tsit5())
    current = jnp.array([30.0, 45.0])

    def run(model):
        return nt.simulate(
            model, model.init_state(), current, dt=0.1, n_steps=400, monitor=lambda s, o: s.v
        )[1]

    carried, fresh, stale = run(m), run(_Carry(m, fresh=True)), run(_Carry(m, fresh=False))
    np.testing.assert_allclose(np.asarray(carried), np.asarray(fresh), rtol=0, atol=1e-5)
    # Reusing the stage cached before a reset would change the trajectory: the test can fail.
    assert np.max(np.abs(np.asarray(stale) - np.asarray(fresh))) > 0.01

    # And both agree with the exact solution between resets (Tsit5's error at dt = 0.1 is tiny).
    expected = LIF(2, tau_ref=0.0)  # ExponentialEuler is exact for the LIF membrane
    exact = run(expected)
    np.testing.assert_allclose(np.asarray(carried), np.asarray(exact), atol=1e-3)


def test_default_gradients_stay_finite_over_long_runs():
    # With the reset passing gradient, each near-threshold step multiplies the gradient by
    # 1 - spike_fn'(v - v_th) (v - v_reset), down to -19 for Sigmoid(4) and a 20 mV reset: over
    # 1000 steps it overflows. The default detaches the reset (as snnTorch does; Zenke & Vogels
    # 2021, Neural Comput 33:899), so a long run gives finite, non-zero gradients.
    def loss(current, detach):
        m = LIF(2, tau_ref=1.0, detach_reset=detach)
        _, v = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=2000,
                           monitor=lambda s, o: s.v)  # fmt: skip
        return v.sum()

    current = jnp.array([25.0, 40.0])
    assert LIF(2).detach_reset
    g = jax.grad(loss)(current, True)
    assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) != 0)
    assert np.all(np.abs(np.asarray(g)) < 1e6), g
    # Not detached: the gradient explodes (NaN in float32, ~1e100 in float64).
    g_attached = np.asarray(jax.grad(loss)(current, False))
    assert not np.all(np.abs(g_attached) < 1e20), g_attached
