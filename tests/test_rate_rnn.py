import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm
from scipy.stats import norm

import neurotree as nt

LO = np.float32(0.2)  # the targets' low level, as stored in float32


def _linear_rnn(key=0, n_in=2, n_rec=5, n_out=1, solver=diffrax.Euler(), tau=100.0):
    model = nt.training.RateRNN(n_in, n_rec, n_out, key=jax.random.key(key), tau=tau,
                                nonlinearity=lambda x: x, solver=solver)  # fmt: skip
    # A stable, non-normal recurrent matrix and a bias, so every term of the solution matters.
    b = jax.random.normal(jax.random.key(key + 1), (n_rec,))
    return eqx.tree_at(lambda m: (m.w_rec, m.b), model, (0.8 * model.w_rec, 0.3 * b))


def _exact(model, x0, u, t):
    """x(t) for dx/dt = x M + c, M = (W_rec - I) / tau, c = (u W_in + b) / tau (row vectors)."""
    w_rec, w_in, b = (np.asarray(a, np.float64) for a in (model.w_rec, model.w_in, model.b))
    tau = np.asarray(model.tau, np.float64)
    m = (w_rec - np.eye(len(b))) / tau
    c = (np.asarray(u, np.float64) @ w_in + b) / tau
    e = expm(m * t)
    return np.asarray(x0, np.float64) @ e + c @ np.linalg.solve(m, e - np.eye(len(b)))


def test_vector_field_is_the_formula():
    tau = jnp.linspace(50.0, 150.0, 6)
    model = nt.training.RateRNN(3, 6, 2, key=jax.random.key(0), tau=tau)
    model = eqx.tree_at(lambda m: m.b, model, jnp.arange(6.0) / 10)
    x = jax.random.normal(jax.random.key(1), (4, 6))
    u = jax.random.normal(jax.random.key(2), (4, 3))
    w_rec, w_in, b = (np.asarray(a) for a in (model.w_rec, model.w_in, model.b))
    r = np.maximum(np.asarray(x), 0.0)
    expected = (-np.asarray(x) + r @ w_rec + np.asarray(u) @ w_in + b) / np.asarray(tau)
    np.testing.assert_allclose(model.vector_field(0.0, x, u), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.readout(x), r @ np.asarray(model.w_out), rtol=1e-5,
                               atol=1e-7)  # fmt: skip


def test_euler_step_is_the_papers_discrete_update():
    # Song et al. (2016): x' = (1 - alpha) x + alpha (W_rec r + W_in u + b), alpha = dt / tau.
    model = nt.training.RateRNN(2, 8, 3, key=jax.random.key(3), tau=100.0)
    x = jax.random.normal(jax.random.key(4), (8,))
    u = jnp.array([0.3, -0.7])
    state, z = model(nt.training.RateRNNState(x=x, carry=None), u, t=0.0, dt=20.0)
    alpha = 0.2
    r = np.maximum(np.asarray(x), 0.0)
    drive = r @ np.asarray(model.w_rec) + np.asarray(u) @ np.asarray(model.w_in)
    np.testing.assert_allclose(state.x, (1 - alpha) * np.asarray(x) + alpha * drive, rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(z, model.readout(state.x), rtol=1e-6)


def test_linear_rnn_step_matches_the_exponential_solution():
    model = _linear_rnn(solver=diffrax.Tsit5())
    x0 = jax.random.normal(jax.random.key(5), (5,))
    u = jnp.array([0.5, -1.0])
    state = eqx.tree_at(lambda s: s.x, model.init_state(), x0)
    for dt in (1.0, 10.0, 30.0):
        new, _ = model(state, u, t=0.0, dt=dt)
        exact = _exact(model, x0, u, dt)
        np.testing.assert_allclose(new.x, exact, rtol=0, atol=2e-5 * np.abs(exact).max())


def test_euler_error_is_second_order_per_step():
    model = _linear_rnn()
    x0 = jax.random.normal(jax.random.key(6), (5,))
    u = jnp.array([1.0, 0.2])
    state = eqx.tree_at(lambda s: s.x, model.init_state(), x0)
    errors = [np.abs(np.asarray(model(state, u, t=0.0, dt=dt)[0].x) - _exact(model, x0, u, dt))
              .max() for dt in (20.0, 10.0)]  # fmt: skip
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_simulate_and_diffeqsolve_follow_the_exponential_solution():
    model = _linear_rnn(solver=diffrax.Tsit5())  # FSAL: the carry is reused across steps
    u = jnp.array([0.5, -1.0])
    _, x = nt.simulate(model, model.init_state(), u, dt=5.0, n_steps=60,
                       monitor=lambda s, o: s.x)  # fmt: skip
    exact = _exact(model, np.zeros(5), u, 300.0)
    np.testing.assert_allclose(x[-1], exact, atol=2e-5 * np.abs(exact).max())
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(model.vector_field), diffrax.Tsit5(), 0.0, 300.0, 1.0, jnp.zeros(5), u,
        stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-7),
    )  # fmt: skip
    np.testing.assert_allclose(sol.ys[-1], exact, atol=2e-5 * np.abs(exact).max())


def test_batched_simulation_records_the_readout():
    model = nt.training.RateRNN(3, 10, 2, key=jax.random.key(7))
    u = jax.random.normal(jax.random.key(8), (25, 4, 3))
    _, (x, z) = nt.simulate(model, model.init_state((4,)), u, dt=10.0, n_steps=25,
                            monitor=lambda s, o: (s.x, o))  # fmt: skip
    assert x.shape == (25, 4, 10) and z.shape == (25, 4, 2)
    np.testing.assert_allclose(z, model.readout(x), rtol=1e-5, atol=1e-6)


def test_noise_needs_a_key():
    model = nt.training.RateRNN(1, 4, 1, key=jax.random.key(0), noise=0.1)
    with pytest.raises(ValueError, match="no key was given"):
        nt.simulate(model, model.init_state(), 0.0, dt=10.0, n_steps=5)
    with pytest.raises(ValueError, match="no key was given"):
        model(model.init_state(), 0.0, t=0.0, dt=10.0)


@pytest.mark.parametrize("solver", [diffrax.Euler(), diffrax.Heun()])
def test_noise_is_sigma_rec(solver):
    # Noise alone: x is an Ornstein-Uhlenbeck process whose stationary sd is sigma_rec. Euler's
    # discrete process x' = (1 - alpha) x + sqrt(2 alpha) sigma N (alpha = dt / tau) has variance
    # sigma^2 / (1 - alpha / 2) exactly; Heun's x' = rho x + (1 - alpha / 2) sqrt(2 alpha) sigma N,
    # rho = 1 - alpha + alpha^2 / 2, has 2 alpha sigma^2 (1 - alpha / 2)^2 / (1 - rho^2).
    sigma, tau, dt, n_rec = 0.3, 100.0, 10.0, 400
    model = nt.training.RateRNN(1, n_rec, 1, key=jax.random.key(0), tau=tau, noise=sigma,
                                solver=solver)  # fmt: skip
    model = eqx.tree_at(lambda m: m.w_rec, model, jnp.zeros((n_rec, n_rec)))
    _, x = nt.simulate(model, model.init_state(), 0.0, dt=dt, n_steps=3000,
                       monitor=lambda s, o: s.x, key=jax.random.key(1))  # fmt: skip
    alpha = dt / tau
    if isinstance(solver, diffrax.Euler):
        expected = sigma**2 / (1 - alpha / 2)
    else:
        rho = 1 - alpha + alpha**2 / 2
        expected = 2 * alpha * sigma**2 * (1 - alpha / 2) ** 2 / (1 - rho**2)
    var = float(jnp.var(x[500:]))  # after the burn-in; 400 units x ~125 independent samples
    assert var == pytest.approx(expected, rel=0.02)


def test_bad_arguments_raise():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="n_rec=0"):
        nt.training.RateRNN(1, 0, 1, key=key)
    with pytest.raises(ValueError, match="key=None"):
        nt.training.RateRNN(1, 4, 1, key=None)
    with pytest.raises(ValueError, match="tau=-1"):
        nt.training.RateRNN(1, 4, 1, key=key, tau=-1.0)
    with pytest.raises(ValueError, match="tau"):
        nt.training.RateRNN(1, 4, 1, key=key, tau=jnp.ones(3))
    with pytest.raises(ValueError, match="noise=-0.1"):
        nt.training.RateRNN(1, 4, 1, key=key, noise=-0.1)
    model = nt.training.RateRNN(2, 4, 1, key=key)
    with pytest.raises(ValueError, match=r"input u of shape \(3,\)"):
        model(model.init_state(), jnp.ones(3), t=0.0, dt=1.0)
    with pytest.raises(ValueError, match="dt"):
        model(model.init_state(), jnp.ones(2), t=0.0, dt=0.0)


# The perceptual decision task.


def test_trials_follow_the_task_structure():
    trials = nt.training.perceptual_decision(jax.random.key(0), 64, dt=20.0)
    n_fix, n_stim = 5, 40  # 100 and 800 ms; the decision epoch is 300 ms
    assert (trials.fixation_steps, trials.stimulus_steps, trials.decision_steps) == (5, 40, 15)
    assert trials.inputs.shape == trials.targets.shape == trials.mask.shape == (60, 64, 3)
    go = n_fix + n_stim
    np.testing.assert_array_equal(trials.inputs[:go, :, 0], 1.0)
    np.testing.assert_array_equal(trials.inputs[go:, :, 0], 0.0)
    np.testing.assert_array_equal(trials.inputs[:n_fix, :, 1:], 0.0)
    np.testing.assert_array_equal(trials.inputs[go:, :, 1:], 0.0)
    np.testing.assert_array_equal(trials.targets[:go, :, 0], 1.0)
    np.testing.assert_array_equal(trials.targets[go:, :, 0], LO)
    np.testing.assert_array_equal(trials.targets[:go, :, 1:], LO)
    right = np.asarray(trials.targets[go:, np.arange(64), 1 + np.asarray(trials.choice)])
    wrong = np.asarray(trials.targets[go:, np.arange(64), 2 - np.asarray(trials.choice)])
    assert np.all(right == 1.0) and np.all(wrong == LO)
    np.testing.assert_array_equal(trials.mask[:, :, 0], 1.0)
    np.testing.assert_array_equal(trials.mask[n_fix:go, :, 1:], 0.0)
    np.testing.assert_array_equal(trials.mask[:n_fix, :, 1:], 1.0)
    np.testing.assert_array_equal(trials.mask[go:, :, 1:], 1.0)
    assert np.all(np.isin(trials.coherence, np.float32([3.2, 6.4, 12.8, 25.6, 51.2])))
    np.testing.assert_array_equal(trials.choose(trials.targets), trials.choice)


@pytest.mark.parametrize("dt", [10.0, 20.0])
def test_evidence_statistics_and_the_ideal_observer(dt):
    # The stimulus-averaged evidence difference (correct minus wrong channel) is Gaussian with
    # mean c / 100 and sd 2 sigma_in sqrt(tau / T_stim), whatever dt.
    n, sigma_in, c = 20000, 0.2, 12.8
    trials = nt.training.perceptual_decision(jax.random.key(1), n, coherences=[c], dt=dt,
                                             sigma_in=sigma_in)  # fmt: skip
    stim = slice(trials.fixation_steps, trials.fixation_steps + trials.stimulus_steps)
    ev = np.asarray(trials.inputs[stim, :, 1:]).mean(0)
    choice = np.asarray(trials.choice)
    diff = ev[np.arange(n), choice] - ev[np.arange(n), 1 - choice]
    spread = 2 * sigma_in * np.sqrt(100.0 / 800.0)
    assert diff.mean() == pytest.approx(c / 100, abs=4 * spread / np.sqrt(n))
    assert diff.std() == pytest.approx(spread, rel=0.03)
    ideal = float(nt.training.ideal_accuracy(c, sigma_in=sigma_in))
    assert ideal == pytest.approx(norm.cdf(0.128 / spread), rel=1e-6)
    observed = np.mean(diff > 0)  # the ideal observer's accuracy on these very trials
    assert observed == pytest.approx(ideal, abs=4 * np.sqrt(ideal * (1 - ideal) / n))


def test_zero_coherence_choices_are_coin_flips():
    trials = nt.training.perceptual_decision(jax.random.key(2), 4000, coherences=[0.0])
    assert abs(float(np.mean(trials.choice)) - 0.5) < 4 * 0.5 / np.sqrt(4000)
    assert float(nt.training.ideal_accuracy(0.0)) == 0.5


def test_task_bad_arguments_raise():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="stimulus=810"):
        nt.training.perceptual_decision(key, 4, stimulus=810.0, dt=20.0)
    with pytest.raises(ValueError, match="coherences"):
        nt.training.perceptual_decision(key, 4, coherences=[150.0])
    with pytest.raises(ValueError, match="batch=0"):
        nt.training.perceptual_decision(key, 0)
    with pytest.raises(ValueError, match="dt=-1"):
        nt.training.perceptual_decision(key, 4, dt=-1.0)
    trials = nt.training.perceptual_decision(key, 4)
    with pytest.raises(ValueError, match="outputs of shape"):
        trials.choose(jnp.zeros((60, 4, 2)))
