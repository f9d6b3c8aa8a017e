"""Every example runs at small size and saves its figure; key numbers are checked."""

import importlib.util
import pathlib
import sys

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    if str(EXAMPLES) not in sys.path:  # as `python examples/NAME.py` has it: examples import coba
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    # Each example has a `def test_<name>` in tests/test_examples*.py.
    scripts = {p.stem for p in EXAMPLES.glob("*.py")}
    here = pathlib.Path(__file__).resolve().parent
    source = "\n".join(p.read_text() for p in here.glob("test_*.py"))
    tested = {name for name in scripts if f"def test_{name}(" in source}
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


def test_coba(tmp_path):
    result = load("coba").main(small=True, out=str(tmp_path))
    assert (tmp_path / "coba.png").stat().st_size > 10_000
    assert 5.0 < result["rate_E"] < 60.0 and 5.0 < result["rate_I"] < 60.0


def test_cuba(tmp_path):
    result = load("cuba").main(small=True, out=str(tmp_path))
    assert (tmp_path / "cuba.png").stat().st_size > 10_000
    assert 1.0 < result["rate_E"] < 20.0 and 1.0 < result["rate_I"] < 20.0


@pytest.mark.slow  # 20-40 s; CI runs it with --runslow
def test_cobahh(tmp_path):
    result = load("cobahh").main(small=True, out=str(tmp_path))
    assert (tmp_path / "cobahh.png").stat().st_size > 10_000
    assert 5.0 < result["rate_E"] < 100.0 and 5.0 < result["rate_I"] < 100.0


@pytest.mark.slow  # 20-40 s; CI runs it with --runslow
def test_decision_making(tmp_path):
    result = load("decision_making").main(small=True, out=str(tmp_path))
    assert (tmp_path / "decision_making.png").stat().st_size > 10_000
    late = result["late_rates"]  # (levels, trials, pools A/B) over the end of the stimulus
    assert result["coherences"][-1] == 51.2 and result["p_a"][-1] >= 0.75
    assert late[-1, :, 0].mean() > 3.0 * late[-1, :, 1].mean()  # A wins and suppresses B


def test_cann1d(tmp_path):
    result = load("cann1d").main(small=True, out=str(tmp_path))
    assert (tmp_path / "cann1d.png").stat().st_size > 10_000
    assert result["lag"] == pytest.approx(result["lag_theory"], rel=1e-2)  # v tau U / A
    assert result["height"] == pytest.approx(result["u0"], rel=1e-3)  # the free bump persists
    assert abs(result["drift"]) < 1e-3


@pytest.mark.slow  # 20-40 s; CI runs it with --runslow
def test_multi_area(tmp_path):
    result = load("multi_area").main(small=True, out=str(tmp_path))
    assert (tmp_path / "multi_area.png").stat().st_size > 10_000
    weak, strong = result["weak"], result["strong"]
    for r in (weak, strong):
        assert np.all(np.isfinite(r["rates"])) and np.all(r["baseline"] < 10)
        assert np.all(np.diff(r["onset"]) > 0)  # the response climbs the hierarchy in order
    assert np.all(np.diff(weak["during"]) < 0)  # weak GBA: attenuates from area to area
    assert strong["during"][-1] > 1.5 * weak["during"][-1]  # strong GBA: reaches further


@pytest.mark.slow  # 20-40 s; CI runs it with --runslow
def test_ventral_stream(tmp_path):
    result = load("ventral_stream").main(small=True, out=str(tmp_path))
    assert (tmp_path / "ventral_stream.png").stat().st_size > 10_000
    latency = [result["latency"][a] for a in result["areas"]]
    assert np.all(np.diff(latency) >= 3.0)  # at least the 3 ms delay per hop
