"""The README's code runs as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_first_simulation_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    scope: dict = {}
    exec(compile(blocks[0], str(README), "exec"), scope)
    rates, counts, grads = scope["rates"], scope["counts"], scope["grads"]
    # 100 LIF neurons, currents 0..60 (threshold 20 mV), 1 s: silent below rheobase, then rising.
    rates = np.asarray(rates)
    assert rates.shape == (100,) and np.all(rates[:33] == 0) and rates[-1] > 100
    assert np.all(np.diff(rates[40:]) >= 0)
    assert counts.shape == (3, 100)
    assert np.all(np.isfinite(np.asarray(grads.tau)))


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands == [
        'pip install -e ".[plot,progress]" && neurotree run coba',
        'pip install -e ".[test]" && python -m pytest -q -n 2',
    ]
    assert "python -m pytest -q -n 2\n" in (README.parent / ".ci" / "run").read_text()
