import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64


class Recorder(nt.DynamicalSystem):
    """A test model whose state counts steps and whose output reports (t, dt, input, noise)."""

    def init_state(self, batch_shape=(), *, key=None):
        return jnp.zeros(batch_shape, jnp.int32)

    def __call__(self, state, inputs, *, t, dt, key=None):
        noise = jnp.nan if key is None else jax.random.uniform(key)
        x = jnp.nan if inputs is None else jnp.asarray(inputs, jnp.result_type(float)).sum()
        return state + 1, {"t": jnp.asarray(t), "dt": jnp.asarray(dt), "x": x, "u": noise}


def loop_reference(model, state, inputs_at, n, dt, t0, key=None):
    """The runner's semantics written as a plain Python loop."""
    outs = []
    for i in range(n):
        k = None if key is None else jax.random.fold_in(key, i)
        state, out = model(state, inputs_at(i, t0 + i * dt), t=t0 + i * dt, dt=dt, key=k)
        outs.append(out)
    return state, jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


def test_times_and_step_count():
    m = Recorder()
    state, rec = nt.simulate(m, m.init_state(), dt=0.25, duration=5.0, t0=10.0)
    assert int(state) == 20
    np.testing.assert_allclose(np.asarray(rec["t"]), 10.0 + 0.25 * np.arange(20), rtol=1e-6)
    assert np.all(np.isnan(np.asarray(rec["x"])))


def test_every_records_after_each_block():
    m = Recorder()
    _, rec = nt.simulate(m, m.init_state(), dt=0.1, n_steps=12, every=4)
    # Records after steps 4, 8, 12: the last step of each block started at t = 0.3, 0.7, 1.1.
    np.testing.assert_allclose(np.asarray(rec["t"]), [0.3, 0.7, 1.1], rtol=1e-6)
    _, rec = nt.simulate(m, m.init_state(), dt=0.1, n_steps=12, every=4, monitor=lambda s, o: s)
    np.testing.assert_array_equal(np.asarray(rec), [4, 8, 12])


@pytest.mark.parametrize("kind", ["constant", "series", "callable", "pytree-series"])
def test_input_kinds_match_loop(kind):
    m = nt.neurons.LIF(3, tau_ref=1.0)
    n, dt = 400, 0.1
    rng = np.random.default_rng(0)
    series = rng.uniform(15.0, 40.0, size=(n, 3)).astype(np.float32)
    if kind == "constant":
        inputs, at = jnp.array([18.0, 25.0, 40.0]), lambda i, t: jnp.array([18.0, 25.0, 40.0])
    elif kind == "series":
        inputs, at = series, lambda i, t: series[i]
    elif kind == "callable":
        inputs = lambda t: 30.0 + 10.0 * jnp.sin(t)  # noqa: E731
        at = lambda i, t: inputs(t)  # noqa: E731
    else:

        class Two(nt.DynamicalSystem):
            lif: nt.neurons.LIF

            def init_state(self, batch_shape=(), *, key=None):
                return self.lif.init_state(batch_shape)

            def __call__(self, state, inputs, *, t, dt, key=None):
                return self.lif(state, inputs["a"] + inputs["b"], t=t, dt=dt)

        m = Two(m)
        inputs = {"a": series, "b": np.full((n, 1), 2.0, np.float32)}
        at = lambda i, t: {"a": series[i], "b": np.full((1,), 2.0, np.float32)}  # noqa: E731
    state, rec = nt.simulate(m, m.init_state(), inputs, dt=dt, n_steps=n)
    ref_state, ref = loop_reference(m, m.init_state(), at, n, dt, 0.0)
    assert rec.shape == (n, 3)
    assert float(rec.sum()) > 0
    np.testing.assert_array_equal(np.asarray(rec), np.asarray(ref))
    np.testing.assert_allclose(np.asarray(state.v), np.asarray(ref_state.v), rtol=1e-5, atol=1e-5)


class Sine(eqx.Module):
    amplitude: jax.Array

    def __call__(self, t):
        return 30.0 + self.amplitude * jnp.sin(t)


def test_callable_module_input_is_a_function_of_time_and_differentiable():
    m = nt.neurons.LIF(1, v_th=1e3)
    drive = Sine(jnp.asarray(10.0))
    _, v = nt.simulate(m, m.init_state(), drive, dt=0.1, n_steps=100, monitor=lambda s, o: s.v)
    _, v_ref = nt.simulate(m, m.init_state(), lambda t: 30.0 + 10.0 * jnp.sin(t), dt=0.1,
                           n_steps=100, monitor=lambda s, o: s.v)  # fmt: skip
    np.testing.assert_allclose(np.asarray(v), np.asarray(v_ref), rtol=1e-6)

    def final_v(drive):
        state, _ = nt.simulate(m, m.init_state(), drive, dt=0.1, n_steps=100)
        return state.v.sum()

    # Linear membrane: v(T) is linear in the amplitude, so the gradient equals a finite difference.
    g = eqx.filter_grad(final_v)(drive).amplitude
    fd = (final_v(Sine(jnp.asarray(11.0))) - final_v(Sine(jnp.asarray(9.0)))) / 2.0
    np.testing.assert_allclose(float(g), float(fd), rtol=1e-3)
    assert abs(float(g)) > 1e-3


def test_keys_fold_in_step_index_and_chunking_is_invisible():
    m = Recorder()
    key = jax.random.key(3)
    _, whole = nt.simulate(m, m.init_state(), dt=0.1, n_steps=60, key=key)
    _, chunked = nt.simulate(m, m.init_state(), dt=0.1, n_steps=60, key=key, chunk_size=7 * 1)
    _, ref = loop_reference(m, m.init_state(), lambda i, t: None, 60, 0.1, 0.0, key=key)
    np.testing.assert_array_equal(np.asarray(whole["u"]), np.asarray(ref["u"]))
    np.testing.assert_array_equal(np.asarray(chunked["u"]), np.asarray(ref["u"]))
    np.testing.assert_allclose(np.asarray(chunked["t"]), np.asarray(ref["t"]), rtol=1e-6)


def test_chunked_series_inputs():
    m = nt.neurons.LIF(2)
    series = np.linspace(0, 60, 300, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    _, a = nt.simulate(m, m.init_state(), series, dt=0.1, n_steps=300, every=3)
    _, b = nt.simulate(m, m.init_state(), series, dt=0.1, n_steps=300, every=3, chunk_size=30)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_under_jit_equals_eager():
    m = nt.neurons.LIF(4, tau_ref=2.0)

    @eqx.filter_jit
    def run(m, current):
        return nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=500, every=5)

    current = jnp.array([10.0, 21.0, 30.0, 45.0])
    s1, r1 = run(m, current)
    s2, r2 = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=500, every=5)
    np.testing.assert_array_equal(np.asarray(r1), np.asarray(r2))
    np.testing.assert_allclose(np.asarray(s1.v), np.asarray(s2.v), rtol=1e-6)


class Counter:
    """Hashable by identity, so it can sit in a static field."""

    def __init__(self):
        self.n = 0


class CountingLIF(nt.neurons.LIF):
    """A LIF that counts how often it is traced (a Python side effect runs at trace time only)."""

    traces: Counter = eqx.field(static=True)

    def __init__(self, traces: Counter, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.traces = traces

    def __call__(self, state, current, *, t, dt, key=None):
        self.traces.n += 1
        return super().__call__(state, current, t=t, dt=dt, key=key)


@pytest.mark.parametrize("every", [1, 5])
def test_eager_calls_reuse_their_trace(every):
    # every = 1: the block is one step; every > 1: every - 1 steps in a scan, then the recorded
    # one (the model is traced twice, as the two bodies differ).
    m = CountingLIF(Counter(), 3, tau_ref=1.0)
    per_compile = 1 if every == 1 else 2
    current = jnp.array([10.0, 21.0, 30.0])
    runs = [
        nt.simulate(m, m.init_state(), current * k, dt=0.1, n_steps=100, every=every)[1]
        for k in (1.0, 1.5, 2.0)
    ]
    # The first call traces once for the record size and once to compile; later calls none.
    assert m.traces.n == 2 * per_compile
    np.testing.assert_array_equal(
        np.asarray(runs[2]),
        np.asarray(jax.jit(lambda c: nt.simulate(m, m.init_state(), c, dt=0.1, n_steps=100,
                                                  every=every)[1])(current * 2.0)),
    )  # fmt: skip


def test_grad_matches_analytic_subthreshold_response():
    # tau dv/dt = -(v - v_rest) + R I from v_rest: v(T) = v_rest + R I (1 - exp(-T / tau)),
    # so dv(T)/dI = R (1 - exp(-T / tau)) and dv(T)/dtau = -R I T exp(-T / tau) / tau^2.
    tau, R, I, T = 10.0, 2.0, 3.0, 15.0

    def final_v(model, current):
        state, _ = nt.simulate(model, model.init_state(), current, dt=0.1, duration=T)
        return state.v.sum()

    model = nt.neurons.LIF(1, tau=tau, R=R, v_th=50.0)
    g_model, g_current = jax.grad(final_v, argnums=(0, 1))(model, jnp.asarray(I))
    tol = dict(rtol=1e-4) if g_current.dtype == jnp.float32 else dict(rtol=1e-10)
    np.testing.assert_allclose(float(g_current), R * (1 - np.exp(-T / tau)), **tol)
    np.testing.assert_allclose(float(g_model.tau), -R * I * T * np.exp(-T / tau) / tau**2, **tol)


@pytest.mark.parametrize("every,checkpoint", [(1, 7), (2, 10), (5, 50), (1, 1000)])
def test_checkpointed_gradients_equal_plain_ones(every, checkpoint):
    # Segments of 7 steps leave a tail (100 = 14 * 7 + 2); 1000 > n_steps is one segment.
    lif = nt.neurons.LIF(4, tau=10.0, v_th=1.0, v_reset=0.0)
    x = jnp.asarray(np.random.default_rng(1).random((100, 3, 4)) * 0.4)

    def loss(model, x, checkpoint):
        _, v = nt.simulate(
            model, model.init_state((3,)), x, dt=1.0, n_steps=100, every=every,
            monitor=lambda s, o: s.v, checkpoint=checkpoint,
        )  # fmt: skip
        return jnp.sum(jnp.sin(v))

    value, grads = eqx.filter_value_and_grad(loss)(lif, x, None)
    value_c, grads_c = eqx.filter_value_and_grad(loss)(lif, x, checkpoint)
    np.testing.assert_allclose(value_c, value, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads_c), jax.tree.leaves(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(grads.tau)) > 0
    # Eager calls checkpoint too (same records).
    _, plain = nt.simulate(lif, lif.init_state((3,)), x, dt=1.0, n_steps=100, every=every)
    _, ckpt = nt.simulate(
        lif, lif.init_state((3,)), x, dt=1.0, n_steps=100, every=every, checkpoint=checkpoint
    )
    np.testing.assert_array_equal(ckpt, plain)


def test_checkpointing_makes_bptt_memory_sublinear():
    # XLA's own buffer assignment for the compiled gradient: without checkpointing the backward
    # pass stores every step's residuals (linear in n_steps); with segments of ~sqrt(n_steps)
    # steps it stores the segment starts plus one segment (~2 sqrt(n_steps)).
    lif = nt.neurons.LIF(1000, tau=10.0, v_th=1.0, v_reset=0.0)

    def loss(w, n, checkpoint):
        drive = lambda t: w * (1.5 + jnp.sin(t / 10.0))  # noqa: E731
        _, v = nt.simulate(
            lif, lif.init_state((8,)), drive, dt=1.0, n_steps=n, checkpoint=checkpoint,
            monitor=lambda s, o: jnp.mean(s.v),
        )  # fmt: skip
        return jnp.mean(v**2)

    def temp_bytes(n, checkpoint):
        grad = jax.jit(jax.grad(loss), static_argnums=(1, 2))
        return (
            grad.lower(jnp.ones(1000), n, checkpoint).compile().memory_analysis().temp_size_in_bytes
        )

    plain = [temp_bytes(n, None) for n in (100, 1600)]
    ckpt = [temp_bytes(n, int(np.sqrt(n))) for n in (100, 1600)]
    assert plain[1] / plain[0] > 12  # 16x the steps: ~linear
    assert ckpt[1] / ckpt[0] < 6  # 16x the steps: ~sqrt (4x), plus constants
    assert ckpt[1] < plain[1] / 8


def test_vmap_parameter_sweep_equals_loop():
    taus = jnp.array([5.0, 10.0, 20.0, 40.0])
    models = eqx.filter_vmap(lambda tau: nt.neurons.LIF(2, tau=tau, tau_ref=1.0))(taus)

    def count(m):
        _, spikes = nt.simulate(m, m.init_state(), 30.0, dt=0.1, n_steps=1000)
        return spikes.sum(0)

    swept = eqx.filter_vmap(count)(models)
    looped = jnp.stack([count(nt.neurons.LIF(2, tau=t, tau_ref=1.0)) for t in taus])
    np.testing.assert_array_equal(np.asarray(swept), np.asarray(looped))
    assert len(set(np.asarray(swept)[:, 0].tolist())) == 4


def test_progress_bar_reports_simulated_time():
    code = textwrap.dedent(
        """
        import neurotree as nt
        m = nt.neurons.LIF(3)
        nt.simulate(m, m.init_state(), 25.0, dt=0.1, duration=50.0, progress=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "50.0/50.0 ms" in out.stderr


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(dt=0.0, n_steps=10), "dt=0.0"),
        (dict(dt=-0.1, n_steps=10), "dt=-0.1"),
        (dict(dt=0.1), "exactly one"),
        (dict(dt=0.1, n_steps=10, duration=1.0), "exactly one"),
        (dict(dt=0.1, duration=1.05), "whole number of steps"),
        (dict(dt=0.1, n_steps=0), "n_steps=0"),
        (dict(dt=0.1, n_steps=10, every=3), "multiple of every"),
        (dict(dt=0.1, n_steps=10, every=0), "every=0"),
        (dict(dt=0.1, n_steps=10, chunk_size=3, every=2), "chunk_size"),
        (dict(dt=0.1, n_steps=10, checkpoint=3, every=2), "checkpoint=3"),
        (dict(dt=0.1, n_steps=10, checkpoint=0), "checkpoint=0"),
        (dict(dt=0.1, n_steps=10, checkpoint=True), "checkpoint=True"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    m = nt.neurons.LIF(2)
    with pytest.raises(ValueError, match=match):
        nt.simulate(m, m.init_state(), 1.0, **kwargs)


def test_mixed_input_leaves_raise():
    m = Recorder()
    with pytest.raises(ValueError, match="leading axis of n_steps=10"):
        nt.simulate(m, m.init_state(), {"a": np.zeros(10), "b": np.zeros(3)}, dt=0.1, n_steps=10)


def test_input_shape_mismatch_raises():
    m = nt.neurons.LIF(3)
    with pytest.raises(ValueError, match=r"shape \(4,\) does not broadcast"):
        nt.simulate(m, m.init_state(), jnp.ones(4), dt=0.1, n_steps=10)


def test_progress_under_jit_raises():
    m = nt.neurons.LIF(3)
    with pytest.raises(ValueError, match="progress=True"):
        jax.jit(lambda c: nt.simulate(m, m.init_state(), c, dt=0.1, n_steps=10, progress=True))(1.0)


def test_stochastic_model_without_key_raises():
    m = nt.inputs.OUProcess(3)
    with pytest.raises(ValueError, match="no key"):
        nt.simulate(m, m.init_state(), dt=0.1, n_steps=10)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, time
    import jax, neurotree as nt
    n = int(sys.argv[1])
    m = nt.neurons.LIF(1000, tau=10.0, v_th=20.0, v_reset=0.0, tau_ref=2.0)
    current = jax.numpy.linspace(15.0, 40.0, 1000)
    state, rec = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=1000, every=1000)
    jax.block_until_ready(rec)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    state, rec = nt.simulate(m, m.init_state(), current, dt=0.1, n_steps=n, every=1000)
    jax.block_until_ready(rec)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(before, after, rec.shape[0], int(rec.sum()), time.perf_counter() - t)
    """
)


def test_million_steps_run_in_bounded_memory():
    """10^6 steps of 1000 LIF neurons recorded every 1000 steps: peak memory does not grow."""
    rows = {}
    for n in (10_000, 1_000_000):
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(n)], capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        before, after, n_records, n_spikes, seconds = out.stdout.split()
        rows[n] = (int(before), int(after), int(n_records), int(n_spikes))
    assert rows[1_000_000][2] == 1000 and rows[10_000][2] == 10
    # ru_maxrss is in KiB on Linux. The long run may add its 4 MB of records and little else;
    # storing every step (10^6 x 1000 floats = 4 GB) would be impossible to miss.
    growth_long = rows[1_000_000][1] - rows[1_000_000][0]
    assert growth_long < 64 * 1024, rows
    assert rows[1_000_000][3] > 0
