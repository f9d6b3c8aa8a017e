import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

LeakyIntegrator = nt.neurons.LeakyIntegrator
FLOAT64 = jnp.zeros(()).dtype == jnp.float64
TOL = 1e-12 if FLOAT64 else 2e-6


def test_step_response_is_the_analytic_charging_curve():
    # tau dv/dt = -(v - v_rest) + R I from v = v_rest: v(t) = v_rest + R I (1 - exp(-t / tau)).
    tau = np.array([5.0, 10.0, 20.0])
    R, v_rest, current, dt, n = 2.0, -3.0, np.array([1.0, 7.5, -4.0]), 0.1, 500
    m = LeakyIntegrator(3, tau=tau, R=R, v_rest=v_rest)
    state, v = nt.simulate(m, m.init_state(), jnp.asarray(current), dt=dt, n_steps=n)
    t = dt * np.arange(1, n + 1)[:, None]  # record n is taken after step n, at (n + 1) dt
    expected = v_rest + R * current * (1.0 - np.exp(-t / tau))
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(v), expected, rtol=0, atol=TOL * scale)
    np.testing.assert_array_equal(np.asarray(state.v), np.asarray(v[-1]))


def test_relaxation_from_a_displaced_state():
    m = LeakyIntegrator(2, tau=8.0, v_rest=1.0)
    state = eqx.tree_at(lambda s: s.v, m.init_state(), jnp.array([11.0, -9.0]))
    _, v = nt.simulate(m, state, None, dt=0.5, n_steps=40)
    t = 0.5 * np.arange(1, 41)[:, None]
    expected = 1.0 + np.array([10.0, -10.0]) * np.exp(-t / 8.0)
    np.testing.assert_allclose(np.asarray(v), expected, rtol=0, atol=TOL * 11)


def test_exact_at_a_coarse_step():
    # Exponential Euler is exact for a current constant over the step, whatever dt / tau.
    m = LeakyIntegrator(1, tau=2.0)
    _, v = nt.simulate(m, m.init_state(), 10.0, dt=5.0, n_steps=3)
    expected = 10.0 * (1.0 - np.exp(-5.0 * np.arange(1, 4) / 2.0))
    np.testing.assert_allclose(np.asarray(v[:, 0]), expected, rtol=TOL)


def test_tsit5_matches_the_analytic_curve():
    m = LeakyIntegrator(1, tau=10.0, solver=diffrax.Tsit5())
    _, v = nt.simulate(m, m.init_state(), 3.0, dt=0.1, n_steps=200)
    t = 0.1 * np.arange(1, 201)
    np.testing.assert_allclose(np.asarray(v[:, 0]), 3.0 * (1 - np.exp(-t / 10.0)), atol=1e-5)


def test_grad_wrt_tau_matches_analytic():
    # d/dtau sum_n R I (1 - exp(-t_n / tau)) = -sum_n R I t_n / tau^2 exp(-t_n / tau).
    dt, n, RI = 0.1, 300, 4.0
    loss = lambda m: nt.simulate(m, m.init_state(), RI, dt=dt, n_steps=n)[1].sum()  # noqa: E731
    g = eqx.filter_grad(loss)(LeakyIntegrator(1, tau=12.0)).tau
    t = dt * np.arange(1, n + 1)
    expected = np.sum(-RI * t / 12.0**2 * np.exp(-t / 12.0))
    np.testing.assert_allclose(float(g), expected, rtol=1e-4)


def test_batch_shape_and_outputs_are_v():
    m = LeakyIntegrator((2, 3), tau=5.0)
    s = m.init_state((4,))
    assert s.v.shape == (4, 2, 3) and s.carry is None
    current = jnp.arange(24.0).reshape(4, 2, 3)
    state, v = nt.simulate(m, s, current, dt=0.2, n_steps=10)
    assert v.shape == (10, 4, 2, 3)
    np.testing.assert_array_equal(np.asarray(state.v), np.asarray(v[-1]))
    _, single = nt.simulate(m, m.init_state(), current[3], dt=0.2, n_steps=10)
    np.testing.assert_array_equal(np.asarray(v[:, 3]), np.asarray(single))


def test_jit_matches_eager():
    m = LeakyIntegrator(3, tau=jnp.array([2.0, 5.0, 9.0]))
    run = lambda m: nt.simulate(m, m.init_state(), 1.5, dt=0.3, n_steps=50)[1]  # noqa: E731
    np.testing.assert_array_equal(np.asarray(eqx.filter_jit(run)(m)), np.asarray(run(m)))


def test_as_the_readout_of_a_network():
    # One input spike at t = 0 through a Dense weight w into an Expon synapse (tau_s): the
    # current w exp(-t / tau_s) drives v = w R tau_s / (tau - tau_s) (exp(-t/tau) - exp(-t/tau_s)).
    # Clock-driven, the spike of step 0 acts from step 1 and the current is held per step, so
    # compare at a fine step, to O(dt).
    w, tau, tau_s, dt = 3.0, 10.0, 4.0, 0.01
    net = nt.Network(
        populations={
            "src": nt.inputs.SpikeTimes(1, [0.0], [0]),
            "out": LeakyIntegrator(1, tau=tau),
        },
        projections={
            "p": nt.AlignPost(
                pre="src", post="out", comm=nt.comm.Dense(jnp.full((1, 1), w)),
                syn=nt.synapses.Expon(tau=tau_s), out=nt.synapses.CUBA(),
            )
        },
    )  # fmt: skip
    _, rec = nt.simulate(net, net.init_state(), dt=dt, n_steps=3000)
    t = dt * np.arange(1, 3001) - dt  # the synapse receives the spike one step later
    expected = w * tau_s / (tau - tau_s) * (np.exp(-t / tau) - np.exp(-t / tau_s))
    np.testing.assert_allclose(np.asarray(rec["out"][:, 0]), expected, atol=2e-3 * expected.max())


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LeakyIntegrator(0), "size"),
        (lambda: LeakyIntegrator(3, tau=0.0), r"tau=0\.0"),
        (lambda: LeakyIntegrator(3, tau=-1.0), r"tau=-1\.0"),
        (lambda: LeakyIntegrator(3, tau=jnp.ones(4)), "tau"),
        (lambda: LeakyIntegrator(3, R=jnp.ones(2)), "R"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda m, s: m(s, 1.0, t=0.0, dt=0.0), r"dt=0\.0"),
        (lambda m, s: m(s, jnp.ones(4), t=0.0, dt=0.1), r"current of shape \(4,\)"),
    ],
)
def test_bad_call_raises(call, match):
    m = LeakyIntegrator(3)
    with pytest.raises(ValueError, match=match):
        call(m, m.init_state())


def test_vmap_over_tau():
    taus = jnp.array([2.0, 4.0, 8.0])
    models = eqx.filter_vmap(lambda tau: LeakyIntegrator(1, tau=tau))(taus)
    v = eqx.filter_vmap(lambda m: nt.simulate(m, m.init_state(), 1.0, dt=1.0, n_steps=3)[1])(models)
    expected = 1.0 - np.exp(-np.arange(1, 4)[None, :] / np.asarray(taus)[:, None])
    np.testing.assert_allclose(np.asarray(v[..., 0]), expected, rtol=TOL * 10)
    assert jax.tree.leaves(models)[0].shape[0] == 3
