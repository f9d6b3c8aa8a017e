"""`nt.sweep` against the one-at-a-time loop, the analytic LIF f-I curve and 8 simulated devices.

What "equal to the loop" means here, measured on XLA:CPU (float32):
- Spike counts: exactly equal to the eager loop `fn(p_i)` in every test (LIF f-I grid, noisy
  LIF, COBA spike counts of every step), on one device and on eight.
- Against `jax.jit(fn)(p_i)` member by member: bitwise, whatever the chunking, padding and
  number of devices, when the arithmetic does not depend on the batch shape (a sweep over
  input currents, with or without noise).
- Membrane potentials against the eager loop: to a few float32 ulps (atol 1e-5 mV at 20 mV,
  1e-4 mV at 60 mV). XLA, not the sweep, causes the last-bit differences: a model built
  inside a traced `fn` has its constants folded at compile time, which rounds
  `exp(-dt / tau)` differently from the same exp evaluated at run time; XLA:CPU rounds the exp
  of a short vector differently from that of a long one (vector body against scalar
  remainder), so sweeping `tau` itself changes last bits with the batch length; and a
  batch of one member per device compiles COBA's update differently from the unbatched step
  (measured: bitwise with 5 members on one device, up to 7.6e-6 mV with one per device).
"""

import json
import os
import pathlib
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_examples import load

import neurotree as nt
from neurotree import _sweep

ROOT = pathlib.Path(__file__).resolve().parent.parent
DT = 0.01
V_TH, TAU_REF = 20.0, 2.0


def analytic_rate(current, tau):
    """LIF (v_rest = v_reset = 0, R = 1) firing rate in Hz under a constant current."""
    drive = np.asarray(current, np.float64)
    rate = np.zeros(np.broadcast_shapes(drive.shape, np.shape(tau)))
    drive, tau = np.broadcast_arrays(drive, tau)
    above = drive > V_TH
    rate[above] = 1000.0 / (TAU_REF + tau[above] * np.log(drive[above] / (drive[above] - V_TH)))
    return rate


def fi_member(p):
    """One LIF neuron driven by p["I"] for 500 ms; spike count and rate from the mean ISI."""
    model = nt.neurons.LIF(1, tau=p["tau"], v_rest=0.0, v_reset=0.0, v_th=V_TH, tau_ref=TAU_REF)
    state, spikes = nt.simulate(model, model.init_state(), p["I"], dt=DT, duration=500.0)
    s = spikes[:, 0]
    steps = jnp.arange(s.shape[0])
    first = jnp.min(jnp.where(s > 0, steps, s.shape[0]))
    last = jnp.max(jnp.where(s > 0, steps, -1))
    n = s.sum()
    rate = jnp.where(n >= 2, 1000.0 * (n - 1) / jnp.maximum(last - first, 1) / DT, 0.0)
    return {"count": n, "first": first, "last": last, "rate": rate, "v": state.v[0]}


def noisy_member(current, key):
    """Four noisy LIF neurons under one current: spikes per neuron and the final potential."""
    model = nt.neurons.LIF(4, tau=10.0, v_rest=0.0, v_reset=0.0, v_th=V_TH, noise=2.0)
    state, spikes = nt.simulate(model, model.init_state(), current, dt=0.1, n_steps=1000, key=key)
    return {"count": spikes.sum(0), "v": state.v}


def member(params, i):
    return jax.tree.map(lambda x: x[i], params)


def loop(fn, params, n, key=None, *, jit=False):
    """The reference: fn on one member at a time, stacked."""
    f = eqx.filter_jit(fn) if jit else fn
    outs = [
        f(member(params, i)) if key is None else f(member(params, i), jax.random.fold_in(key, i))
        for i in range(n)
    ]
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *outs)


def test_lif_fi_sweep_equals_loop_and_analytic_curve():
    tau, current = np.meshgrid([5.0, 10.0, 20.0], np.arange(0.0, 81.0, 10.0), indexing="ij")
    params = {"tau": tau.ravel(), "I": current.ravel()}  # 27 members
    out = nt.sweep(fi_member, params)
    ref = loop(fi_member, params, 27)
    assert out["count"].shape == (27,) and isinstance(out["count"], np.ndarray)
    for name in ("count", "first", "last"):
        np.testing.assert_array_equal(out[name], ref[name])
    np.testing.assert_allclose(out["rate"], ref["rate"], rtol=1e-6)
    np.testing.assert_allclose(out["v"], ref["v"], rtol=0, atol=1e-5)  # a few ulps, see top

    expected = analytic_rate(params["I"], params["tau"])
    firing = expected > 0
    assert firing.sum() == 18 and np.all(out["count"][~firing] == 0)
    rel = np.abs(out["rate"][firing] - expected[firing]) / expected[firing]
    assert rel.max() < 0.01, rel.max()  # dt = 0.01 ms; as examples/fi_curve.py


def test_chunks_and_padding_are_bitwise_and_lose_no_member():
    # Seven distinct members in chunks of 3: the last chunk has two padding members. Sweeping
    # the current only, every chunking equals the jitted loop bit for bit.
    currents = np.linspace(22.0, 60.0, 7)
    fn = eqx.Partial(lambda tau, current: fi_member({"tau": tau, "I": current}), 10.0)
    ref = loop(fn, currents, 7, jit=True)
    for chunk_size in (None, 1, 3, 4, 7, 100):
        out = nt.sweep(fn, currents, chunk_size=chunk_size, devices=jax.devices()[:1])
        for name in ref:
            np.testing.assert_array_equal(out[name], ref[name], err_msg=f"{chunk_size=} {name}")
    assert len(np.unique(ref["count"])) == 7  # a shifted or duplicated member would show
    plan = _sweep._Plan(fn, currents, None, 3, None, False)
    assert plan.chunk == 3 and plan.n == 7


def test_stochastic_sweep_keys_per_member():
    currents = np.array([18.0, 18.0, 25.0, 30.0, 30.0, 40.0, 55.0])
    key = jax.random.key(42)
    out = nt.sweep(noisy_member, currents, key=key)
    jitted = loop(noisy_member, currents, 7, key, jit=True)
    eager = loop(noisy_member, currents, 7, key)
    for name in ("count", "v"):
        np.testing.assert_array_equal(out[name], jitted[name])
    np.testing.assert_array_equal(out["count"], eager["count"])
    np.testing.assert_allclose(out["v"], eager["v"], rtol=0, atol=1e-5)
    # Member i gets fold_in(key, i) whatever the chunking: chunks of 2 (one padding member).
    chunked = nt.sweep(noisy_member, currents, key=key, chunk_size=2)
    np.testing.assert_array_equal(chunked["v"], out["v"])
    # Equal parameters, different keys: different noise.
    assert not np.array_equal(out["v"][0], out["v"][1])
    assert not np.array_equal(out["v"][3], out["v"][4])
    other = nt.sweep(noisy_member, currents, key=jax.random.key(43))
    assert not np.array_equal(other["v"], out["v"])
    # Adding members leaves the earlier ones unchanged.
    longer = nt.sweep(noisy_member, np.append(currents, 70.0), key=key)
    np.testing.assert_array_equal(longer["v"][:7], out["v"])


def coba_member(model, state, w):
    """COBA with excitatory weight w (E2E and E2I): E and I spike counts per step, final v."""
    model = eqx.tree_at(
        lambda m: (m.projections["E2E"].comm.weight, m.projections["E2I"].comm.weight),
        model,
        (w, w),
    )

    def monitor(s, out):
        return out["E"].sum(), out["I"].sum()

    final, (count_e, count_i) = nt.simulate(model, state, dt=0.1, duration=200.0, monitor=monitor)
    return {"E": count_e, "I": count_i, "v": final.populations["E"].v}


def test_coba_weight_sweep_equals_loop():
    model = nt.zoo.COBA(0.1)  # 400 neurons
    # The connectivity and the initial state travel as shared (replicated) arrays of fn.
    fn = eqx.Partial(coba_member, model, model.init_state())
    weights = np.array([0.3, 0.6, 0.9, 1.2, 0.45], np.float32)
    out = nt.sweep(fn, weights, chunk_size=2)
    ref = loop(fn, weights, 5)
    for name in ("E", "I"):  # spike counts of every step, exactly
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    # Measured bitwise here; with one member per device a few ulps (see the 8-device test).
    np.testing.assert_allclose(out["v"], ref["v"], rtol=0, atol=1e-4)
    assert out["E"].shape == (5, 2000)
    totals = out["E"].sum(1)
    assert totals[0] < totals[1] < totals[2] and len(np.unique(totals)) == 5


def test_params_may_be_a_batched_model():
    taus = np.array([5.0, 10.0, 20.0])
    models = eqx.filter_vmap(lambda tau: nt.neurons.LIF(1, tau=tau, v_reset=0.0))(taus)

    def run(model):
        _, spikes = nt.simulate(model, model.init_state(), 30.0, dt=0.1, duration=200.0)
        return spikes.sum()

    out = nt.sweep(run, models)
    ref = [run(nt.neurons.LIF(1, tau=t, v_reset=0.0)) for t in taus]
    np.testing.assert_array_equal(out, np.stack(ref))
    assert out[0] > out[1] > out[2] > 0


def test_default_chunks_follow_the_memory_budget(monkeypatch):
    currents = np.linspace(22.0, 60.0, 7)
    fn = eqx.Partial(lambda tau, current: fi_member({"tau": tau, "I": current}), 10.0)
    whole = _sweep._Plan(fn, currents, None, None, None, False)
    assert whole.chunk == 7
    used = _sweep._device_bytes(whole.compiled)
    assert used > 7 * 50_000 * 4  # the 50,000-step records of every member are counted
    monkeypatch.setattr(_sweep, "_DEVICE_BYTES", used // 3)
    plan = _sweep._Plan(fn, currents, None, None, None, False)
    assert plan.chunk <= 3
    assert _sweep._device_bytes(plan.compiled) <= used // 3
    ref = nt.sweep(fn, currents, chunk_size=7)
    out = nt.sweep(fn, currents)
    np.testing.assert_array_equal(out["count"], ref["count"])
    np.testing.assert_array_equal(out["v"], ref["v"])


def test_progress_bar(capsys, monkeypatch):
    currents = np.linspace(22.0, 60.0, 7)
    fn = eqx.Partial(lambda tau, current: fi_member({"tau": tau, "I": current}), 10.0)
    out = nt.sweep(fn, currents, progress=True)
    err = capsys.readouterr().err
    assert "sweep" in err and "7/7" in err and "member" in err
    np.testing.assert_array_equal(out["count"], nt.sweep(fn, currents)["count"])
    # Off, tqdm is not even imported.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    nt.sweep(fn, currents[:2])
    with pytest.raises(ImportError, match=r"neurotree\[progress\]"):
        nt.sweep(fn, currents[:2], progress=True)


def test_bad_input():
    def run(p):
        return p["a"] * 2.0

    ok = {"a": np.ones(3)}
    with pytest.raises(ValueError, match=r"leading axis.*\['a'\]: \(3,\).*\['b'\]: \(4,\)"):
        nt.sweep(run, {"a": np.ones(3), "b": np.ones(4)})
    with pytest.raises(ValueError, match=r"leading axis.*\(\)"):
        nt.sweep(run, {"a": np.ones(3), "b": np.float32(1.0)})
    with pytest.raises(ValueError, match=r"length >= 1"):
        nt.sweep(run, {"a": np.ones(0)})
    with pytest.raises(ValueError, match=r"no array leaves.*np.asarray"):
        nt.sweep(run, {"a": [1.0, 2.0]})
    for bad in (0, -2, True):
        with pytest.raises(ValueError, match=rf"chunk_size={bad!r}\): chunk_size must be"):
            nt.sweep(run, ok, chunk_size=bad)
    with pytest.raises(ValueError, match=r"devices must be a non-empty sequence"):
        nt.sweep(run, ok, devices=[])
    with pytest.raises(ValueError, match=r"return a PyTree of arrays.*str"):
        nt.sweep(lambda p: "rate", ok)
    with pytest.raises(ValueError, match=r"PRNG keys.*key_data"):
        nt.sweep(lambda p, k: k, ok, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"sweep runs eagerly"):
        jax.jit(lambda a: nt.sweep(run, {"a": a})["a"])(jnp.ones(3))
    with pytest.raises(ValueError, match=r"progress=True\) needs an eager call"):
        lif = nt.neurons.LIF(1)
        nt.sweep(
            lambda c: nt.simulate(lif, lif.init_state(), c, dt=0.1, n_steps=2, progress=True)[1],
            np.ones(2),
        )


_EIGHT_DEVICES = """
import json, sys
import jax, numpy as np, equinox as eqx
sys.path.insert(0, sys.argv[1])
import test_sweep as t
import neurotree as nt
from neurotree import _sweep

report = {"devices": len(jax.devices())}
currents = np.array([18.0, 18.0, 25.0, 30.0, 30.0, 40.0, 55.0, 21.0, 23.0, 27.0, 33.0, 45.0, 60.0])
key = jax.random.key(42)
plan = _sweep._Plan(t.noisy_member, currents, key, None, None, False)
on_device = plan.run_chunk(0)["v"]
report["chunk"] = plan.chunk
report["result_devices"] = len(on_device.sharding.device_set)
report["spec"] = list(on_device.sharding.spec)
report["shard_shapes"] = sorted({s.data.shape for s in on_device.addressable_shards})
report["shard_devices"] = len({s.device for s in on_device.addressable_shards})
out = nt.sweep(t.noisy_member, currents, key=key)
ref = t.loop(t.noisy_member, currents, len(currents), key, jit=True)
report["noisy_bitwise"] = all(np.array_equal(out[k], ref[k]) for k in ref)
report["noisy_shape"] = list(out["v"].shape)

model = nt.zoo.COBA(0.1)
fn = eqx.Partial(t.coba_member, model, model.init_state())
weights = np.array([0.3, 0.6, 0.9, 1.2, 0.45], np.float32)
out = nt.sweep(fn, weights)
ref = t.loop(fn, weights, 5)
report["coba_spikes_equal"] = all(np.array_equal(out[k], ref[k]) for k in ("E", "I"))
report["coba_v_max_diff"] = float(np.abs(out["v"] - ref["v"]).max())
report["coba_totals"] = out["E"].sum(1).tolist()
print("REPORT " + json.dumps(report))
"""


def test_eight_simulated_devices(tmp_path):
    script = tmp_path / "eight_devices.py"
    script.write_text(_EIGHT_DEVICES)
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ROOT / "tests")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    line = next(x for x in stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line[len("REPORT ") :])

    assert report["devices"] == 8
    # 13 members over 8 devices: one chunk of 16, two members per device, 3 padding dropped.
    assert report["chunk"] == 16 and report["noisy_shape"] == [13, 4]
    assert report["result_devices"] == 8 and report["shard_devices"] == 8
    assert report["spec"] == ["sweep"] and report["shard_shapes"] == [[2, 4]]
    assert report["noisy_bitwise"] and report["coba_spikes_equal"]
    # One member per device makes XLA round v differently from the unbatched loop, by a few
    # ulps (measured 7.6e-6 mV at 60 mV); the spikes are identical.
    assert report["coba_v_max_diff"] < 1e-4
    assert len(set(report["coba_totals"])) == 5


def test_sweep(tmp_path):
    result = load("sweep").main(small=True, out=str(tmp_path))
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    assert result["n_members"] == len(result["taus"]) * len(result["currents"])
    assert result["max_rel_error"] < 0.01
    below = result["expected"] == 0
    assert below.any() and np.all(result["rates"][below] == 0)
    assert result["counts_equal_loop"]
