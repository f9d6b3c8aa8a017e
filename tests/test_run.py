"""nt.run: records streamed to disk, checkpoints, resume after SIGKILL, progress, bad input."""

import json
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
import neurotree._records as records_module

TESTS = pathlib.Path(__file__).resolve().parent


class Clocked(nt.DynamicalSystem):
    """A noisy LIF population whose state also counts the steps it has taken."""

    lif: nt.neurons.LIF

    def init_state(self, batch_shape=(), *, key=None):
        return self.lif.init_state(batch_shape, key=key), jnp.zeros(batch_shape, jnp.int32)

    def __call__(self, state, inputs, *, t, dt, key=None):
        lif_state, count = state
        lif_state, spike = self.lif(lif_state, inputs, t=t, dt=dt, key=key)
        outputs = {"spike": spike, "v": lif_state.v, "step": count + 1, "t": jnp.asarray(t)}
        return (lif_state, count + 1), outputs


# The long run of the SIGKILL test: 4000 steps in 40 chunks of 100, a checkpoint every 400.
LONG = dict(dt=0.1, n_steps=4000, t0=5.0, every=2, chunk_size=100, checkpoint_every=400)


def long_run(path, **kwargs):
    model = Clocked(nt.neurons.LIF(30, tau=10.0, noise=2.0))
    drive = np.random.default_rng(0).uniform(10.0, 30.0, (LONG["n_steps"], 30)).astype("f4")
    args = dict(LONG, key=jax.random.key(7), path=path) | kwargs
    return nt.run(model, model.init_state(), drive, **args), (model, drive)


def checkpoint_steps(path) -> list[int]:
    folder = pathlib.Path(path) / "checkpoints"
    return sorted(int(p.name[:12]) for p in folder.glob("*.ckpt")) if folder.is_dir() else []


def steps_on_disk(path) -> int:
    manifest = pathlib.Path(path) / "manifest.json"
    if not manifest.is_file():
        return 0
    return sum(s["n_steps"] for s in json.loads(manifest.read_text())["shards"])


def assert_trees_equal(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def assert_complete_and_contiguous(path, n_steps):
    manifest = json.loads((pathlib.Path(path) / "manifest.json").read_text())
    starts = [s["first_step"] for s in manifest["shards"]]
    ends = [s["first_step"] + s["n_steps"] for s in manifest["shards"]]
    assert starts[0] == 0 and ends[-1] == n_steps and starts[1:] == ends[:-1]
    on_disk = sorted(p.name for p in (pathlib.Path(path) / "records").iterdir())
    assert on_disk == sorted(pathlib.Path(s["file"]).name for s in manifest["shards"])


CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import neurotree._records as records
    write_shard = records.write_shard

    def slow_write_shard(*args):
        # Slow the run down so that the parent can kill it mid-way.
        out = write_shard(*args)
        time.sleep(0.1)
        return out

    records.write_shard = slow_write_shard
    import test_run
    test_run.long_run(sys.argv[2])
    print("finished")
    """
)


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_records_bitwise(tmp_path):
    path = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(TESTS), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, proc.communicate()  # it must not end before the kill
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            done = checkpoint_steps(path)
            # Past the second checkpoint, with records on disk after it.
            if done and done[-1] >= 800 and steps_on_disk(path) > done[-1]:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    latest = checkpoint_steps(path)[-1]
    assert latest < LONG["n_steps"] and steps_on_disk(path) < LONG["n_steps"]
    assert len(checkpoint_steps(path)) <= 2  # the last good one and the one before it

    (state, folder, resumed_from), _ = long_run(path)
    assert resumed_from == latest
    (ref_state, ref_folder, ref_from), (model, drive) = long_run(tmp_path / "uninterrupted")
    assert ref_from == 0
    got, ref = nt.load_records(folder), nt.load_records(ref_folder)
    assert_trees_equal(got, ref)  # bitwise
    assert_trees_equal(state, ref_state)
    assert_complete_and_contiguous(folder, LONG["n_steps"])
    # No step lost or duplicated: the step counter after steps 2, 4, ..., 4000.
    np.testing.assert_array_equal(got["step"], np.arange(2, 4001, 2))
    np.testing.assert_allclose(got["t"], 5.0 + 0.1 * np.arange(1, 4000, 2), rtol=1e-6)
    # And the records are those of nt.simulate of the whole run, bitwise.
    sim_args = {k: LONG[k] for k in ("dt", "n_steps", "t0", "every")}
    _, sim = nt.simulate(model, model.init_state(), drive, key=jax.random.key(7), **sim_args)
    assert_trees_equal(got, sim)


class Crash(Exception):
    pass


def crash_after(monkeypatch, n_shards: int):
    """Make the next run stop as if killed before its shard number n_shards + 1."""
    written = []
    write_shard = records_module.write_shard

    def flaky(*args):
        if len(written) == n_shards:
            raise Crash
        written.append(args[1])
        return write_shard(*args)

    monkeypatch.setattr(records_module, "write_shard", flaky)


CUBA_RUN = dict(dt=0.1, n_steps=1000, chunk_size=100, checkpoint_every=200)


def cuba_run(path, **kwargs):
    model = nt.zoo.CUBA(0.05)
    return nt.run(model, model.init_state(), path=path, **(CUBA_RUN | kwargs)), model


def test_network_run_matches_simulate_and_stream_reader(tmp_path):
    (state, folder, _), model = cuba_run(tmp_path / "run")
    records = nt.load_records(folder)
    ref_state, ref = nt.simulate(model, model.init_state(), dt=0.1, n_steps=1000)
    assert set(records) == {"E", "I"} and records["E"].shape == (1000, 160)
    assert records["E"].sum() > 0
    assert_trees_equal(records, ref)
    assert_trees_equal(state, ref_state)
    # Shard by shard, the same records; a slice reads the shards it overlaps.
    parts = list(nt.iter_records(folder))
    assert [first for first, _ in parts] == list(range(0, 1000, 100))
    assert_trees_equal(jax.tree.map(lambda *x: np.concatenate(x), *[p for _, p in parts]), ref)
    assert_trees_equal(nt.load_records(folder, start=150, stop=420), jax.tree.map(
        lambda x: x[150:420], ref
    ))  # fmt: skip
    assert nt.load_records(folder, like=ref, stop=0)["I"].shape == (0, 40)
    # Two checkpoints are kept: the last and the one before it.
    assert checkpoint_steps(folder) == [800, 1000]
    # A completed run, called again, returns its final state without running.
    (again, _, resumed_from), _ = cuba_run(tmp_path / "run")
    assert resumed_from == 1000
    assert_trees_equal(again, ref_state)


def test_crash_then_resume_discards_the_records_after_the_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run"
    crash_after(monkeypatch, 7)
    with pytest.raises(Crash):
        cuba_run(path)
    monkeypatch.undo()
    assert checkpoint_steps(path) == [400, 600] and steps_on_disk(path) == 700
    # Debris of a killed write: a shard the manifest does not list, a temporary file.
    (path / "records" / "000000000900.npz").write_bytes(b"half a shard")
    (path / "records" / ".000000000800.npz.123.tmp").write_bytes(b"x")
    (state, folder, resumed_from), _ = cuba_run(path)
    assert resumed_from == 600
    (ref_state, ref_folder, _), _ = cuba_run(tmp_path / "ref")
    assert_trees_equal(nt.load_records(folder), nt.load_records(ref_folder))
    assert_trees_equal(state, ref_state)
    assert_complete_and_contiguous(folder, 1000)


def flip_a_byte(p: pathlib.Path):
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def truncate(p: pathlib.Path):
    p.write_bytes(p.read_bytes()[:-100])


@pytest.mark.parametrize("damage", [flip_a_byte, truncate])
def test_damaged_checkpoint_is_refused_and_the_one_before_used(tmp_path, monkeypatch, damage):
    path = tmp_path / "run"
    crash_after(monkeypatch, 7)
    with pytest.raises(Crash):
        cuba_run(path)
    monkeypatch.undo()
    damage(path / "checkpoints" / "000000000600.ckpt")
    with pytest.warns(UserWarning, match=r"refusing the checkpoint .*000000000600\.ckpt.*"
                      r"truncated or corrupted.*Falling back"):  # fmt: skip
        (state, folder, resumed_from), _ = cuba_run(path)
    assert resumed_from == 400
    (ref_state, ref_folder, _), _ = cuba_run(tmp_path / "ref")
    assert_trees_equal(nt.load_records(folder), nt.load_records(ref_folder))
    assert_trees_equal(state, ref_state)
    # The damaged file was replaced by a good one when the run passed step 600 again.
    assert checkpoint_steps(folder) == [800, 1000]


def test_no_intact_checkpoint_raises(tmp_path, monkeypatch):
    path = tmp_path / "run"
    crash_after(monkeypatch, 7)
    with pytest.raises(Crash):
        cuba_run(path)
    monkeypatch.undo()
    truncate(path / "checkpoints" / "000000000600.ckpt")
    flip_a_byte(path / "checkpoints" / "000000000400.ckpt")
    with pytest.warns(UserWarning, match="refusing"):
        with pytest.raises(ValueError, match="no intact checkpoint.*000000000600.*000000000400"):
            cuba_run(path)


def test_killed_before_the_first_checkpoint_restarts_from_step_zero(tmp_path, monkeypatch):
    path = tmp_path / "run"
    crash_after(monkeypatch, 1)
    with pytest.raises(Crash):
        cuba_run(path)
    monkeypatch.undo()
    assert checkpoint_steps(path) == [] and steps_on_disk(path) == 100
    (_, folder, resumed_from), model = cuba_run(path)
    assert resumed_from == 0
    _, ref = nt.simulate(model, model.init_state(), dt=0.1, n_steps=1000)
    assert_trees_equal(nt.load_records(folder), ref)


def test_damaged_shard_is_refused(tmp_path):
    (_, folder, _), _ = cuba_run(tmp_path / "run", n_steps=200)
    flip_a_byte(folder / "records" / "000000000100.npz")
    nt.load_records(folder, stop=100)  # the intact shard alone still reads
    with pytest.raises(ValueError, match="000000000100.npz.*SHA-256"):
        nt.load_records(folder)


def test_progress_off_builds_no_bar(tmp_path, monkeypatch):
    import neurotree._run as run_module

    def no_bar(*args):
        raise AssertionError("a progress bar was built")

    monkeypatch.setattr(run_module, "_time_bar", no_bar)
    m = nt.neurons.LIF(3)
    nt.run(m, m.init_state(), 20.0, dt=0.1, n_steps=100, path=tmp_path / "a")
    with pytest.raises(AssertionError, match="progress bar"):
        nt.run(m, m.init_state(), 20.0, dt=0.1, n_steps=100, path=tmp_path / "b", progress=True)


PROGRESS = textwrap.dedent(
    """
    import sys
    import neurotree as nt
    m = nt.neurons.LIF(3)
    nt.run(m, m.init_state(), 20.0, dt=0.1, n_steps=100, path=sys.argv[1] + "/a")
    print("tqdm" in sys.modules)
    nt.run(m, m.init_state(), 20.0, dt=0.1, n_steps=100, path=sys.argv[1] + "/b", chunk_size=20,
           progress=True)
    print("tqdm" in sys.modules)
    """
)


def test_progress_off_does_not_import_tqdm_and_on_shows_simulated_time(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROGRESS, str(tmp_path)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
    assert "10.0/10.0 ms" in out.stderr


MEMORY = textwrap.dedent(
    """
    import resource, sys
    import jax, neurotree as nt
    size, folder = int(sys.argv[1]), sys.argv[2]
    chunk = None if sys.argv[3] == "default" else int(sys.argv[3])
    m = nt.neurons.LIF(size, tau=10.0, v_th=20.0, v_reset=0.0, tau_ref=2.0, noise=1.0)
    drive = jax.numpy.linspace(15.0, 40.0, size)
    for n in map(int, sys.argv[4:]):
        path = f"{folder}/run{n}"
        nt.run(m, m.init_state(), drive, dt=0.1, n_steps=n, key=jax.random.key(0), path=path,
               chunk_size=chunk)
        # ru_maxrss: the peak so far, in KiB on Linux.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n_records = n_spikes = 0
        for _, r in nt.iter_records(path):
            n_records += r.shape[0]
            n_spikes += int(r.sum())
        print(n, peak, n_records, n_spikes)
    """
)


def peak_rss_kib(tmp_path, size, chunk, *n_steps) -> list[int]:
    """Peak RSS (KiB) of one process after runs of each of `n_steps`, one after the other."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY, str(size), str(tmp_path), str(chunk), *map(str, n_steps)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    peaks = []
    for line, n in zip(out.stdout.splitlines(), n_steps):
        n_done, peak, n_records, n_spikes = map(int, line.split())
        assert n_done == n_records == n and n_spikes > 0  # every step's record is on disk
        peaks.append(peak)
    return peaks


def test_records_stream_in_bounded_memory(tmp_path):
    # 100 neurons' spikes as float32: 400 B per step, so the long run's records are 80 MB
    # (nt.simulate would hold them all); nt.run holds one chunk (2000 steps, 0.8 MB) at a time.
    # The short run comes first and has compiled everything: the long one may only add noise.
    short, long = peak_rss_kib(tmp_path, 100, 2000, 20_000, 200_000)
    assert long - short < 20 * 1024, (short, long)


@pytest.mark.slow
def test_ten_million_steps_in_bounded_memory(tmp_path):
    # 10 neurons, default chunks (4 MiB of records per shard): 10^7 steps are 400 MB of records;
    # the 10^6-step run before it has compiled everything and filled the allocator.
    short, long = peak_rss_kib(tmp_path, 10, "default", 1_000_000, 10_000_000)
    assert long - short < 64 * 1024, (short, long)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(every=2, checkpoint_every=5), "checkpoint_every=5, every=2"),
        (dict(checkpoint_every=0), "checkpoint_every=0"),
        (dict(every=2, chunk_size=3), "chunk_size=3, every=2"),
        (dict(every=3), "multiple of every"),
        (dict(dt=0.0), "dt=0.0"),
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs, match):
    m = nt.neurons.LIF(3)
    with pytest.raises(ValueError, match=match):
        nt.run(
            m, m.init_state(), 20.0, path=tmp_path / "run", **(dict(dt=0.1, n_steps=100) | kwargs)
        )


def test_bad_paths_raise(tmp_path):
    m = nt.neurons.LIF(3)
    args = dict(dt=0.1, n_steps=100)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="the path is a file"):
        nt.run(m, m.init_state(), 20.0, path=tmp_path / "file", **args)
    with pytest.raises(ValueError, match="cannot create the folder"):
        nt.run(m, m.init_state(), 20.0, path=tmp_path / "file" / "run", **args)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "data.csv").write_text("1,2")
    with pytest.raises(ValueError, match="not empty and holds no run"):
        nt.run(m, m.init_state(), 20.0, path=tmp_path / "foreign", **args)
    with pytest.raises(ValueError, match="not a run folder"):
        nt.load_records(tmp_path / "foreign")
    with pytest.raises(ValueError, match="eagerly"):
        jax.jit(lambda c: nt.run(m, m.init_state(), c, path=tmp_path / "jit", **args))(20.0)


def test_resuming_a_different_run_raises(tmp_path):
    m = nt.neurons.LIF(3, noise=1.0)
    key = jax.random.key(0)
    args = dict(dt=0.1, n_steps=100, key=key, path=tmp_path / "run")
    nt.run(m, m.init_state(), 20.0, **args)
    other = nt.neurons.LIF(4, noise=1.0)
    with pytest.raises(ValueError, match=r"model differs in structure.*\(4,\).*\(3,\)"):
        nt.run(other, other.init_state(), 20.0, **args)
    with pytest.raises(
        ValueError, match=r"state differs in structure.*leaf state\.v is of shape \(4,\)"
    ):
        nt.run(m, other.init_state(), 20.0, **args)
    with pytest.raises(ValueError, match="model's parameters differ"):
        nt.run(eqx.tree_at(lambda x: x.tau, m, jnp.asarray(11.0)), m.init_state(), 20.0, **args)
    with pytest.raises(ValueError, match="initial state differ"):
        nt.run(m, eqx.tree_at(lambda s: s.v, m.init_state(), jnp.full(3, -1.0)), 20.0, **args)
    with pytest.raises(ValueError, match="key differ"):
        nt.run(m, m.init_state(), 20.0, **(args | dict(key=jax.random.key(1))))
    with pytest.raises(ValueError, match="inputs differ"):
        nt.run(m, m.init_state(), 21.0, **args)
    with pytest.raises(ValueError, match="dt=0.2 here.*dt=0.1"):
        nt.run(m, m.init_state(), 20.0, **(args | dict(dt=0.2)))
    with pytest.raises(ValueError, match="monitor records"):
        nt.run(m, m.init_state(), 20.0, monitor=lambda s, o: {"v": s.v}, **args)
    with pytest.raises(ValueError, match="resume=False"):
        nt.run(m, m.init_state(), 20.0, resume=False, **args)


def test_load_records_rejects_bad_ranges(tmp_path):
    m = nt.neurons.LIF(3)
    nt.run(m, m.init_state(), 20.0, dt=0.1, n_steps=100, every=10, path=tmp_path / "run")
    assert nt.load_records(tmp_path / "run").shape == (10, 3)
    with pytest.raises(ValueError, match="holds 10 records"):
        nt.load_records(tmp_path / "run", start=3, stop=11)
    with pytest.raises(ValueError, match="start=-1"):
        nt.load_records(tmp_path / "run", start=-1)
    with pytest.raises(ValueError, match="like"):
        nt.load_records(tmp_path / "run", like={"a": 0})
