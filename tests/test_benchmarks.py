"""The training-speed benchmark's neurotree model is the hand-written JAX loop's model."""

import json
import pathlib
import subprocess
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def run(script, *args):
    cmd = [sys.executable, str(BENCH / script), "--T", "6", "--batch", "4", "--steps", "2",
           "--warmup", "0", "--rate", "0.3", *args]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=BENCH)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("variant", ["", "hoisted"])
def test_train_speed_children_train_the_same_network(variant):
    nt, ref = run("_train_neurotree.py", "--variant", variant), run("_train_jax.py")
    # Same equations, weights and spikes: the same loss before and after the Adam steps.
    assert nt["loss_first"] == pytest.approx(ref["loss_first"], rel=1e-5)
    assert nt["loss_last"] == pytest.approx(ref["loss_last"], rel=1e-4)
    assert nt["loss_last"] != nt["loss_first"]
    assert nt["step_ms"] > 0 and nt["peak_rss_mb"] > 0


def test_shard_benchmark_small_run_checks_equal_spikes():
    # 8 simulated devices in its own process; every sharded run must give the unsharded spikes.
    out = subprocess.run(
        [sys.executable, str(BENCH / "shard.py"), "--small"],
        capture_output=True, text=True, timeout=600, cwd=BENCH,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [
        r for r in out.stdout.splitlines() if r.startswith("| 1,000 | ") and "unsharded" not in r
    ]
    sharded = [r for r in rows if r.split("|")[2].strip() in ("2", "4", "8") and "True" in r]
    assert len(sharded) == 3, out.stdout
    assert all(r.rstrip(" |").endswith("True") for r in sharded)
    # bytes received per device per step: (D - 1) / D of 1,000 float32 spikes per population
    received = [int(r.split("|")[6].strip().replace(",", "")) for r in sharded]
    assert received == [2000, 3000, 3500]
