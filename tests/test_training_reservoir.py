"""Reservoirs (echo state network, NVAR), ridge readouts and FORCE / RLS, against closed forms:
numpy's eigenvalues, a float64 loop of the ESN map, itertools for the NVAR monomials,
scikit-learn's Ridge, and the exact equality of RLS from P0 = I / alpha with ridge(alpha)."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge

import neurotree as nt

T = nt.training


def _esn(**kw):
    kw = dict(key=jax.random.key(0)) | kw
    return T.EchoStateNetwork(kw.pop("n_in", 3), kw.pop("n_res", 50), **kw)


# ---------------------------------------------------------------- echo state network


def test_esn_construction_spectral_radius_connectivity_and_scaling():
    scaling = np.array([0.1, 1.0, 2.0])
    esn = _esn(n_res=200, spectral_radius=0.8, connectivity=0.2, input_scaling=scaling)
    W = np.asarray(esn.W, np.float64)
    assert np.max(np.abs(np.linalg.eigvals(W))) == pytest.approx(0.8, rel=1e-5)
    # 40,000 Bernoulli(0.2) entries: the fraction is within 5 standard deviations of 0.2.
    assert abs(np.mean(W != 0) - 0.2) < 5 * math.sqrt(0.2 * 0.8 / W.size)
    W_in = np.asarray(esn.W_in)
    for i, scale in enumerate(scaling):
        assert np.abs(W_in[i]).max() <= scale and np.abs(W_in[i]).max() > 0.9 * scale
    assert np.all(np.asarray(esn.b) == 0) and esn.W_out is None and esn.n_out is None


def test_esn_is_seeded():
    a, b, c = _esn(), _esn(), _esn(key=jax.random.key(1))
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.W_in, b.W_in)
    assert not np.array_equal(a.W, c.W)


def test_esn_step_matches_a_float64_loop():
    esn = _esn(n_res=30, leak=0.4, bias_scaling=0.5, input_scaling=0.7, connectivity=0.3)
    W_out = np.random.default_rng(0).normal(size=(30, 2))
    b_out = np.array([0.5, -1.0])
    model = esn.with_readout(W_out, b_out)
    u = np.random.default_rng(1).normal(size=(40, 3))
    _, y = nt.simulate(model, model.init_state(), jnp.asarray(u, jnp.float32), dt=1.0, n_steps=40)
    _, states = nt.simulate(esn, esn.init_state(), jnp.asarray(u, jnp.float32), dt=1.0,
                            n_steps=40)  # fmt: skip
    W_in, W, b = (np.asarray(p, np.float64) for p in (esn.W_in, esn.W, esn.b))
    x = np.zeros(30)
    expected_x, expected_y = [], []
    for n in range(40):
        x = 0.6 * x + 0.4 * np.tanh(u[n] @ W_in + x @ W + b)
        expected_x.append(x)
        expected_y.append(x @ W_out + b_out)
    np.testing.assert_allclose(states, np.array(expected_x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, np.array(expected_y), rtol=1e-5, atol=1e-5)


def test_esn_batch_axes_match_single_runs():
    esn = _esn(n_res=20)
    u = jax.random.normal(jax.random.key(2), (25, 4, 3))
    _, batched = nt.simulate(esn, esn.init_state((4,)), u, dt=1.0, n_steps=25)
    for i in range(4):
        _, single = nt.simulate(esn, esn.init_state(), u[:, i], dt=1.0, n_steps=25)
        np.testing.assert_allclose(batched[:, i], single, rtol=1e-6, atol=1e-7)


def test_esn_echo_state_property():
    # With spectral radius < 1 the state forgets where it started: two runs from different
    # states under the same input converge (Jaeger 2001).
    esn = _esn(n_res=100, spectral_radius=0.9, input_scaling=0.5)
    u = jax.random.normal(jax.random.key(3), (300, 3))
    x0 = nt.training.ESNState(x=jax.random.uniform(jax.random.key(4), (100,), minval=-1.0))
    _, a = nt.simulate(esn, esn.init_state(), u, dt=1.0, n_steps=300)
    _, b = nt.simulate(esn, x0, u, dt=1.0, n_steps=300)
    gap = np.abs(np.asarray(a - b)).max(axis=1)
    assert gap[0] > 0.1 and gap[-1] < 1e-4 * gap[0]


def test_esn_gradients_reach_reservoir_and_readout():
    esn = _esn(n_res=20, n_out=2)  # a zero readout: no gradient reaches the reservoir yet
    esn = esn.with_readout(jax.random.normal(jax.random.key(9), (20, 2)), jnp.zeros(2))
    u = jax.random.normal(jax.random.key(5), (30, 3))
    target = jnp.ones((30, 2))

    def loss(model):
        _, y = nt.simulate(model, model.init_state(), u, dt=1.0, n_steps=30)
        return jnp.mean((y - target) ** 2)

    grads = eqx.filter_grad(loss)(esn)
    for name in ["W_in", "W", "b", "W_out", "b_out"]:
        g = np.asarray(getattr(grads, name))
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0, name
    # Directional derivative along W_in against a central difference.
    v = jax.random.normal(jax.random.key(6), esn.W_in.shape)
    eps = 1e-2
    plus = loss(eqx.tree_at(lambda m: m.W_in, esn, esn.W_in + eps * v))
    minus = loss(eqx.tree_at(lambda m: m.W_in, esn, esn.W_in - eps * v))
    assert float(jnp.sum(grads.W_in * v)) == pytest.approx(float(plus - minus) / (2 * eps),
                                                          rel=1e-2)  # fmt: skip


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n_res=0), "n_res"),
        (dict(leak=0.0), "leak"),
        (dict(leak=1.5), "leak"),
        (dict(spectral_radius=-1.0), "spectral_radius"),
        (dict(connectivity=0.0), "connectivity"),
        (dict(input_connectivity=2.0), "input_connectivity"),
        (dict(input_scaling=np.array([1.0, 2.0])), "input_scaling"),
        (dict(bias_scaling=-0.1), "bias_scaling"),
        (dict(key=None), "key"),
    ],
)
def test_esn_bad_construction(kw, match):
    with pytest.raises(ValueError, match=match):
        _esn(**kw)


def test_esn_bad_input_and_readout_shapes():
    esn = _esn(n_res=10)
    with pytest.raises(ValueError, match="input u of shape"):
        esn(esn.init_state(), jnp.ones(4), t=0.0, dt=1.0)
    with pytest.raises(ValueError, match="W_out of shape"):
        esn.with_readout(jnp.ones((9, 2)))
    with pytest.raises(ValueError, match="b_out of shape"):
        esn.with_readout(jnp.ones((10, 2)), jnp.ones(3))


# ---------------------------------------------------------------- NVAR


@pytest.mark.parametrize("n_in, k, s, p, constant", [(2, 3, 2, 3, True), (3, 2, 1, 2, False)])
def test_nvar_features_against_itertools(n_in, k, s, p, constant):
    nvar = T.NVAR(n_in, delays=k, stride=s, order=p, constant=constant)
    d = k * n_in
    count = int(constant) + d + sum(math.comb(d + q - 1, q) for q in range(2, p + 1))
    assert nvar.n_features == count
    n_steps = 12
    u = np.random.default_rng(0).normal(size=(n_steps, n_in)).astype(np.float32)
    _, feats = nt.simulate(nvar, nvar.init_state(), jnp.asarray(u), dt=1.0, n_steps=n_steps)
    assert feats.shape == (n_steps, count)
    padded = np.concatenate([np.zeros(((k - 1) * s, n_in), np.float32), u])  # zeros at rest
    for n in range(n_steps):
        m = n + (k - 1) * s
        linear = np.concatenate([padded[m - j * s] for j in range(k)]).astype(np.float64)
        expected = [1.0] if constant else []
        expected += list(linear)
        for q in range(2, p + 1):
            expected += [np.prod(linear[list(c)]) for c in
                         itertools.combinations_with_replacement(range(d), q)]  # fmt: skip
        np.testing.assert_allclose(feats[n], expected, rtol=1e-6, atol=1e-7)


def test_nvar_gauthier_lorenz_feature_count_and_batch():
    nvar = T.NVAR(3, delays=2, stride=1, order=2)
    assert nvar.n_features == 28  # Gauthier et al. 2021, Lorenz63 forecaster
    u = jax.random.normal(jax.random.key(0), (6, 5, 3))
    _, batched = nt.simulate(nvar, nvar.init_state((5,)), u, dt=1.0, n_steps=6)
    _, single = nt.simulate(nvar, nvar.init_state(), u[:, 2], dt=1.0, n_steps=6)
    np.testing.assert_array_equal(batched[:, 2], single)


@pytest.mark.parametrize(
    "args, kw, match",
    [((0,), {}, "n_in"), ((3, 0), {}, "delays"), ((3, 2, 0), {}, "stride"),
     ((3, 2, 1, 0), {}, "order")],
)  # fmt: skip
def test_nvar_bad_arguments(args, kw, match):
    with pytest.raises(ValueError, match=match):
        T.NVAR(*args, **kw)


def test_nvar_ridge_forecasts_lorenz():
    # Gauthier et al.'s NG-RC for Lorenz63: k = 2, s = 1, p = 2 features of samples 0.025
    # apart, a ridge readout of the increment u[n+1] - u[n]. On held-out data the one-step
    # forecast's normalised RMS error is ~1e-4 (measured 1.3e-4), against ~3e-2 for the same
    # readout of the linear features alone (order=1) and 0.2 for persistence.
    import diffrax

    def lorenz(t, y, args):
        x, v, z = y
        return jnp.stack([10 * (v - x), x * (28 - z) - v, x * v - 8 / 3 * z])

    ts = jnp.arange(3000) * 0.025
    sol = diffrax.diffeqsolve(diffrax.ODETerm(lorenz), diffrax.Tsit5(), 0.0, ts[-1], 0.0025,
                              jnp.array([1.0, 1.0, 1.0]), saveat=diffrax.SaveAt(ts=ts),
                              stepsize_controller=diffrax.ConstantStepSize(),
                              max_steps=40_000)  # fmt: skip
    data = sol.ys[200:]  # on the attractor
    true = data[2:][2000:]
    scale = np.mean(np.var(np.asarray(true), axis=0))
    nrmse = {}
    for order in [1, 2]:
        nvar = T.NVAR(3, delays=2, stride=1, order=order)
        _, feats = nt.simulate(nvar, nvar.init_state(), data[:-1], dt=1.0,
                               n_steps=len(data) - 1)  # fmt: skip
        feats, inc = feats[1:], (data[2:] - data[1:-1])  # drop the warm-up sample
        W, _ = T.ridge(feats[:2000], inc[:2000], alpha=2.5e-6, bias=False)
        pred = data[1:-1][2000:] + feats[2000:] @ W
        nrmse[order] = np.sqrt(np.mean((pred - true) ** 2) / scale)
    assert nrmse[2] < 1e-3 and nrmse[1] > 1e-2


# ---------------------------------------------------------------- ridge


def _regression(n_samples=400, n=8, m=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, n)) * rng.uniform(0.5, 3.0, size=n) + rng.normal(size=n)
    y = x @ rng.normal(size=(n, m)) + rng.normal(size=m) * 5 + 0.3 * rng.normal(size=(n_samples, m))
    return x.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize("alpha", [1e-3, 1.0, 100.0])
@pytest.mark.parametrize("bias", [True, False])
def test_ridge_matches_scikit_learn(alpha, bias):
    x, y = _regression()
    W, b = T.ridge(x, y, alpha=alpha, bias=bias)
    ref = Ridge(alpha=alpha, fit_intercept=bias, solver="svd").fit(x.astype(np.float64), y)
    np.testing.assert_allclose(W, ref.coef_.T, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b, ref.intercept_ if bias else np.zeros(3), rtol=1e-4, atol=1e-4)


def test_ridge_flattens_time_and_batch():
    x, y = _regression(n_samples=240)
    W, b = T.ridge(x.reshape(60, 2, 2, 8), y.reshape(60, 2, 2, 3), alpha=0.5)
    W_flat, b_flat = T.ridge(x, y, alpha=0.5)
    np.testing.assert_allclose(W, W_flat, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, b_flat, rtol=1e-5, atol=1e-6)


def test_ridge_is_stable_for_nearly_collinear_states():
    # cond(X) ~ 1e4: the float32 normal equations (cond ~ 1e8) lose every digit; the SVD route
    # keeps the fit's predictions within float32 rounding of the float64 solution.
    rng = np.random.default_rng(1)
    base = rng.normal(size=(2000, 3))
    x = np.concatenate([base, base @ rng.normal(size=(3, 5)) + 1e-4 * rng.normal(size=(2000, 5))],
                       axis=1)  # fmt: skip
    y = np.sin(x[:, :1]) + x[:, 3:4]
    alpha = 1e-6
    ref = Ridge(alpha=alpha, solver="svd").fit(x, y)
    W, b = T.ridge(x.astype(np.float32), y.astype(np.float32), alpha=alpha)
    pred = x @ np.asarray(W, np.float64) + np.asarray(b, np.float64)
    resid_ref = np.sqrt(np.mean((ref.predict(x) - y) ** 2))
    resid = np.sqrt(np.mean((pred - y) ** 2))
    assert resid < resid_ref * 1.01 + 1e-5


@pytest.mark.parametrize(
    "x_shape, y_shape, alpha, match",
    [((10,), (10, 1), 1.0, "states of shape"), ((10, 2), (9, 1), 1.0, "do not pair up"),
     ((10, 2), (10, 1), 0.0, "alpha"), ((10, 2), (10, 1), -1.0, "alpha")],
)  # fmt: skip
def test_ridge_bad_input(x_shape, y_shape, alpha, match):
    with pytest.raises(ValueError, match=match):
        T.ridge(jnp.ones(x_shape), jnp.ones(y_shape), alpha=alpha)


# ---------------------------------------------------------------- RLS and FORCE


def test_rls_from_identity_over_alpha_equals_ridge():
    # RLS minimises sum_i |r_i W - f_i|^2 + (W - W0)^T P0^-1 (W - W0); with W0 = 0 and
    # P0 = I / alpha that is ridge(alpha) without a separate bias, exactly (Haykin 2002, 9.4).
    x, y = _regression(n_samples=300, n=6, m=2)
    x = x / 3
    for alpha in [1e-2, 1.0, 30.0]:
        rls = T.rls_init(6, 2, alpha=alpha)

        def step(state, xy):
            r, f = xy
            return T.rls_update(state, r, r @ state.W - f), None

        rls, _ = jax.lax.scan(step, rls, (jnp.asarray(x), jnp.asarray(y)))
        W, _ = T.ridge(x, y, alpha=alpha, bias=False)
        np.testing.assert_allclose(rls.W, W, rtol=2e-4, atol=2e-4)
        expected_P = np.linalg.inv(x.astype(np.float64).T @ x + alpha * np.eye(6))
        np.testing.assert_allclose(rls.P, expected_P, rtol=1e-3, atol=1e-6)


def test_rls_converges_to_least_squares():
    x, y = _regression(n_samples=3000, n=4, m=1, seed=3)

    def step(state, xy):
        r, f = xy
        return T.rls_update(state, r, r @ state.W - f), None

    rls, _ = jax.lax.scan(step, T.rls_init(4, 1, alpha=1e-3), (jnp.asarray(x), jnp.asarray(y)))
    lstsq = np.linalg.lstsq(x.astype(np.float64), y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(rls.W, lstsq, rtol=1e-3, atol=1e-3)


def test_force_on_an_esn_equals_ridge_on_its_states():
    esn = _esn(n_res=40, input_scaling=0.5)
    u = jax.random.normal(jax.random.key(7), (600, 3))
    target = jnp.stack([jnp.sin(jnp.cumsum(u[:, 0]) / 10), u[:, 1] ** 2], axis=1)
    result = T.force(esn, u, target, alpha=0.1, dt=1.0, washout=50)
    _, states = nt.simulate(esn, esn.init_state(), u, dt=1.0, n_steps=600)
    feats = jnp.concatenate([states, jnp.ones((600, 1))], axis=1)[50:]
    W, _ = T.ridge(feats, target[50:], alpha=0.1, bias=False)
    np.testing.assert_allclose(result.W, W[:-1], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(result.b, W[-1], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(result.state.x, states[-1], rtol=1e-6)
    assert np.all(result.outputs[:50] == 0)  # no learning during the washout


def test_force_with_feedback_learns_a_sine_wave_online():
    # Sussillo & Abbott's setting: no input, the readout fed back into the reservoir; the
    # online error is small while learning, and the driver's wiring is checked by replaying
    # the fed-back signal: the final W is ridge on the states that signal produced.
    esn = T.EchoStateNetwork(1, 100, key=jax.random.key(8), spectral_radius=1.2, leak=0.5,
                             connectivity=0.1, input_scaling=1.0)  # fmt: skip
    n_steps = 2000
    f = jnp.sin(2 * jnp.pi * jnp.arange(n_steps) / 60.0)[:, None]
    result = T.force(esn, None, f, alpha=1.0, dt=1.0, feedback=True)
    late = np.asarray(result.outputs[-1000:] - f[-1000:])
    assert np.sqrt(np.mean(late**2)) < 0.05 * np.sqrt(0.5)  # 5 % of the target's RMS
    fed_back = jnp.concatenate([jnp.zeros((1, 1)), result.outputs[:-1]])
    _, states = nt.simulate(esn, esn.init_state(), fed_back, dt=1.0, n_steps=n_steps)
    feats = jnp.concatenate([states, jnp.ones((n_steps, 1))], axis=1)
    W, _ = T.ridge(feats, f, alpha=1.0, bias=False)
    pred = feats @ jnp.concatenate([result.W, result.b[None]])
    np.testing.assert_allclose(pred, feats @ W, atol=2e-3)


@pytest.mark.parametrize(
    "inputs, targets, kw, match",
    [(jnp.ones((10, 3)), jnp.ones(10), {}, "targets of shape"),
     (jnp.ones((9, 3)), jnp.ones((10, 1)), {}, "inputs of shape"),
     (None, jnp.ones((10, 1)), {}, "feedback=True"),
     (jnp.ones((10, 3)), jnp.ones((10, 1)), dict(washout=10), "washout"),
     (jnp.ones((10, 3)), jnp.ones((10, 1)), dict(alpha=0.0), "alpha"),
     (jnp.ones((10, 3)), jnp.ones((10, 1)), dict(dt=0.0), "dt")],
)  # fmt: skip
def test_force_bad_input(inputs, targets, kw, match):
    kw = dict(alpha=1.0, dt=1.0) | kw
    with pytest.raises(ValueError, match=match):
        T.force(_esn(n_res=10), inputs, targets, **kw)


def test_force_rejects_batched_features():
    esn = _esn(n_res=10)
    with pytest.raises(ValueError, match="expected a vector"):
        T.force(esn, jnp.ones((10, 3)), jnp.ones((10, 1)), alpha=1.0, dt=1.0,
                state=esn.init_state((2,)))  # fmt: skip


def test_rls_update_shape_errors():
    rls = T.rls_init(4, 2, alpha=1.0)
    with pytest.raises(ValueError, match="expected \\(4,\\) and \\(2,\\)"):
        T.rls_update(rls, jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match="alpha"):
        T.rls_init(4, 2, alpha=-1.0)
