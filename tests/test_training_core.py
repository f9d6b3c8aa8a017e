"""nt.training's core: encoders, readouts, losses, fit and checkpoints."""

import os
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jaxtyping import Array, Float

import neurotree as nt

T = nt.training


# ---------------------------------------------------------------- encoders


def test_poisson_counts_match_the_rate_within_binomial_tolerance():
    rates = jnp.array([[0.0, 5.0, 50.0, 200.0, 1000.0], [10.0, 20.0, 100.0, 400.0, 800.0]])
    dt, n = 1.0, 4000
    s = T.poisson_encode(jax.random.key(0), rates, n_steps=n, dt=dt)
    assert s.shape == (n, 2, 5) and jnp.issubdtype(s.dtype, jnp.floating)
    assert set(np.unique(np.asarray(s))) <= {0.0, 1.0}
    p = np.asarray(rates) * dt / 1000.0
    counts = np.asarray(s.sum(0))
    sd = np.sqrt(n * p * (1 - p))
    # Binomial(n, p) counts: within 5 standard deviations (p = 0 and p = 1 exactly).
    assert np.all(np.abs(counts - n * p) <= 5 * sd + 1e-9)
    assert counts[0, 0] == 0 and counts[0, 4] == n


def test_poisson_variance_is_binomial():
    # 2000 independent trains of p = 0.3 over 100 steps: counts ~ Binomial(100, 0.3).
    s = T.poisson_encode(jax.random.key(1), jnp.full(2000, 300.0), n_steps=100, dt=1.0)
    counts = np.asarray(s.sum(0))
    mean, var = 30.0, 100 * 0.3 * 0.7
    assert abs(counts.mean() - mean) < 5 * np.sqrt(var / 2000)
    assert abs(counts.var(ddof=1) - var) < 5 * var * np.sqrt(2 / 1999)


def test_bernoulli_counts_and_key():
    p = jnp.linspace(0.0, 1.0, 11)
    s = T.bernoulli_encode(jax.random.key(2), p, n_steps=3000)
    assert s.shape == (3000, 11)
    counts, pn = np.asarray(s.sum(0)), np.asarray(p)
    assert np.all(np.abs(counts - 3000 * pn) <= 5 * np.sqrt(3000 * pn * (1 - pn)) + 1e-9)
    again = T.bernoulli_encode(jax.random.key(2), p, n_steps=3000)
    other = T.bernoulli_encode(jax.random.key(3), p, n_steps=3000)
    np.testing.assert_array_equal(np.asarray(s), np.asarray(again))
    assert not np.array_equal(np.asarray(s), np.asarray(other))


def test_encoders_under_jit():
    f = jax.jit(lambda k, r: T.poisson_encode(k, r, n_steps=20, dt=0.5))
    assert f(jax.random.key(0), jnp.full(3, 100.0)).shape == (20, 3)
    g = jax.jit(lambda x: T.latency_encode(x, n_steps=10))
    assert g(jnp.array([0.5, 1.0])).sum() == 2


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: T.poisson_encode(jax.random.key(0), 2000.0, n_steps=5, dt=1.0), "above 1"),
        (lambda: T.poisson_encode(jax.random.key(0), -1.0, n_steps=5, dt=1.0), "rates_hz"),
        (lambda: T.poisson_encode(jax.random.key(0), jnp.nan, n_steps=5, dt=1.0), "rates_hz"),
        (lambda: T.poisson_encode(jax.random.key(0), 10.0, n_steps=0, dt=1.0), "n_steps"),
        (lambda: T.poisson_encode(jax.random.key(0), 10.0, n_steps=5, dt=0.0), "dt"),
        (lambda: T.bernoulli_encode(jax.random.key(0), 1.2, n_steps=5), r"\[0, 1\]"),
        (lambda: T.bernoulli_encode(jax.random.key(0), -0.1, n_steps=5), r"\[0, 1\]"),
        (lambda: T.latency_encode(jnp.array([-1.0]), n_steps=5), "x"),
        (lambda: T.latency_encode(1.0, n_steps=5, tau=0.0), "tau"),
        (lambda: T.latency_encode(1.0, n_steps=5, threshold=-0.1), "threshold"),
        (lambda: T.latency_encode(1.0, n_steps=-2), "n_steps"),
    ],
)
def test_encoders_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_latency_times_follow_the_rc_formula():
    tau, thr, dt, n = 20.0, 0.1, 0.5, 60
    x = np.linspace(0.0, 1.0, 200).reshape(2, 100)
    s = np.asarray(T.latency_encode(jnp.asarray(x), n_steps=n, tau=tau, threshold=thr, dt=dt))
    assert s.shape == (n, 2, 100)
    t_star = np.full(x.shape, np.inf)
    above = x > thr
    t_star[above] = tau * np.log(x[above] / (x[above] - thr))  # float64 reference
    step = np.floor(t_star / dt + 0.5)
    fires = above & (step < n)
    counts = s.sum(0)
    np.testing.assert_array_equal(counts, fires.astype(float))
    # Away from rounding ties (float32 vs float64), the spike is exactly in step round(t*/dt).
    frac = np.where(fires, t_star / dt + 0.5, 0.0) % 1.0
    clear = fires & (np.minimum(frac, 1 - frac) > 1e-3)
    assert clear.sum() > 100
    np.testing.assert_array_equal(s.argmax(0)[clear], step[clear])
    # Brighter inputs never spike later.
    times = np.where(fires, s.argmax(0), n).reshape(-1)
    assert np.all(np.diff(times) <= 0)


def test_latency_threshold_and_window_edges():
    tau, thr, dt, n = 5.0, 0.2, 1.0, 12
    x_min = thr / (1 - np.exp(-(n - 0.5) * dt / tau))  # t*(x_min) = (n - 1/2) dt
    x = jnp.array([0.0, thr, thr * 0.999, x_min * 0.999, x_min * 1.001, 1.0, 100.0])
    s = np.asarray(T.latency_encode(x, n_steps=n, tau=tau, threshold=thr, dt=dt))
    np.testing.assert_array_equal(s.sum(0), [0, 0, 0, 0, 1, 1, 1])
    assert s[n - 1, 4] == 1  # just inside the window: the last step
    assert s[0, 6] == 1  # t* = 5 ln(100 / 99.8) = 0.01 ms: the first step


# ---------------------------------------------------------------- readouts


def test_readouts_match_numpy():
    v = np.random.default_rng(0).normal(size=(7, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(T.mean_readout(v)), v.mean(0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(T.mean_readout(v, start=3)), v[3:].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(T.max_readout(v)), v.max(0))
    np.testing.assert_array_equal(np.asarray(T.max_readout(v, start=5)), v[5:].max(0))
    np.testing.assert_array_equal(np.asarray(T.last_readout(v)), v[-1])
    np.testing.assert_array_equal(np.asarray(T.mean_readout(v, start=6)), v[6])


def test_max_readout_gradient_reaches_the_argmax_time():
    v = jnp.asarray(np.random.default_rng(1).normal(size=(6, 5)))
    g = np.asarray(jax.grad(lambda v: T.max_readout(v).sum())(v))
    expected = np.zeros((6, 5))
    expected[np.asarray(v).argmax(0), np.arange(5)] = 1.0
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda v: T.mean_readout(v, start=4), r"start=4"),
        (lambda v: T.max_readout(v, start=-1), r"start=-1"),
        (lambda v: T.last_readout(jnp.zeros((0, 3))), "time axis"),
        (lambda v: T.mean_readout(jnp.float32(1.0)), "time axis"),
    ],
)
def test_readouts_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.zeros((4, 2)))


# ---------------------------------------------------------------- losses


def test_cross_entropy_and_accuracy_match_numpy():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(9, 5)) * 3
    labels = rng.integers(0, 5, size=9)
    shifted = logits - logits.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -log_softmax[np.arange(9), labels].mean()
    got = T.cross_entropy(jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    acc = T.accuracy(jnp.asarray(logits), jnp.asarray(labels))
    assert float(acc) == pytest.approx(np.mean(logits.argmax(1) == labels))
    # Batch axes beyond one: the mean over all of them.
    both = T.cross_entropy(jnp.asarray(logits.reshape(3, 3, 5)), jnp.asarray(labels.reshape(3, 3)))
    np.testing.assert_allclose(float(both), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "logits,labels,match",
    [
        (jnp.zeros((4, 3)), jnp.zeros(4), "integer"),
        (jnp.zeros((4, 3)), jnp.array([0, 1, 3, 0]), r"outside \[0, 3\)"),
        (jnp.zeros((4, 3)), jnp.array([0, 1, -1, 0]), r"outside \[0, 3\)"),
        (jnp.zeros((4, 3)), jnp.zeros(5, int), "shape"),
    ],
)
def test_losses_reject_bad_labels(logits, labels, match):
    for fn in (T.cross_entropy, T.accuracy):
        with pytest.raises(ValueError, match=match):
            fn(logits, labels)


def _spikes_with_counts(counts, n_steps):
    """A (n_steps, *counts.shape) 0/1 record whose column sums are `counts`."""
    t = np.arange(n_steps).reshape((n_steps,) + (1,) * counts.ndim)
    return jnp.asarray((t < counts).astype(np.float32))


def test_rate_regularizer_on_known_counts():
    counts = np.array([[1, 2, 3], [3, 4, 5]])  # (batch 2, neurons 3), over 100 steps of 1 ms
    s = _spikes_with_counts(counts, 100)
    # Rates averaged over the batch: 2, 3, 4 spikes in 0.1 s = 20, 30, 40 Hz.
    pop = T.rate_regularizer(s, dt=1.0, target_hz=25.0)
    per = T.rate_regularizer(s, dt=1.0, target_hz=25.0, per_neuron=True)
    assert float(pop) == pytest.approx((30.0 - 25.0) ** 2, rel=1e-5)
    assert float(per) == pytest.approx((25.0 + 25.0 + 225.0) / 3, rel=1e-5)
    assert float(T.rate_regularizer(s, dt=0.5, target_hz=60.0)) == pytest.approx(0.0, abs=1e-6)


def test_spike_count_regularizer_on_known_counts():
    s = _spikes_with_counts(np.array([[1, 2, 3], [3, 4, 5]]), 10)
    # relu(2 - c)^2 = 1 at c = 1; relu(c - 4)^2 = 1 at c = 5; means over the 6 (b, i).
    assert float(T.spike_count_regularizer(s, low=2.0)) == pytest.approx(1 / 6)
    assert float(T.spike_count_regularizer(s, high=4.0)) == pytest.approx(1 / 6)
    assert float(T.spike_count_regularizer(s, low=2.0, high=4.0)) == pytest.approx(2 / 6)
    assert float(T.spike_count_regularizer(s, low=0.0, high=6.0)) == 0.0


def test_count_regularizer_gradient_raises_silent_neurons():
    # Below `low`, the penalty's gradient through the surrogate pushes the drive up.
    def loss(current):
        m = nt.neurons.LIF(3, tau_ref=2.0)
        _, s = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=500)
        return T.spike_count_regularizer(s, low=20.0)

    current = jnp.array([15.0, 22.0, 30.0])
    g = np.asarray(jax.grad(loss)(current))
    assert np.all(np.isfinite(g)) and np.all(g < 0)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda s: T.spike_count_regularizer(s), "low=None, high=None"),
        (lambda s: T.spike_count_regularizer(s, low=3.0, high=1.0), "low must not exceed"),
        (lambda s: T.spike_count_regularizer(s, low=-1.0), "low"),
        (lambda s: T.rate_regularizer(s, dt=0.0, target_hz=1.0), "dt"),
        (lambda s: T.rate_regularizer(s, dt=1.0, target_hz=-1.0), "target_hz"),
        (lambda s: T.rate_regularizer(s[0, 0], dt=1.0, target_hz=1.0), "shape"),
    ],
)
def test_regularizers_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.zeros((5, 2, 3)))


# ---------------------------------------------------------------- fit


class Affine(eqx.Module):
    w: Float[Array, " d"]
    b: Float[Array, ""]

    def __call__(self, x):
        return x @ self.w + self.b


def mse(model, batch, key):
    x, y = batch
    return jnp.mean(jnp.square(jax.vmap(model)(x) - y))


def regression(n, noise, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5]) + 0.7 + noise * rng.normal(size=n)).astype(np.float32)
    return x, y


def test_fit_full_batch_reaches_the_least_squares_solution():
    x, y = regression(64, noise=0.3)
    design = np.concatenate([x, np.ones((64, 1))], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, y.astype(np.float64), rcond=None)
    model = Affine(jnp.zeros(3), jnp.zeros(()))
    model, _, history = T.fit(
        mse, model, optax.sgd(0.2), (x, y), epochs=300, batch_size=64,
        key=jax.random.key(0), progress=False,
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(model.w), coef[:3], atol=1e-5)
    np.testing.assert_allclose(float(model.b), coef[3], atol=1e-5)
    residual = np.mean((design @ coef - y) ** 2)
    np.testing.assert_allclose(history["loss"][-1], residual, rtol=1e-4)
    assert history["loss"].shape == (300,) and np.all(np.diff(history["loss"]) <= 1e-7)


def test_fit_minibatches_with_a_partial_batch_interpolate_exactly():
    # Noise-free targets: every minibatch (the last one of 2 samples too) has its minimum at the
    # true coefficients, so minibatch SGD converges to them.
    x, y = regression(50, noise=0.0, seed=1)
    model, _, history = T.fit(
        mse, Affine(jnp.zeros(3), jnp.zeros(())), optax.sgd(0.1), (x, y), epochs=150,
        batch_size=16, key=jax.random.key(1), progress=False,
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(model.w), [1.5, -2.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(float(model.b), 0.7, atol=1e-4)
    assert history["loss"][-1] < 1e-8


def test_fit_counts_every_sample_once_and_keeps_the_partial_batch():
    x = jnp.arange(10.0)

    def loss(model, batch, key):
        # A loss with a gradient whose value is the batch mean of x, and the batch size as aux.
        return jnp.mean(batch) + 0.0 * model.w.sum(), {"size": jnp.float32(batch.shape[0])}

    model = Affine(jnp.zeros(3), jnp.zeros(()))
    seen = []

    def eval_fn(model, data):
        seen.append(data)
        return {"w_sum": model.w.sum(), "data": data}

    _, _, history = T.fit(
        loss, model, optax.sgd(0.1), x, epochs=3, batch_size=4, key=jax.random.key(0),
        has_aux=True, eval_fn=eval_fn, eval_data=7.0, progress=False,
    )  # fmt: skip
    assert set(history) == {"loss", "size", "eval_w_sum", "eval_data", "time"}
    assert all(v.shape == (3,) for v in history.values())
    # Each epoch's mean loss is the mean of all 10 samples: batches of 4, 4 and 2 (sizes
    # weighted: (4*4 + 4*4 + 2*2) / 10 = 3.6).
    np.testing.assert_allclose(history["loss"], 4.5, rtol=1e-6)
    np.testing.assert_allclose(history["size"], 3.6, rtol=1e-6)
    np.testing.assert_array_equal(history["eval_data"], 7.0)
    assert seen == [7.0, 7.0, 7.0] and np.all(history["time"] > 0)


def test_fit_shuffles_with_the_key_and_is_reproducible():
    x, y = regression(30, noise=0.5, seed=2)
    run = lambda k: T.fit(  # noqa: E731
        mse, Affine(jnp.zeros(3), jnp.zeros(())), optax.sgd(0.05), (x, y), epochs=2,
        batch_size=7, key=jax.random.key(k), progress=False,
    )[0]  # fmt: skip
    a, b, c = run(0), run(0), run(1)
    assert bool(eqx.tree_equal(a, b))
    assert not np.allclose(np.asarray(a.w), np.asarray(c.w), rtol=1e-6, atol=0)


def test_fit_passes_fresh_step_keys():
    def loss(model, batch, key):
        return 0.0 * model.b, {"u": jax.random.uniform(key)}

    model = Affine(jnp.zeros(3), jnp.zeros(()))
    _, _, history = T.fit(
        loss, model, optax.sgd(0.1), jnp.zeros((4, 1)), epochs=4, batch_size=4,
        key=jax.random.key(3), has_aux=True, progress=False,
    )  # fmt: skip
    assert len(set(np.round(history["u"], 7))) == 4


def test_fit_trainable_filter_freezes_the_rest():
    x, y = regression(40, noise=0.1, seed=3)
    model = Affine(jnp.zeros(3), jnp.asarray(5.0))
    only_w = eqx.tree_at(lambda m: (m.w, m.b), jax.tree.map(lambda _: False, model), (True, False))
    trained, opt_state, _ = T.fit(
        mse, model, optax.adam(0.05), (x, y), epochs=5, batch_size=8, key=jax.random.key(0),
        trainable=only_w, progress=False,
    )  # fmt: skip
    assert float(trained.b) == 5.0 and not np.allclose(np.asarray(trained.w), 0.0)
    mu = opt_state[0].mu
    assert mu.b is None and mu.w.shape == (3,)


def test_fit_resumes_from_opt_state():
    # Full batches: the shuffle does not change the gradient, so 3 + 3 epochs with the Adam
    # state carried over equal 6 epochs in one call (up to summation order).
    x, y = regression(32, noise=0.2, seed=4)
    model, opt = Affine(jnp.zeros(3), jnp.zeros(())), optax.adam(0.1)
    kw = dict(batch_size=32, key=jax.random.key(0), progress=False)
    six, state6, _ = T.fit(mse, model, opt, (x, y), epochs=6, **kw)
    three, state3, _ = T.fit(mse, model, opt, (x, y), epochs=3, **kw)
    resumed, state_r, _ = T.fit(mse, three, opt, (x, y), epochs=3, opt_state=state3, **kw)
    np.testing.assert_allclose(np.asarray(resumed.w), np.asarray(six.w), rtol=1e-5, atol=1e-6)
    assert int(state_r[0].count) == int(state6[0].count) == 6


def test_fit_progress_bar_and_missing_tqdm(monkeypatch, capsys):
    x, y = regression(8, noise=0.0)
    model = Affine(jnp.zeros(3), jnp.zeros(()))
    T.fit(mse, model, optax.sgd(0.1), (x, y), epochs=2, batch_size=4, key=jax.random.key(0))
    assert "fit" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="tqdm"):
        T.fit(mse, model, optax.sgd(0.1), (x, y), epochs=1, batch_size=4, key=jax.random.key(0))
    T.fit(mse, model, optax.sgd(0.1), (x, y), epochs=1, batch_size=4, key=jax.random.key(0),
          progress=False)  # fmt: skip


def _scalar_loss(model, batch, key):
    return jnp.mean(batch) * model.b


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(data=(jnp.zeros(4), jnp.zeros(5))), "same non-zero number"),
        (dict(data=jnp.zeros(())), "leading sample axis"),
        (dict(eval_data=jnp.zeros(3)), "eval_fn"),
        (dict(has_aux=True), "has_aux=True"),
        (dict(loss_fn=lambda m, b, k: (m.b * 0, {"a": 1.0})), "has_aux=True if"),
        (dict(loss_fn=lambda m, b, k: m.w * b.mean()), r"shape \(3,\)"),
        (dict(loss_fn=lambda m, b, k: (m.b, {"loss": 1.0}), has_aux=True), "clash"),
        (dict(trainable=lambda x: False), "no trainable"),
    ],
)
def test_fit_rejects_bad_input(kwargs, match):
    args = dict(
        loss_fn=_scalar_loss, model=Affine(jnp.zeros(3), jnp.ones(())),
        optimizer=optax.sgd(0.1), data=jnp.arange(4.0), epochs=1, batch_size=2,
        key=jax.random.key(0), progress=False,
    )  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        T.fit(**args)


# ---------------------------------------------------------------- checkpoints


def _snn():
    """A small spiking network as the model to save: LIF -> leaky readout."""
    return nt.Network(
        populations={"h": nt.neurons.LIF(4), "o": nt.neurons.LeakyIntegrator(2)},
        projections={
            "ho": nt.AlignPost(
                pre="h", post="o", comm=nt.comm.Dense(jnp.ones((4, 2))),
                syn=nt.synapses.Expon(5.0), out=nt.synapses.CUBA(),
            )
        },
    )  # fmt: skip


def _trained_state(steps=3):
    model = _snn()
    weights = lambda m: m.projections["ho"].comm.weight  # noqa: E731
    opt = optax.adam(0.01)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    for k in range(steps):
        grads = jax.tree.map(jnp.zeros_like, eqx.filter(model, eqx.is_inexact_array))
        grads = eqx.tree_at(weights, grads, jnp.full((4, 2), 0.5 * (k + 1)))
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_inexact_array))
        model = eqx.apply_updates(model, updates)
    return model, opt, state


def test_checkpoint_round_trip_with_adam_state(tmp_path):
    model, opt, state = _trained_state()
    assert int(state[0].count) == 3
    meta = {"lr": 0.01, "history": [1.0, 0.5], "note": "digits"}
    path = T.save_checkpoint(tmp_path / "ckpt.eqx", model, state, step=3, metadata=meta)
    like = _snn()
    like_state = opt.init(eqx.filter(like, eqx.is_inexact_array))
    loaded = T.load_checkpoint(path, like, like_state)
    assert loaded.step == 3 and loaded.metadata == meta
    assert bool(eqx.tree_equal(loaded.model, model))
    assert bool(eqx.tree_equal(loaded.opt_state, state))
    assert int(loaded.opt_state[0].count) == 3
    assert not bool(eqx.tree_equal(like, model))  # the load did fill in the saved values
    # The model alone, without the optimiser state.
    model_only, none, *_ = T.load_checkpoint(path, like)
    assert none is None and bool(eqx.tree_equal(model_only, model))
    assert sorted(os.listdir(tmp_path)) == ["ckpt.eqx"]  # no temporary file left behind


def test_checkpoint_overwrites_atomically(tmp_path):
    model, opt, state = _trained_state()
    path = tmp_path / "c.eqx"
    T.save_checkpoint(path, _snn(), step=0)
    T.save_checkpoint(path, model, state, step=7)
    assert T.load_checkpoint(path, _snn()).step == 7
    before = path.read_bytes()
    with pytest.raises(ValueError, match="JSON"):
        T.save_checkpoint(path, model, metadata={"w": np.ones(2)})
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["c.eqx"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_corrupted_checkpoint_is_refused(tmp_path, damage):
    model, opt, state = _trained_state()
    path = T.save_checkpoint(tmp_path / "c.eqx", model, state, step=1)
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x01
    elif damage == "truncate":
        blob = blob[: len(blob) - 100]
    else:
        blob += b"\x00"
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        T.load_checkpoint(path, _snn(), opt.init(eqx.filter(_snn(), eqx.is_inexact_array)))


def test_checkpoint_refuses_foreign_files_and_mismatched_likes(tmp_path):
    model, opt, state = _trained_state()
    path = T.save_checkpoint(tmp_path / "c.eqx", model, step=None)
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x93NUMPY not a checkpoint at all")
    with pytest.raises(ValueError, match="not a neurotree checkpoint"):
        T.load_checkpoint(other, _snn())
    with pytest.raises(ValueError, match="no such file"):
        T.load_checkpoint(tmp_path / "missing.eqx", _snn())
    with pytest.raises(ValueError, match="no optimiser state"):
        T.load_checkpoint(path, _snn(), state)
    wrong = eqx.tree_at(lambda m: m.projections["ho"].comm.weight, _snn(), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="does not match"):
        T.load_checkpoint(path, wrong)
    with pytest.raises(ValueError, match="step"):
        T.save_checkpoint(tmp_path / "d.eqx", model, step=-1)
    with pytest.raises(ValueError, match="folder"):
        T.save_checkpoint(tmp_path / "nowhere" / "d.eqx", model)


def test_fit_then_checkpoint_then_resume(tmp_path):
    x, y = regression(24, noise=0.2, seed=5)
    opt = optax.adam(0.05)
    kw = dict(batch_size=24, key=jax.random.key(0), progress=False)
    model, state, hist = T.fit(
        mse, Affine(jnp.zeros(3), jnp.zeros(())), opt, (x, y), epochs=2, **kw
    )
    path = T.save_checkpoint(tmp_path / "fit.eqx", model, state, step=2,
                             metadata={"loss": hist["loss"].tolist()})  # fmt: skip
    like = Affine(jnp.zeros(3), jnp.zeros(()))
    ck = T.load_checkpoint(path, like, opt.init(eqx.filter(like, eqx.is_inexact_array)))
    a, *_ = T.fit(mse, ck.model, opt, (x, y), epochs=1, opt_state=ck.opt_state, **kw)
    b, *_ = T.fit(mse, model, opt, (x, y), epochs=1, opt_state=state, **kw)
    assert bool(eqx.tree_equal(a, b)) and ck.metadata["loss"] == hist["loss"].tolist()
