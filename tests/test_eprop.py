import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.stats import binom

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

FLOAT64 = jnp.zeros(()).dtype == jnp.float64
N_IN, N_REC, N_OUT, T, B, DT = 6, 5, 2, 120, 3, 1.0


def network(neurons, rec_scale, key=0):
    k = jax.random.split(jax.random.key(key), 3)
    w_in = 8.0 * jax.random.normal(k[0], (N_IN, N_REC)) + 3.0
    w_rec = rec_scale * jax.random.normal(k[1], (N_REC, N_REC))
    w_out = jax.random.normal(k[2], (N_REC, N_OUT))
    return nt.training.RSNN(neurons, w_in, w_rec, w_out, b_out=jnp.array([0.1, -0.2]))


def data(key=1):
    k1, k2 = jax.random.split(jax.random.key(key))
    x = jax.random.bernoulli(k1, 0.1, (T, B, N_IN)).astype(jnp.zeros(()).dtype)
    return x, jax.random.normal(k2, (T, B, N_OUT))


def step_loss(y, target):
    return 0.5 * jnp.sum(jnp.square(y - target))


def rate_loss(rates):
    return 1e-3 * jnp.sum(jnp.square(rates - 10.0))


@eqx.filter_jit
def eprop(model, x, target, **kw):
    return nt.training.eprop(model, x, target, step_loss, dt=DT, **kw)


@eqx.filter_jit
def bptt(model, x, target):
    """(E, grads) by jax.grad through nt.simulate: the exact gradient."""
    params, static = eqx.partition(model, model.weights_filter())

    def loss(params):
        m = eqx.combine(params, static)
        _, (y, z) = nt.simulate(m, m.init_state((B,)), x, dt=DT, n_steps=T,
                                monitor=lambda s, o: (o, s.neurons.spike))  # fmt: skip
        rates = jnp.mean(jnp.sum(z, 0), 0) * 1000.0 / (T * DT)
        return jnp.sum(jax.vmap(step_loss)(y, target)) + rate_loss(rates)

    return eqx.filter_value_and_grad(loss)(params)


def neurons(kind):
    pl = nt.surrogate.PiecewiseLinear(alpha=1.0, width=1.0)
    return {
        "LIF": nt.neurons.LIF(N_REC, tau=20.0, v_th=1.0, v_reset=0.0, tau_ref=2.0, spike_fn=pl),
        "LIF-reset-grad": nt.neurons.LIF(
            N_REC, tau=20.0, v_th=1.0, v_reset=0.0, detach_reset=False
        ),  # fmt: skip
        "ALIF": nt.neurons.ALIF(
            N_REC, tau=20.0, tau_a=100.0, beta=0.5, v_th=1.0, v_reset=0.0, tau_ref=2.0, spike_fn=pl
        ),  # fmt: skip
        "ALIF-mixed": nt.neurons.ALIF(
            N_REC,
            tau=20.0,
            tau_a=100.0,
            beta=jnp.array([0, 0, 1, 1, 1.0]),
            v_th=1.0,
            v_reset=0.0,
            detach_reset=False,
        ),  # fmt: skip
    }[kind]


def cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("kind", ["LIF", "LIF-reset-grad", "ALIF", "ALIF-mixed"])
def test_equals_bptt_without_recurrence(kind):
    # W_rec = 0: the only paths from W_ji to the loss run through neuron j's own state and the
    # readout, which e-prop follows exactly, so its estimate is the gradient. It holds with and
    # without detach_reset, for LIF and ALIF, with a per-step loss plus a rate loss.
    model = network(neurons(kind), 0.0)
    x, target = data()
    (E, y), grads = eprop(model, x, target, rate_loss=rate_loss)
    E_ref, ref = bptt(model, x, target)
    assert jax.tree.structure(grads) == jax.tree.structure(ref)
    _, (y_ref, z) = nt.simulate(model, model.init_state((B,)), x, dt=DT, n_steps=T,
                                monitor=lambda s, o: (o, s.neurons.spike))  # fmt: skip
    assert 2 <= float(z.sum()) / (B * N_REC) <= 60  # spiking, not saturated
    np.testing.assert_array_equal(y, y_ref)  # the same forward pass
    rtol = 1e-10 if FLOAT64 else 2e-4
    np.testing.assert_allclose(E, E_ref, rtol=rtol)
    for name in ("w_in", "w_rec", "w_out", "b_out"):
        g, r = getattr(grads, name), getattr(ref, name)
        assert float(jnp.max(jnp.abs(r))) > 0
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * float(jnp.max(jnp.abs(r))))


@pytest.mark.parametrize("kind", ["LIF", "ALIF"])
def test_aligned_with_bptt_with_recurrence(kind):
    # With W_rec != 0, e-prop drops the paths through other neurons: an approximation, but the
    # estimate points the same way as the gradient (measured cosines 0.57 to 0.99 here).
    model = network(neurons(kind), 3.0)
    x, target = data()
    _, grads = eprop(model, x, target, rate_loss=rate_loss)
    _, ref = bptt(model, x, target)
    assert not np.allclose(grads.w_in, ref.w_in, rtol=1e-2)  # the recurrence matters
    assert cosine(grads.w_in, ref.w_in) > 0
    assert cosine(grads.w_rec, ref.w_rec) > 0
    np.testing.assert_allclose(grads.w_out, ref.w_out, rtol=1e-4, atol=1e-4 * abs(ref.w_out).max())


class _FeedbackRSNN(nt.training.RSNN):
    """An RSNN whose readout passes gradients back to the spikes through `fb` (not w_out)."""

    fb: jax.Array

    def __init__(self, model, fb):
        self.neurons, self.w_in, self.w_rec = model.neurons, model.w_in, model.w_rec
        self.w_out, self.b_out, self.tau_out, self.fb = model.w_out, model.b_out, model.tau_out, fb

    def __call__(self, state, inputs, *, t, dt, key=None):
        current = inputs @ self.w_in + state.neurons.spike @ self.w_rec
        neurons, z = self.neurons(state.neurons, current, t=t, dt=dt)
        zs = jax.lax.stop_gradient(z)
        out = zs @ self.w_out + (z @ self.fb - jax.lax.stop_gradient(z @ self.fb))
        y = jnp.exp(-dt / self.tau_out) * state.y + out + self.b_out
        return nt.training.RSNNState(neurons=neurons, y=y), y


def test_random_feedback_is_the_gradient_through_the_feedback_matrix():
    # Random e-prop: the learning signal is B (dl/dy); with W_rec = 0 it is the exact gradient
    # of a network whose readout sends errors back through B instead of W_out.
    model = network(neurons("ALIF"), 0.0)
    x, target = data()
    fb = jax.random.normal(jax.random.key(7), (N_REC, N_OUT))
    _, grads = eprop(model, x, target, feedback=fb)
    _, sym = eprop(model, x, target)

    def loss(w_in, w_out):
        m = eqx.tree_at(lambda m: (m.w_in, m.w_out), _FeedbackRSNN(model, fb), (w_in, w_out))
        _, y = nt.simulate(m, m.init_state((B,)), x, dt=DT, n_steps=T)
        return jnp.sum(jax.vmap(step_loss)(y, target))

    g_in, g_out = jax.jit(jax.grad(loss, (0, 1)))(model.w_in, model.w_out)
    rtol = 1e-10 if FLOAT64 else 2e-4
    np.testing.assert_allclose(grads.w_in, g_in, rtol=rtol, atol=rtol * abs(g_in).max())
    # The readout's own gradient does not use the feedback.
    np.testing.assert_allclose(grads.w_out, sym.w_out, rtol=rtol)
    assert cosine(grads.w_in, sym.w_in) < 0.999


def test_grads_feed_optax_and_reduce_the_loss():
    model = network(neurons("ALIF"), 1.0)
    x, target = data()
    params, static = eqx.partition(model, model.weights_filter())
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(params)
    losses = []
    for _ in range(15):
        m = eqx.combine(params, static)
        (E, _), grads = eprop(m, x, target)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = eqx.apply_updates(params, updates)
        losses.append(float(E))
    assert losses[-1] < 0.8 * losses[0], losses


def test_bad_arguments_raise():
    model = network(neurons("LIF"), 0.0)
    x, target = data()
    with pytest.raises(ValueError, match="LIF or nt.neurons.ALIF"):
        nt.training.RSNN(nt.neurons.Izhikevich(N_REC), model.w_in, model.w_rec, model.w_out)
    with pytest.raises(ValueError, match="w_rec of shape"):
        nt.training.RSNN(model.neurons, model.w_in, jnp.zeros((3, 3)), model.w_out)
    with pytest.raises(ValueError, match="tau_out"):
        nt.training.RSNN(model.neurons, model.w_in, model.w_rec, model.w_out, tau_out=0.0)
    with pytest.raises(ValueError, match=r"inputs of shape \(120, 3, 4\)"):
        nt.training.eprop(model, x[..., :4], target, step_loss, dt=DT)
    with pytest.raises(ValueError, match="leading time axis of length 120"):
        nt.training.eprop(model, x, target[:10], step_loss, dt=DT)
    with pytest.raises(ValueError, match="feedback of shape"):
        nt.training.eprop(model, x, target, step_loss, dt=DT, feedback=jnp.zeros((2, 5)))
    with pytest.raises(ValueError, match="dt"):
        nt.training.eprop(model, x, target, step_loss, dt=0.0)
    tsit = eqx.tree_at(lambda m: m.neurons, model, nt.neurons.LIF(N_REC, solver=diffrax.Tsit5()))
    with pytest.raises(ValueError, match="keeps state"):
        nt.training.eprop(tsit, x, target, step_loss, dt=DT)


# The evidence-accumulation task.


def test_evidence_trials_follow_the_protocol():
    trials = nt.training.evidence_accumulation(jax.random.key(0), 200)
    x = np.asarray(trials.spikes)
    assert x.shape == (7 * 150 + 1050 + 150, 200, 40)  # Bellec et al.'s 2250 ms at dt = 1 ms
    cues, labels = np.asarray(trials.cues), np.asarray(trials.labels)
    np.testing.assert_array_equal(labels, (cues.sum(1) > 3).astype(int))
    # Each cue's 100 ms, after a 50 ms gap, drives its side's 10 neurons and only those.
    for c in range(7):
        window = slice(150 * c + 50, 150 * c + 150)
        gap = slice(150 * c, 150 * c + 50)
        left = x[window, :, :10].sum((0, 2))
        right = x[window, :, 10:20].sum((0, 2))
        assert np.all(left[cues[:, c] == 1] == 0) and np.all(right[cues[:, c] == 0] == 0)
        assert x[gap, :, :20].sum() == 0
    assert x[1050:, :, :20].sum() == 0  # delay and recall: no cues
    assert x[:2100, :, 20:30].sum() == 0  # recall neurons only in the last 150 ms
    np.testing.assert_array_equal(np.asarray(trials.recall), np.arange(2250) >= 2100)

    # Rates: 40 Hz in a cue (p = 0.04 per ms) and in the recall window, 10 Hz background;
    # the counts are binomial, so within 5 standard deviations.
    def check_rate(count, n, p):
        assert abs(count - n * p) < 5 * np.sqrt(n * p * (1 - p)), (count, n * p)

    check_rate(x[2100:, :, 20:30].sum(), 150 * 200 * 10, 0.04)
    check_rate(x[:, :, 30:].sum(), 2250 * 200 * 10, 0.01)
    on = np.repeat(cues, 100, axis=1)  # (batch, 700): side of the cue at each cue ms
    cue_ms = np.concatenate([np.arange(150 * c + 50, 150 * c + 150) for c in range(7)])
    right_spikes = x[cue_ms, :, 10:20].sum(-1).T  # (batch, 700)
    check_rate(right_spikes[on == 1].sum(), int((on == 1).sum()) * 10, 0.04)


def test_cue_counts_follow_the_mixture_of_binomials():
    # The favoured side is a coin flip and each cue lands on it with p = 0.7: the number of right
    # cues is 0.5 Bin(7, 0.7) + 0.5 Bin(7, 0.3). Each of the 8 frequencies from 4000 trials is
    # within 5 standard deviations of its probability.
    trials = nt.training.evidence_accumulation(jax.random.key(1), 4000, delay=0.0)
    counts = np.bincount(np.asarray(trials.cues).sum(1), minlength=8) / 4000
    k = np.arange(8)
    p = 0.5 * binom.pmf(k, 7, 0.7) + 0.5 * binom.pmf(k, 7, 0.3)
    assert np.all(np.abs(counts - p) < 5 * np.sqrt(p * (1 - p) / 4000)), (counts, p)


def test_evidence_timings_and_choice():
    trials = nt.training.evidence_accumulation(
        jax.random.key(2), 8, n_cues=3, dt=5.0, cue=50.0, gap=25.0, delay=100.0, recall=50.0
    )
    assert trials.spikes.shape == ((3 * 75 + 100 + 50) // 5, 8, 40)
    assert trials.recall_steps == 10
    y = jnp.zeros(trials.spikes.shape[:2] + (2,))
    y = y.at[-10:, :, 1].set(jnp.where(trials.labels == 1, 1.0, -1.0))
    np.testing.assert_array_equal(trials.choose(y), trials.labels)
    y = y.at[-11, :, 0].set(100.0)  # before the recall window: ignored
    np.testing.assert_array_equal(trials.choose(y), trials.labels)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(n_cues=4), "odd"),
        (dict(n_cues=0), "n_cues"),
        (dict(dt=0.0), "dt"),
        (dict(cue=10.5, dt=1.0), "cue"),
        (dict(cue_rate=2000.0), "cue_rate"),
        (dict(p_major=1.5), "p_major"),
    ],
)
def test_evidence_bad_arguments_raise(kw, match):
    with pytest.raises(ValueError, match=match):
        nt.training.evidence_accumulation(jax.random.key(0), 4, **kw)
