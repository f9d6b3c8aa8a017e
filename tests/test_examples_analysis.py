"""The analysis examples run at small size, save their figures, and reach their targets."""

import numpy as np
import pytest
from test_examples import load


def test_phase_plane(tmp_path):
    result = load("phase_plane").main(small=True, out=str(tmp_path))
    assert (tmp_path / "phase_plane.png").stat().st_size > 50_000
    # FitzHugh-Nagumo at I = 0.5: v^3 / 3 + (1 / b - 1) v + a / b - I = 0, an unstable focus
    # inside the limit cycle the trajectories reach.
    roots = np.roots([1 / 3, 0.0, 1 / 0.8 - 1, 0.7 / 0.8 - 0.5])
    (v,) = roots[np.abs(roots.imag) < 1e-9].real
    np.testing.assert_allclose(result["fhn_fixed_point"], [v, (v + 0.7) / 0.8], atol=1e-5)
    assert result["fhn_kind"] == "unstable focus"
    assert result["fhn_cycle_v"][0] < -1.8 and result["fhn_cycle_v"][1] > 1.8
    x, kinds = result["ww_stimulus"]
    assert kinds == ("stable node", "saddle", "stable node")
    assert x[1, 0] == pytest.approx(x[1, 1], abs=1e-5)  # the saddle is the symmetric state
    x, kinds = result["ww_no_stimulus"]
    assert kinds.count("stable node") == 3 and kinds.count("saddle") == 2
    assert result["nullcline_segments"] > 200


def test_bifurcation(tmp_path):
    result = load("bifurcation").main(small=True, out=str(tmp_path))
    assert (tmp_path / "bifurcation.png").stat().st_size > 50_000
    np.testing.assert_allclose(result["hopf"], result["hopf_expected"], rtol=1e-4)  # issue: 1%
    lo, hi = result["cycle_range"]
    assert result["hopf_expected"][0] < lo < result["hopf_expected"][0] + 0.05
    assert result["hopf_expected"][1] - 0.05 < hi < result["hopf_expected"][1]
    assert result["codim2_error"] < 1e-4 and len(result["codim2_hopf"]) >= 10
    assert result["codim2_saddle_nodes"] == 0
    np.testing.assert_allclose(result["knees"], result["knees_expected"], rtol=1e-5)
    np.testing.assert_allclose(result["knee_v"], [-4 / 3, 0.0], atol=1e-4)
    assert len(result["fast_hopf"]) == 1
    # The burst trajectory's z sweeps across the bistable range between the knees.
    assert result["z_range"][0] < result["knees_expected"][0] + 0.2 < result["z_range"][1]


def test_slow_points(tmp_path):
    result = load("slow_points").main(small=True, out=str(tmp_path))
    assert (tmp_path / "slow_points.png").stat().st_size > 20_000
    cann, rnn = result["cann"], result["rnn"]
    # CANN1D: every perturbed bump converges to a distinct free bump; together they cover the
    # ring (candidates jittered within cells of `spacing`, so neighbours are < 2 cells apart).
    assert cann["n_points"] == cann["n_candidates"]
    assert cann["max_gap"] < 2 * cann["spacing"] + 0.05
    assert cann["height_error"] < 0.01
    # One eigenvalue ~0 against lambda_1 = -1 / (2 tau), its eigenvector the translation mode.
    assert cann["zero_ratio"] < 1e-4 and abs(cann["lambda1"] + 0.5) < 0.01
    assert cann["cos_min"] > 0.99
    # Decision RNN: two stable attractors, one per choice, and a saddle between them whose
    # unstable direction leads to each; the attractors hold in noiseless runs.
    assert rnn["accuracy"] > rnn["ideal"] - 0.06  # the ideal observer of the noisy evidence
    assert rnn["n_stable"] == 2 and rnn["choices"] == [0, 1]
    assert rnn["n_saddles"] >= 1 and rnn["saddle_splits"]
    assert rnn["drift"] < 1e-3
