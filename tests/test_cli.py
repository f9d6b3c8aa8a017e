import subprocess
import sys

import numpy as np
import pytest

from neurotree._cli import MODELS, main


def test_list_names_every_model_with_one_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    assert all(len(line.split()) > 2 for line in lines)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "nope"], "unknown model 'nope'; choose one of coba"),
        (["run", "coba", "--dt", "-1"], "argument --dt: '-1' must be positive"),
        (["run", "coba", "--duration", "abc"], "'abc' is not a number"),
        (["run", "coba", "--bogus"], "unrecognized arguments: --bogus"),
        (["frob"], "invalid choice: 'frob'"),
        (["run", "coba", "--duration", "1.05", "--dt", "0.1"], "whole number of steps"),
    ],
)
def test_bad_model_or_flag_is_one_line_and_exit_code_2(argv, message):
    result = subprocess.run(
        [sys.executable, "-m", "neurotree", *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stdout == ""


def test_run_prints_rates_and_writes_raster_and_records(tmp_path, capsys):
    argv = ["run", "coba", "--scale", "0.05", "--duration", "50", "--seed", "3", "--out",
            str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "coba: 50 ms at dt 0.1 ms (500 steps), seed 3" in out
    assert "wall time" in out and "compile" in out
    for pop, n in (("E", 160), ("I", 40)):
        assert f"  {pop:12s} {n:8d} neurons" in out
    assert (tmp_path / "coba_raster.png").stat().st_size > 1000
    records = np.load(tmp_path / "coba_records.npz")
    assert float(records["dt"]) == 0.1
    steps, neurons = records["E.spike_steps"], records["E.spike_neurons"]
    assert steps.shape == neurons.shape and steps.size > 0
    assert steps.max() < 500 and neurons.max() < 160
    # The printed rate is the records' rate.
    rate = steps.size / 160 / 0.05
    assert f"{rate:8.2f} Hz" in out.splitlines()[1]
