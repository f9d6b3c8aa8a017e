"""The multi-area models: MultiArea (Joglekar et al. 2018) and VentralStream (BrainPy 2023)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.zoo import MultiArea, VentralStream

DT = 0.1


def first(x):
    """Index of the first step where `x` (steps first) is true, -1 if never."""
    x = np.asarray(x)
    return int(np.argmax(x)) if x.any() else -1


def steps(delay):
    return np.floor(np.asarray(delay) / DT + 0.5).astype(int)


# --- MultiArea ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_areas():
    return MultiArea(0.1, n_areas=3)


def test_multi_area_structure(three_areas):
    model = three_areas
    assert model.area_names == ("A0", "A1", "A2")
    area = model.populations["A1"]
    assert isinstance(area, nt.Network)
    assert area.populations["E"].size == (160,) and area.populations["I"].size == (40,)
    assert sorted(area.projections) == ["E2E", "E2I", "I2E", "I2I"]
    long_range = {n for n in model.projections}
    assert long_range == {f"A{j}->A{k}:{p}" for j in range(3) for k in range(3) if j != k
                          for p in "EI"}  # fmt: skip
    proj = model.projections["A0->A2:I"]
    assert (proj.pre, proj.post) == ("A0.E", "A2.I")
    # Synthetic connectome: FLN = 0.5 exp(-0.19 D) / S, D = 10 mm |k - j|.
    s = 2 * sum(np.exp(-1.9 * m) for m in range(1, 200))
    assert model.fln[1][0] == pytest.approx(0.5 * np.exp(-1.9) / s)
    assert model.fln[2][0] == pytest.approx(0.5 * np.exp(-3.8) / s)
    assert model.hierarchy == (0.0, 0.5, 1.0)
    # Per-synapse delays ~ N(D / v, (0.1 D / v)^2), truncated at 3 sd.
    delay = np.asarray(proj.delay)
    assert delay.mean() == pytest.approx(20 / 3.5, rel=0.01)
    assert delay.std() == pytest.approx(2 / 3.5, rel=0.05)
    assert np.abs(delay - 20 / 3.5).max() <= 3 * 2 / 3.5 + 1e-5
    assert model.delay_steps(DT)[2, 0] == 57  # round(20 / 3.5 / 0.1)

    state = model.init_state(dt=DT)
    v = state.populations["A2"].populations["E"].v
    assert v.shape == (160,) and bool(jnp.all((v >= -70) & (v <= -50)))
    again = model.init_state(dt=DT).populations["A2"].populations["E"].v
    other = model.init_state(key=jax.random.key(3), dt=DT).populations["A2"].populations["E"].v
    assert bool(jnp.all(v == again)) and not bool(jnp.all(v == other))
    assert model.init_state((2,), dt=DT).populations["A0"].populations["I"].v.shape == (2, 40)

    with pytest.raises(ValueError, match=r"MultiArea\(scale=0.05\): scale must be a number >= 0.1"):
        MultiArea(0.05)
    with pytest.raises(ValueError, match="gba must be 'weak' or 'strong'"):
        MultiArea(0.1, gba="medium")
    with pytest.raises(ValueError, match=r"fln of shape \(2, 2\).*\(3, 3\) matrix"):
        MultiArea(0.1, n_areas=3, fln=np.zeros((2, 2)))


def test_multi_area_delays_appear_exactly():
    """Deterministic: no noise, no background, every neuron at rest, a chain A0 -> A1 -> A2."""
    chain = 4.0 * np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    model = MultiArea(0.1, n_areas=3, sigma=0.0, background=(0.0, 0.0), fln=chain)
    assert "A0->A2:E" not in model.projections  # no direct path
    state = model.init_state(dt=DT)
    areas = {}
    for name, area in state.populations.items():
        pops = {p: dataclasses.replace(s, v=jnp.full_like(s.v, -70.0))
                for p, s in area.populations.items()}  # fmt: skip
        areas[name] = dataclasses.replace(area, populations=pops)
    state = dataclasses.replace(state, populations=areas)

    def monitor(s, o):
        def moved(a):
            pops = s.populations[a].populations
            return jnp.any(pops["E"].v != -70.0) | jnp.any(pops["I"].v != -70.0)

        names = model.area_names
        return jnp.stack([moved(a) for a in names]), jnp.stack(
            [jnp.any(o[a]["E"] > 0) for a in names]
        )

    _, (moved, spiked) = nt.simulate(model, state, {"A0.E": 100.0}, dt=DT, n_steps=400,
                                     monitor=monitor)  # fmt: skip
    response = [first(moved[:, k]) for k in range(3)]
    spike = [first(spiked[:, k]) for k in range(3)]
    assert response[0] == 0 and 0 < spike[0] < spike[1] < spike[2]
    # Area k first moves exactly when the earliest synapse from area k - 1 delivers the first
    # spike of k - 1: so its first response lags A0's first spike by the summed delays (in
    # steps) along the path plus the time each area in between takes to fire.
    for k in (1, 2):
        src, dst = model.area_names[k - 1], model.area_names[k]
        d = min(steps(model.projections[f"{src}->{dst}:{p}"].delay).min() for p in "EI")
        assert response[k] == spike[k - 1] + d
    hops = [min(steps(model.projections[f"A{j}->A{j + 1}:{p}"].delay).min() for p in "EI")
            for j in (0, 1)]  # fmt: skip
    assert response[2] - spike[0] == hops[0] + (spike[1] - response[1]) + hops[1]


@pytest.mark.slow
def test_multi_area_pulse_propagates_with_attenuation(three_areas):
    model = three_areas
    pulse = {"A0.E": nt.inputs.Section([0.0, 15.0], [50.0, 100.0])}

    def monitor(s, o):
        return jnp.stack([o[a]["E"].sum() for a in model.area_names])

    _, counts = nt.simulate(model, model.init_state(dt=DT), pulse, dt=DT, duration=150.0,
                            monitor=monitor, key=jax.random.key(0))  # fmt: skip
    counts = np.asarray(counts)
    rates = 1000 * counts / (160 * DT)  # Hz per step
    assert np.all(np.isfinite(rates))
    baseline, during = rates[:500].mean(0), rates[700:].mean(0)
    assert np.all(baseline < 10)
    assert during[0] > 40 and during[0] > during[1] > during[2] > baseline[2]


# --- VentralStream -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ventral():
    return VentralStream(0.05)


def test_ventral_stream_structure(ventral):
    model = ventral
    assert tuple(model.populations) == ("V1", "V2", "V4", "TEO", "TEpd")
    for area in model.populations.values():
        assert isinstance(area, nt.Network)
        assert area.populations["E"].size == (160,) and area.populations["I"].size == (40,)
    assert sorted(model.projections) == sorted(
        f"{a}->{b}:{p}" for a, b in [("V1", "V2"), ("V2", "V4"), ("V4", "TEO"), ("TEO", "TEpd")]
        for p in "EI"
    )  # fmt: skip
    proj = model.projections["V4->TEO:E"]
    assert (proj.pre, proj.post) == ("V4.E", "TEO.E") and float(proj.delay) == 3.0
    state = model.init_state(dt=DT)
    v = state.populations["TEO"].populations["E"].v
    assert v.shape == (160,) and bool(jnp.all(v == v[0]))
    # At rest: the ionic current with every gate at steady state vanishes.
    neuron = ventral.populations["TEO"].populations["E"]
    assert float(v[0]) == pytest.approx(-64.76, abs=0.01)
    assert abs(float(neuron._steady_current(v[:1])[0])) < 1e-4
    with_fb = VentralStream(0.02, fb=[0.5, 0.5, 0.0, 0.0], delay=[2.0, 3.0, 4.0, 5.0])
    assert {"V2->V1:E", "V4->V2:I"} <= set(with_fb.projections)
    assert "TEO->V4:E" not in with_fb.projections
    assert float(with_fb.projections["TEO->TEpd:I"].delay) == 5.0
    with pytest.raises(ValueError, match=r"delay must be a non-negative number or one per hop"):
        VentralStream(0.05, delay=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"VentralStream\(scale=0.01\)"):
        VentralStream(0.01)
    with pytest.raises(ValueError, match=r"VentralStream\(E_L=-60.0\): .* no resting state"):
        VentralStream(0.02, E_L=-60.0)


def flatten(net: nt.Network) -> nt.Network:
    """The same parts as one flat network: area populations become '<area>_<pop>'."""

    def rename(proj, pre, post):
        return type(proj)(pre, post, proj.comm, proj.syn, proj.out, proj.delay, proj.stp,
                          stdp=proj.stdp)  # fmt: skip

    pops, projs = {}, {}
    for area, sub in net.populations.items():
        for name, pop in sub.populations.items():
            pops[f"{area}_{name}"] = pop
        for name, proj in sub.projections.items():
            projs[f"{area}_{name}"] = rename(proj, f"{area}_{proj.pre}", f"{area}_{proj.post}")
    for name, proj in net.projections.items():
        projs[name] = rename(proj, proj.pre.replace(".", "_"), proj.post.replace(".", "_"))
    return nt.Network(pops, projs)


AREAS = ("V1", "V2", "V4", "TEO", "TEpd")
DRIVE = np.random.default_rng(0).uniform(1.0, 3.0, 160)  # uA/cm^2 into each V1 E neuron


def nested_spikes(s, o):
    return {a: (o[a]["E"], o[a]["I"]) for a in AREAS}


def flat_spikes(s, o):
    return {a: (o[f"{a}_E"], o[f"{a}_I"]) for a in AREAS}


def run_nested(model):
    return nt.simulate(model, model.init_state(dt=DT), {"V1.E": jnp.asarray(DRIVE)}, dt=DT,
                       n_steps=500, monitor=nested_spikes, key=jax.random.key(5))[1]  # fmt: skip


def test_ventral_stream_propagates_in_hierarchy_order(ventral):
    spikes = run_nested(ventral)
    # First-spike latency grows along V1 -> V2 -> V4 -> TEO -> TEpd, by at least the delay.
    latency = [first(np.asarray(spikes[a][0]).any(1)) for a in AREAS]
    assert latency[0] > 0 and np.all(np.diff(latency) >= 30), latency
    assert int(np.asarray(spikes["TEpd"][0]).sum()) > 100


@pytest.mark.slow
def test_ventral_stream_equals_the_flat_network(ventral):
    nested = run_nested(ventral)
    flat = flatten(ventral)
    assert len(flat.populations) == 10 and "V1->V2:E" in flat.projections
    _, flat_out = nt.simulate(flat, flat.init_state(dt=DT), {"V1_E": jnp.asarray(DRIVE)}, dt=DT,
                              n_steps=500, monitor=flat_spikes, key=jax.random.key(5))  # fmt: skip
    assert int(np.asarray(nested["TEpd"][0]).sum()) > 100
    for a in AREAS:
        for pop in (0, 1):
            np.testing.assert_array_equal(nested[a][pop], flat_out[a][pop])
