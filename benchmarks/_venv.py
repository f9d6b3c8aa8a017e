"""The benchmarks' virtual environments: created and filled from PyPI on first use."""

import pathlib
import subprocess
import sys


def venv_python(venv: pathlib.Path, requirements: list[str], base: str | None = None):
    """`venv`'s interpreter; the venv is made with `base` (default: this interpreter) and
    `requirements` pip-installed into it when it does not exist yet."""
    python = venv / "bin" / "python"
    if not python.exists():
        base = base or sys.executable
        print(f"creating {venv} ({base}) and installing {' '.join(requirements)} ...", flush=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    return python
