"""Every example runs at small size and saves its figure; key numbers are checked."""

import importlib.util
import pathlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    scripts = {p.stem for p in EXAMPLES.glob("*.py")}
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert scripts <= tested, scripts - tested


def test_fi_curve(tmp_path):
    result = load("fi_curve").main(small=True, out=str(tmp_path))
    assert (tmp_path / "fi_curve.png").stat().st_size > 10_000
    assert result["max_rel_error"] < 0.01
    below = result["expected"] == 0
    assert np.all(result["rates"][below] == 0)


def test_hh_trace(tmp_path):
    result = load("hh_trace").main(small=True, out=str(tmp_path))
    assert (tmp_path / "hh_trace.png").stat().st_size > 10_000
    assert 2 <= len(result["spike_times"]) <= 4 and result["spike_times"][0] > 10.0
    assert result["cond_gap"] < 1e-2  # float32 rounding amplified by spikes; 0 in float64


def test_quickstart(tmp_path):
    result = load("quickstart").main(small=True, out=str(tmp_path))
    assert (tmp_path / "quickstart.png").stat().st_size > 10_000
    firing = result["lif_expected"] > 0
    np.testing.assert_allclose(result["lif_rates"][firing], result["lif_expected"][firing],
                               rtol=0.01)  # fmt: skip
    assert np.all(result["lif_rates"][~firing] == 0)
    assert len(result["hh_spikes"]) >= 3
    assert result["adex_isi"][-1] > 1.5 * result["adex_isi"][0]


@pytest.mark.parametrize("name", ["fi_curve", "hh_trace", "quickstart"])
def test_examples_have_a_command_line(name):
    source = (EXAMPLES / f"{name}.py").read_text()
    assert 'if __name__ == "__main__":' in source and "--small" in source
