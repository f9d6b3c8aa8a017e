"""The fitting and training examples at small size: figures saved, key numbers checked."""

import numpy as np
import pytest
from test_examples import load


@pytest.mark.slow  # 30-60 s; CI runs it with --runslow
def test_fit_neuron(tmp_path):
    result = load("fit_neuron").main(small=True, out=str(tmp_path))
    assert (tmp_path / "fit_neuron.png").stat().st_size > 10_000
    # Guesses 30-50% off; the loss must fall by `drop` to the noise floor (the MSE at the true
    # parameters: the 0.5 and 1 mV measurement noise, which no fit explains).
    cases = (("adex", [0.4, 0.3, 0.5, 0.4, 0.3], 20.0), ("hh", [0.3, 0.4, 0.5], 100.0))
    for name, off, drop in cases:
        r = result[name]
        np.testing.assert_allclose(np.abs(r["initial"] / r["true"] - 1), off, rtol=1e-3)
        losses, floor = r["loss_history"], r["loss_at_truth"]
        assert losses[-1] < losses[0] / drop
        assert 0.9 * floor < losses[-1] < 1.1 * floor
        assert np.all(np.abs(r["rel_error"]) < 0.15)  # 5% in the full run
    adex = result["adex"]
    assert len(adex["spike_times"]) >= 5 and len(adex["spike_times_init"]) == 0
    # Fitted with resets at the recorded spikes, then run freely: the same spikes.
    assert len(adex["spike_times_fit"]) == len(adex["spike_times"])
    assert np.max(np.abs(adex["spike_times_fit"] - adex["spike_times"])) < 1.0  # ms


@pytest.mark.slow  # 30-60 s; CI runs it with --runslow
def test_perceptual_decision(tmp_path):
    result = load("perceptual_decision").main(small=True, out=str(tmp_path))
    assert (tmp_path / "perceptual_decision.png").stat().st_size > 10_000
    acc, ideal, n = result["accuracy"], result["ideal"], result["n_test"]
    cohs = list(result["coherences"])
    se = np.sqrt(np.maximum(ideal * (1 - ideal), 0.01) / n)
    assert np.all(acc <= ideal + 3 * se)  # nothing beats the ideal observer of the inputs
    assert abs(acc[cohs.index(0.0)] - 0.5) < 3 * 0.5 / np.sqrt(n)  # 0%: a coin flip
    assert acc[cohs.index(51.2)] >= 0.9
    assert acc[cohs.index(51.2)] > acc[cohs.index(3.2)] + 0.2
    assert result["losses"][-20:].mean() < 0.3 * result["losses"][:5].mean()
