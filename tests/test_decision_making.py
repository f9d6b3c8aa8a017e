import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.zoo import DecisionMaking

W_MINUS = 1.0 - 0.15 * 0.7 / 0.85  # Wang (2002): 1 - f (w+ - 1) / (1 - f)


def run_trials(model, coherences, n_trials, duration, seed=0):
    """Spike counts per step of pools A, B, N and I: (levels, steps, trials, 4), one call."""
    pools = model.pools

    def monitor(state, outputs):
        e, i = outputs["E"], outputs["I"]
        return jnp.stack([e[..., pools[p]].sum(-1) for p in "ABN"] + [i.sum(-1)], -1)

    def level(c, key):  # the model is closed over: its delays must stay concrete
        m = eqx.tree_at(lambda m: m.coherence, model, c)
        k_init, k_run = jax.random.split(key)
        state = m.init_state((n_trials,), key=k_init)
        return nt.simulate(m, state, dt=m.dt, duration=duration, key=k_run, monitor=monitor)[1]

    keys = jax.random.split(jax.random.key(seed), len(coherences))
    return np.asarray(eqx.filter_jit(eqx.filter_vmap(level))(jnp.asarray(coherences), keys))


def rates(counts, model, t0, t1):
    """Mean rate (Hz) of each pool over [t0, t1) ms: (levels, trials, 4)."""
    sizes = [model.pools[p].stop - model.pools[p].start for p in "ABN"]
    sizes.append(model.populations["I"].size[0])
    i0, i1 = round(t0 / model.dt), round(t1 / model.dt)
    return counts[:, i0:i1].sum(1) / np.asarray(sizes) / ((t1 - t0) / 1000.0)


def test_pools_conductances_and_cells_follow_wang_2002():
    m = DecisionMaking()
    assert {p: s.stop - s.start for p, s in m.pools.items()} == {"A": 240, "B": 240, "N": 1120}
    assert m.populations["E"].size == (1600,) and m.populations["I"].size == (400,)
    assert m.w_minus == pytest.approx(W_MINUS)
    for name, tau, R, tau_ref in (("E", 20.0, 40.0, 2.0), ("I", 10.0, 50.0, 1.0)):
        lif = m.populations[name]  # tau = C / gL, R = 1 / gL
        np.testing.assert_allclose([lif.tau, lif.R, lif.tau_ref], [tau, R, tau_ref], rtol=1e-6)
        np.testing.assert_allclose([lif.v_rest, lif.v_th, lif.v_reset], [-70.0, -50.0, -55.0])
    # One background Poisson neuron (2400 Hz) per neuron: "ext" k drives E k, then I k - 1600.
    assert m.populations["ext"].size == (2000,)
    np.testing.assert_allclose(m.populations["ext"].rate, 2400.0)
    for proj, offset, n in (("AMPA_ext2E", 0, 1600), ("AMPA_ext2I", 1600, 400)):
        pre, post = m.projections[proj].comm.synapses()
        np.testing.assert_array_equal(pre, offset + np.arange(n))
        np.testing.assert_array_equal(post, np.arange(n))
    # Conductances in uS: structured E -> E (AMPA, NMDA), uniform otherwise.
    A, B, N = m.pools["A"], m.pools["B"], m.pools["N"]
    for proj, g in (("AMPA_E2E", 0.05e-3), ("NMDA_E2E", 0.165e-3)):
        W = np.asarray(m.projections[proj].comm.plastic_weight(), np.float64)
        assert W.shape == (1600, 1600)
        for pre, post, w in ((A, A, 1.7), (B, B, 1.7), (B, A, W_MINUS), (A, B, W_MINUS),
                             (N, A, W_MINUS), (N, B, W_MINUS), (A, N, 1.0), (B, N, 1.0),
                             (N, N, 1.0)):  # fmt: skip
            np.testing.assert_allclose(W[pre, post], g * w, rtol=1e-6)
        # f w+ + (1 - f) w- = 1: every E neuron receives the same total E weight.
        np.testing.assert_allclose(W.sum(0), 1600 * g, rtol=1e-5)
    uniform = {"AMPA_E2I": 0.04e-3, "NMDA_E2I": 0.13e-3, "GABA_I2E": 1.3e-3, "GABA_I2I": 1.0e-3,
               "AMPA_ext2E": 2.1e-3, "AMPA_ext2I": 1.62e-3}  # fmt: skip
    for proj, g in uniform.items():
        np.testing.assert_allclose(m.projections[proj].comm.weight, g, rtol=1e-6)
    assert isinstance(m.projections["NMDA_E2E"], nt.AlignPre)
    assert isinstance(m.projections["NMDA_E2E"].syn, nt.synapses.NMDA)
    assert float(m.projections["GABA_I2E"].out.E) == -70.0
    # The external and recurrent AMPA inputs onto E share one synaptic state.
    assert ("AMPA_E2E", "AMPA_ext2E") in m.groups
    # Both NMDA projections from E integrate one NMDA state per E neuron.
    assert ("NMDA_E2E", "NMDA_E2I") in m.groups
    assert isinstance(m.projections["NMDA_E2E"].comm, nt.comm.BlockAllToAll)


def test_scale_keeps_the_total_recurrent_input():
    m = DecisionMaking(0.5)
    assert {p: s.stop - s.start for p, s in m.pools.items()} == {"A": 120, "B": 120, "N": 560}
    assert m.populations["I"].size == (200,)
    W = np.asarray(m.projections["NMDA_E2E"].comm.plastic_weight(), np.float64)
    np.testing.assert_allclose(W.sum(0), 1600 * 0.165e-3, rtol=1e-5)
    np.testing.assert_allclose(m.projections["GABA_I2E"].comm.weight * 200, 400 * 1.3e-3)
    with pytest.raises(ValueError, match=r"DecisionMaking\(scale=0.001.*at least one neuron"):
        DecisionMaking(0.001)
    with pytest.raises(ValueError, match=r"DecisionMaking\(coherence=150.0\)"):
        DecisionMaking(coherence=150.0)


def test_stimulus_rates_follow_coherence_under_vmap():
    m = DecisionMaking(0.25, stim_on=100.0, stim_off=300.0)
    c = jnp.array([0.0, 25.6, 51.2])

    def rates_at(c, t):
        return eqx.tree_at(lambda m: m.coherence, m, c).stimulus_rates(t)

    over_c = jax.jit(jax.vmap(rates_at, in_axes=(0, None)))
    inside = over_c(c, 100.0)
    A, B, N = m.pools["A"], m.pools["B"], m.pools["N"]
    np.testing.assert_allclose(inside[:, A.start], 40.0 * (1 + c / 100), rtol=1e-6)
    np.testing.assert_allclose(inside[:, B.start], 40.0 * (1 - c / 100), rtol=1e-6)
    assert np.all(inside[:, N] == 0.0)
    for t in (99.9, 300.0):
        assert np.all(over_c(c, t) == 0.0)
    # A batch of models built by eqx.filter_vmap holds one coherence each.
    build = lambda c: DecisionMaking(0.25, coherence=c, stim_on=100.0, stim_off=300.0)  # noqa: E731
    models = eqx.filter_vmap(build)(c)
    np.testing.assert_array_equal(models.coherence, c)
    batched = eqx.filter_jit(eqx.filter_vmap(lambda m: m.stimulus_rates(150.0)))(models)
    np.testing.assert_allclose(batched, inside, rtol=1e-6)
    # Without a key the initial state is reproducible (from the seed); v lies in [V_L, V_th).
    v, v_again, v_key = jax.jit(
        lambda: [m.init_state(key=k).populations["E"].v for k in (None, None, jax.random.key(1))]
    )()
    np.testing.assert_array_equal(v, v_again)
    assert not np.array_equal(v, v_key)
    assert -70.0 <= float(v.min()) and float(v.max()) < -50.0 and float(v.std()) > 3.0


def test_winner_take_all_and_choice_follow_coherence_in_one_vmapped_call():
    # Reduced network (500 neurons), 8 trials per level, stimulus 100-1000 ms.
    model = DecisionMaking(0.25, stim_on=100.0, stim_off=1000.0)
    counts = run_trials(model, [0.0, 51.2], n_trials=8, duration=1000.0)
    assert counts.shape == (2, 10_000, 8, 4)
    late = rates(counts, model, 700.0, 1000.0)  # (levels, trials, pools)
    choose_a = late[..., 0] > late[..., 1]
    a, b = late[1, :, 0], late[1, :, 1]  # pools A and B at 51.2 %
    spont = rates(counts, model, 50.0, 100.0)
    assert np.all(spont[..., :3].mean(1) < 5.0)  # E pools before the stimulus: a few Hz
    # High coherence, winner-take-all: A wins (almost) every trial; where it has taken off
    # (most trials, within 900 ms of the onset) it fires at tens of Hz and B is suppressed to a
    # few Hz, as is the non-selective pool.
    up = a > 15.0
    assert choose_a[1].sum() >= 7 and up.sum() >= 5
    assert 20.0 < a[up].mean() < 45.0 and b[up].max() < 6.0 and late[1, up, 2].mean() < 6.0
    # Zero coherence: both choices occur; the choice probability rises with coherence.
    assert 1 <= choose_a[0].sum() <= 7
    assert choose_a[1].mean() - choose_a[0].mean() >= 0.25


@pytest.mark.slow
def test_psychometric_curve_of_the_full_network():
    coherences = [0.0, 6.4, 12.8, 25.6, 51.2]
    model = DecisionMaking(stim_on=200.0, stim_off=1200.0)
    counts = run_trials(model, coherences, n_trials=16, duration=1200.0, seed=1)
    late = rates(counts, model, 900.0, 1200.0)
    p_a = (late[..., 0] > late[..., 1]).mean(1)
    winner = np.maximum(late[..., 0], late[..., 1])
    loser = np.minimum(late[..., 0], late[..., 1])
    assert 0.2 <= p_a[0] <= 0.8
    assert p_a[3] >= 0.75 and p_a[4] >= 0.95
    assert np.polyfit(coherences, p_a, 1)[0] > 0.005  # rises by > 0.25 over 51.2 %
    # At high coherence the winner sits at ~30-40 Hz, the loser near silence.
    assert 25.0 < winner[4].mean() < 45.0 and loser[4].mean() < 5.0
