import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import neurotree as nt

I = nt.inputs


class Echo(nt.DynamicalSystem):
    """Outputs the input it is given, to see what `nt.simulate` passes at each step."""

    def init_state(self, batch_shape=(), *, key=None):
        return jnp.zeros(())

    def __call__(self, state, inputs, *, t, dt, key=None):
        return state, jnp.asarray(inputs)


def echo(inputs, **kw):
    return np.asarray(nt.simulate(Echo(), jnp.zeros(()), inputs, **kw)[1])


# ---------------------------------------------------------------------------------- waveforms


def test_constant():
    assert float(I.Constant(2.5)(-3.0)) == 2.5
    np.testing.assert_array_equal(np.asarray(I.Constant(jnp.array([1.0, 2.0]))(7.0)), [1.0, 2.0])


def test_section_values_at_boundaries():
    wave = I.Section([1.0, 2.0, 0.0, jnp.array([3.0, 4.0])], [10.0, 20.0, 0.0, 5.0])
    expected = {
        -1e-3: [0, 0], 0.0: [1, 1], 9.999: [1, 1], 10.0: [2, 2], 29.99: [2, 2],
        30.0: [3, 4], 34.99: [3, 4], 35.0: [0, 0], 1e4: [0, 0],
    }  # fmt: skip
    for t, v in expected.items():
        np.testing.assert_array_equal(np.asarray(wave(t)), v, err_msg=f"t={t}")
    # An array whose leading axis indexes the sections works the same.
    stacked = I.Section(jnp.array([[1.0, 1.0], [2.0, 2.0]]), jnp.array([1.0, 1.0]))
    np.testing.assert_array_equal(np.asarray(stacked(1.5)), [2.0, 2.0])


def test_ramp_values():
    wave = I.Ramp(2.0, jnp.array([12.0, -8.0]), 5.0, 15.0)
    for t, v in {4.99: [0, 0], 5.0: [2, 2], 10.0: [7, -3], 14.0: [11, -7], 15.0: [0, 0]}.items():
        np.testing.assert_allclose(np.asarray(wave(t)), v, atol=1e-5, err_msg=f"t={t}")


def test_sinusoidal_values():
    # 50 Hz: period 20 ms; phase measured from t_start.
    wave = I.Sinusoidal(3.0, 50.0, bias=1.0, t_start=10.0, t_end=50.0)
    values = {9.99: 0.0, 10.0: 1.0, 15.0: 4.0, 20.0: 1.0, 25.0: -2.0, 45.0: -2.0, 49.999: 1.0}
    for t, v in (values | {50.0: 0.0, 1e3: 0.0}).items():
        np.testing.assert_allclose(float(wave(t)), v, atol=2e-3, err_msg=f"t={t}")
    forever = I.Sinusoidal(jnp.array([1.0, 2.0]), 250.0)  # no end; 4 ms period
    np.testing.assert_allclose(np.asarray(forever(1e4 + 1.0)), [1.0, 2.0], atol=2e-3)


V2 = jnp.array([1.0, 2.0])
SERIES = {  # name: (series(dt), the module, duration in ms)
    "constant": (lambda dt: I.constant_input(V2, 30.0, dt), I.Constant(V2), 30.0),
    "section": (
        lambda dt: I.section_input([1.0, 2.0, 3.0], [3.0, 12.0, 15.0], dt),
        I.Section([1.0, 2.0, 3.0], [3.0, 12.0, 15.0]),
        30.0,
    ),
    "section-arrays": (
        lambda dt: I.section_input([0.5, V2], [0.3, 0.7], dt),
        I.Section([0.5, V2], [0.3, 0.7]),
        1.0,
    ),
    "ramp": (
        lambda dt: I.ramp_input(1.0, 5.0, 30.0, 2.5, 20.0, dt=dt),
        I.Ramp(1.0, 5.0, 2.5, 20.0),
        30.0,
    ),
    "ramp-default-end": (
        lambda dt: I.ramp_input(1.0, 5.0, 30.0, dt=dt),
        I.Ramp(1.0, 5.0, 0.0, 30.0),
        30.0,
    ),
    "sin": (
        lambda dt: I.sinusoidal_input(2.0, 40.0, 30.0, dt, 1.0, 25.0, 0.5),
        I.Sinusoidal(2.0, 40.0, 0.5, 1.0, 25.0),
        30.0,
    ),
    "sin-no-end": (
        lambda dt: I.sinusoidal_input(V2, 40.0, 30.0, dt),
        I.Sinusoidal(V2, 40.0),
        30.0,
    ),
}


@pytest.mark.parametrize("name", SERIES)
def test_series_equal_the_module_sampled_at_step_starts(name):
    series, wave, duration = SERIES[name]
    dt = 0.1
    x = np.asarray(series(dt))
    n = round(duration / dt)
    assert x.shape[0] == n
    # Exactly what `nt.simulate` gives a model at each step, given the module as inputs(t).
    np.testing.assert_array_equal(x, echo(wave, dt=dt, n_steps=n))
    np.testing.assert_allclose(x, np.stack([np.asarray(wave(k * dt)) for k in range(n)]), atol=1e-5)


@pytest.mark.parametrize("dt", [0.01, 0.025, 0.3, 1 / 3])
def test_section_input_lasts_duration_over_dt_steps_per_section(dt):
    steps = [7, 0, 130, 41, 1, 300]
    x = np.asarray(I.section_input([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [s * dt for s in steps], dt))
    np.testing.assert_array_equal(x, np.repeat(np.arange(1.0, 7.0), steps))


def test_module_is_evaluated_at_absolute_time():
    wave = I.Section([1.0, 2.0], [1.0, 1.0])
    x = echo(wave, dt=0.25, n_steps=16, t0=-1.0)
    np.testing.assert_array_equal(x, [0.0] * 4 + [1.0] * 4 + [2.0] * 4 + [0.0] * 4)


@pytest.mark.parametrize(
    "make,leaf",
    [
        (lambda: I.Constant(jnp.array(8.0)), lambda w: w.value),
        (lambda: I.Section([4.0, 12.0, 6.0], [3.0, 4.0, 5.0]), lambda w: w.values),
        (lambda: I.Ramp(2.0, 14.0, 1.0, 9.0), lambda w: w.c_end),
        (lambda: I.Sinusoidal(5.0, 100.0, bias=8.0, t_end=9.0), lambda w: w.amplitude),
    ],
    ids=["constant", "section", "ramp", "sinusoidal"],
)
def test_gradient_flows_to_waveform_parameters_through_simulate(make, leaf):
    lif = nt.neurons.LIF(1, tau=5.0, v_th=100.0)  # subthreshold: v is linear in the current

    @eqx.filter_jit
    def final_v(wave):
        state, _ = nt.simulate(lif, lif.init_state(), wave, dt=0.1, duration=12.0)
        return state.v[0]

    wave = make()
    grad = np.asarray(leaf(eqx.filter_jit(eqx.filter_grad(final_v))(wave)))
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    flat = np.asarray(leaf(wave)).ravel()
    for i in range(flat.size):
        h = np.zeros_like(flat)
        h[i] = 0.5
        up, down = (
            eqx.tree_at(leaf, wave, jnp.asarray((flat + s * h).reshape(np.shape(leaf(wave)))))
            for s in (1, -1)
        )
        fd = (float(final_v(up)) - float(final_v(down))) / 1.0
        np.testing.assert_allclose(grad.ravel()[i], fd, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: I.Section([1.0, 2.0], [1.0, -1.0]), r"durations.*non-negative"),
        (lambda: I.Section([1.0, 2.0], [1.0]), r"one duration per section"),
        (lambda: I.Section([], []), "at least one section"),
        (lambda: I.Section([jnp.ones(2), jnp.ones(3)], [1.0, 1.0]), "broadcast"),
        (lambda: I.Ramp(0.0, 1.0), "t_end"),
        (lambda: I.Ramp(0.0, 1.0, 5.0, 5.0), r"t_end must be later than t_start"),
        (lambda: I.Sinusoidal(1.0, -2.0), r"frequency=-2\.0.*non-negative"),
        (lambda: I.Sinusoidal(1.0, 2.0, t_start=3.0, t_end=1.0), "later than t_start"),
        (lambda: I.section_input([1.0, 2.0], [1.0, 0.25], 0.1), r"durations\[1\]=0\.25.*whole"),
        (lambda: I.section_input([1.0, 2.0], [1.0, -1.0], 0.1), "non-negative"),
        (lambda: I.constant_input(1.0, 1.05, 0.1), r"duration=1\.05.*whole number"),
        (lambda: I.constant_input(1.0, 1.0, 0.0), r"dt=0\.0"),
        (lambda: I.ramp_input(0.0, 1.0, 10.0), "dt"),
        (lambda: I.ramp_input(0.0, 1.0, 10.01, dt=0.1), "whole number"),
        (lambda: I.sinusoidal_input(1.0, -5.0, 10.0, 0.1), "frequency"),
        (lambda: I.sinusoidal_input(1.0, 5.0, -10.0, 0.1), "non-negative whole"),
    ],
)
def test_waveform_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------------- Poisson


def test_poisson_rate_and_fano_factor():
    n, rate, dt, steps = 4000, 40.0, 0.5, 1000
    src = I.PoissonInput(n, rate)
    _, spikes = nt.simulate(src, src.init_state(), dt=dt, n_steps=steps, key=jax.random.key(0))
    spikes = np.asarray(spikes)
    lam = rate * dt / 1000.0  # 0.02 per step
    assert np.all(spikes == np.round(spikes)) and spikes.min() == 0
    # Per step: P(0) = exp(-lam), P(2) = lam^2 exp(-lam) / 2; counts of 2 occur and are kept.
    np.testing.assert_allclose((spikes == 0).mean(), np.exp(-lam), rtol=1e-3)
    np.testing.assert_allclose((spikes == 2).mean(), lam**2 * np.exp(-lam) / 2, rtol=0.1)
    # Per neuron over 0.5 s: mean 20 spikes (sd of the mean 0.07), Fano factor 1 (sd 0.022).
    totals = spikes.sum(0)
    np.testing.assert_allclose(totals.mean(), rate * steps * dt / 1000.0, rtol=0.02)
    assert abs(totals.var(ddof=1) / totals.mean() - 1.0) < 0.1


def test_poisson_high_rates_keep_counts_above_one():
    # 8 kHz and 60 kHz at dt = 0.5 ms: means 4 and 30 spikes per step.
    n, dt, steps = 2000, 0.5, 200
    rate = jnp.where(jnp.arange(n) < n // 2, 8000.0, 60000.0)
    src = I.PoissonInput(n, rate)
    _, spikes = nt.simulate(src, src.init_state(), dt=dt, n_steps=steps, key=jax.random.key(1))
    spikes = np.asarray(spikes)
    for part, lam in ((spikes[:, : n // 2], 4.0), (spikes[:, n // 2 :], 30.0)):
        assert part.max() > 1
        # 200,000 samples each: sd of the mean 0.0045 (lam 4) and 0.012 (lam 30).
        np.testing.assert_allclose(part.mean(), lam, rtol=0.01)
        np.testing.assert_allclose(part.var(), lam, rtol=0.03)
        ks = np.arange(int(part.max()) + 1)
        freq = np.bincount(part.astype(int).ravel(), minlength=ks.size) / part.size
        pmf = stats.poisson.pmf(ks, lam)
        np.testing.assert_allclose(freq[pmf > 0.01], pmf[pmf > 0.01], rtol=0.1, atol=2e-3)


def test_poisson_time_varying_rate_input():
    n, dt = 1000, 0.5
    src = I.PoissonInput(n, 5.0)  # replaced by the input at every step
    rates = I.Section([100.0, 0.0, 400.0], [100.0, 50.0, 100.0])
    key = jax.random.key(2)
    _, spikes = nt.simulate(src, src.init_state(), rates, dt=dt, duration=250.0, key=key)
    spikes = np.asarray(spikes)
    first, silent, last = spikes[:200].sum(0), spikes[200:300], spikes[300:].sum(0)
    assert silent.sum() == 0
    np.testing.assert_allclose(first.mean(), 10.0, rtol=0.05)  # 100 Hz x 0.1 s, sd 0.1
    np.testing.assert_allclose(last.mean(), 40.0, rtol=0.03)  # 400 Hz x 0.1 s, sd 0.2
    # One rate per neuron, and a batch of states.
    per_neuron = jnp.array([0.0, 1000.0, 0.0])
    src3 = I.PoissonInput(3, 1.0)
    _, s = nt.simulate(src3, src3.init_state((2,)), per_neuron, dt=1.0, n_steps=50, key=key)
    s = np.asarray(s)
    assert s.shape == (50, 2, 3) and s[..., [0, 2]].sum() == 0 and s[..., 1].mean() > 0.5


def test_poisson_needs_a_key_and_a_non_negative_rate():
    src = I.PoissonInput((2, 3), 10.0)
    with pytest.raises(ValueError, match="no key"):
        src(src.init_state(), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="no key"):
        nt.simulate(src, src.init_state(), dt=0.1, n_steps=5)
    with pytest.raises(ValueError, match=r"rate=-1\.0.*non-negative"):
        I.PoissonInput(3, -1.0)
    with pytest.raises(ValueError, match="size"):
        I.PoissonInput(0, 1.0)
    with pytest.raises(ValueError, match=r"PoissonInput\(rate"):
        I.PoissonInput(3, jnp.ones(4))
    with pytest.raises(ValueError, match=r"rate=-2\.0"):
        src(src.init_state(), -2.0, t=0.0, dt=0.1, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"rate of shape \(4,\)"):
        src(src.init_state(), jnp.ones(4), t=0.0, dt=0.1, key=jax.random.key(0))
    # A negative rate computed inside the run (traced) is caught too.
    with pytest.raises(Exception, match="rate must be >= 0"):
        nt.simulate(src, src.init_state(), lambda t: 5.0 - t, dt=1.0, n_steps=10,
                    key=jax.random.key(0))  # fmt: skip


# ---------------------------------------------------------------------------------- SpikeTimes


def expected_raster(times, indices, n, t0, dt, n_steps):
    steps = np.floor((np.asarray(times) - t0) / dt + 0.5).astype(int)
    raster = np.zeros((n_steps, n))
    keep = (steps >= 0) & (steps < n_steps)
    np.add.at(raster, (steps[keep], np.asarray(indices)[keep]), 1.0)
    return raster


def test_spike_times_emit_at_the_right_steps():
    # Run from t0 = 5 ms, dt = 0.5 ms, 20 steps: step n holds [4.75 + n dt, 5.25 + n dt).
    events = [
        (6.0, 0), (5.0, 1), (6.0, 0),  # two events of neuron 0 in one step: value 2
        (6.2, 2), (5.74, 1), (5.76, 1),  # round to steps 2, 1, 2
        (4.75, 2), (5.25, 2),  # window edges: steps 0 and 1
        (14.74, 0), (14.76, 0),  # last step 19, and just after the run
        (4.0, 1), (100.0, 2), (-3.0, 0),  # outside the run
    ]  # fmt: skip
    times, indices = zip(*events)
    src = I.SpikeTimes(3, np.array(times), np.array(indices))
    _, spikes = nt.simulate(src, src.init_state(), dt=0.5, n_steps=20, t0=5.0)
    spikes = np.asarray(spikes)
    np.testing.assert_array_equal(spikes, expected_raster(times, indices, 3, 5.0, 0.5, 20))
    assert spikes[2, 0] == 2 and spikes[19, 0] == 1 and spikes[0].tolist() == [0, 1, 1]
    assert spikes.sum() == 9  # every event inside the run, none outside


def test_spike_times_many_events_match_the_reference():
    rng = np.random.default_rng(0)
    n, k, t0, dt, n_steps = 50, 100_000, -3.0, 0.1, 2000
    # Times away from the window edges (the rounding there is float-precision dependent).
    steps = rng.integers(-100, n_steps + 100, k)
    times = t0 + (steps + rng.uniform(-0.45, 0.45, k)) * dt
    indices = rng.integers(0, n, k)
    src = I.SpikeTimes(n, times, indices)
    _, spikes = nt.simulate(src, src.init_state(), dt=dt, n_steps=n_steps, t0=t0)
    np.testing.assert_array_equal(
        np.asarray(spikes), expected_raster(times, indices, n, t0, dt, n_steps)
    )


def test_spike_times_shapes():
    src = I.SpikeTimes((2, 3), [0.0, 1.0, 1.0], [4, 0, 5])  # flat indices, C order
    assert src.size == (2, 3)
    _, spikes = nt.simulate(src, src.init_state((4,)), dt=1.0, n_steps=2)
    assert spikes.shape == (2, 4, 2, 3)
    np.testing.assert_array_equal(np.asarray(spikes[0, 2]), [[0, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(np.asarray(spikes[1, 3]), [[1, 0, 0], [0, 0, 1]])
    empty = I.SpikeTimes(3, np.zeros(0), np.zeros(0, int))
    _, spikes = nt.simulate(empty, empty.init_state(), dt=1.0, n_steps=3)
    assert float(spikes.sum()) == 0.0


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: I.SpikeTimes(3, [1.0, 2.0], [0]), "equal length"),
        (lambda: I.SpikeTimes(3, [[1.0]], [[0]]), "1-D"),
        (lambda: I.SpikeTimes(3, [1.0, 2.0], [0, 3]), r"indices=\[3\].*\[0, 3\)"),
        (lambda: I.SpikeTimes(3, [1.0], [-1]), r"indices=\[-1\]"),
        (lambda: I.SpikeTimes(3, [1.0], [0.0]), "integers"),
        (lambda: I.SpikeTimes(3, [1.0, np.nan], [0, 1]), "finite"),
        (lambda: I.SpikeTimes(3, [np.inf], [0]), "finite"),
        (lambda: I.SpikeTimes(-1, [1.0], [0]), "size"),
    ],
)
def test_spike_times_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_spike_times_take_no_input():
    src = I.SpikeTimes(3, [1.0], [0])
    with pytest.raises(ValueError, match="takes no input"):
        src(src.init_state(), jnp.ones(3), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match="takes no input"):
        nt.simulate(src, src.init_state(), 1.0, dt=0.1, n_steps=5)
    with pytest.raises(ValueError, match=r"dt=0\.0"):
        src(src.init_state(), t=0.0, dt=0.0)


# ---------------------------------------------------------------------------------- SpikeTrain


def test_spike_train_replays_its_input_into_a_network():
    # Spikes of a replayed train reach a post population through a projection exactly as
    # SpikeTimes' do: a spike at step n acts from step n + 1 (DESIGN: "Networks").
    T, B, n = 6, 2, 3
    train = np.zeros((T, B, n), np.float32)
    train[1, 0, 0] = train[3, 1, 2] = 1.0
    net = nt.Network(
        populations={"in": I.SpikeTrain(n), "out": nt.neurons.LeakyIntegrator(1, tau=1e9)},
        projections={
            "p": nt.AlignPost(pre="in", post="out", comm=nt.comm.Dense(np.ones((n, 1))),
                              syn=nt.synapses.Expon(tau=1e9), out=nt.synapses.CUBA())
        },
    )  # fmt: skip
    _, rec = nt.simulate(
        net, net.init_state((B,)), {"in": jnp.asarray(train)}, dt=1.0, n_steps=T,
        monitor=lambda s, o: s.populations["in"].spike,
    )  # fmt: skip
    np.testing.assert_array_equal(rec, train)
    src = I.SpikeTrain(n)
    _, out = nt.simulate(src, src.init_state((B,)), jnp.asarray(train), dt=1.0, n_steps=T)
    np.testing.assert_array_equal(out, train)
    _, none = nt.simulate(src, src.init_state(), None, dt=1.0, n_steps=2)
    np.testing.assert_array_equal(none, np.zeros((2, n)))


def test_spike_train_passes_gradients_and_checks_shapes():
    src = I.SpikeTrain(4)
    g = jax.grad(lambda x: src(src.init_state(), x, t=0.0, dt=1.0)[1].sum())(jnp.ones(4))
    np.testing.assert_array_equal(g, np.ones(4))
    with pytest.raises(ValueError, match="SpikeTrain"):
        src(src.init_state(), jnp.ones(5), t=0.0, dt=1.0)
    with pytest.raises(ValueError, match=r"SpikeTrain\(size=0\)"):
        I.SpikeTrain(0)
