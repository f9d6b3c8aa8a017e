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
