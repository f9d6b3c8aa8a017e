"""The evidence-accumulation example (BPTT vs e-prop) at small size."""

import numpy as np
from test_examples import load


def test_evidence_accumulation(tmp_path):
    result = load("evidence_accumulation").main(small=True, out=str(tmp_path))
    assert (tmp_path / "evidence_accumulation.png").stat().st_size > 10_000
    # Both rules learn: the loss falls, and the test accuracy on 256 trials is well above
    # chance (labels are balanced: 0.5, standard deviation 0.03 at 256 trials; measured 0.82).
    for method in ("bptt", "eprop"):
        losses = result[f"{method}_losses"]
        assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:10]), method
        assert result[f"{method}_accuracy"] > 0.65, method
    assert result["chance"] < 0.6
