"""The Lorenz echo state network example (BrainPy eLife 2023 Fig. 4D-F) at small size."""

import numpy as np
from test_examples import load


def test_lorenz_esn(tmp_path):
    # Small mode: 10,000 training and 2,000 held-out samples, 300 BPTT steps. Loose bounds in
    # raw Lorenz units (measured: ridge MSE 3.6e-5, FORCE 6.2e-4, BPTT 2.7); the full run
    # reaches BrainPy's errors on all three.
    result = load("lorenz_esn").main(small=True, out=str(tmp_path))
    assert (tmp_path / "lorenz_esn.png").stat().st_size > 10_000
    r = result["results"]
    assert r["ridge"]["mse"] < 1e-3 and r["ridge"]["mae"] < result["brainpy"]["ridge"] * 10
    assert r["force"]["mse"] < 1e-2 and r["force"]["mae"] < result["brainpy"]["force"]
    assert r["bptt"]["mse"] < 10.0
    losses = result["bptt_losses"]
    assert np.all(np.isfinite(losses)) and losses[-20:].mean() < losses[0] / 20
