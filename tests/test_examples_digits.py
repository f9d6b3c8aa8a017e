"""The digits SNN example (nt.training): small mode runs, learns well above chance, saves."""

import numpy as np
import pytest
from test_examples import load


@pytest.mark.slow  # ~25 s of CPU, mostly compilation; CI runs it with --runslow
def test_digits_snn(tmp_path):
    result = load("digits_snn").main(small=True, out=str(tmp_path))
    assert (tmp_path / "digits_snn.png").stat().st_size > 10_000
    assert (tmp_path / "digits_snn.eqx").is_file()
    assert result["n_train"] + result["n_test"] == 1797 and result["n_test"] == 540
    history = result["history"]
    assert all(len(v) == result["epochs"] for v in history.values())
    # Chance is 10%; three epochs of BPTT reach well above it, and the loss falls.
    assert result["test_accuracy"] > 0.6
    assert history["loss"][-1] < history["loss"][0]
    assert np.all(history["rate_hz"] > 1.0)  # the hidden layer is spiking
    # The reloaded checkpoint gives the same network: the same test accuracy.
    assert result["reloaded_accuracy"] == result["test_accuracy"]
