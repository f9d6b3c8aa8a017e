"""`import neurotree` (and `neurotree.kernels`) works the same from a source checkout, an editable
install and a wheel."""

import pathlib
import subprocess
import sys
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent(
    """
    import neurotree as nt, neurotree.kernels as k
    import jax.numpy as jnp
    assert k is nt.kernels and k.__name__ == "neurotree.kernels", k
    m = nt.neurons.LIF(2)
    _, spikes = nt.simulate(m, m.init_state(), jnp.array([0.0, 40.0]), dt=0.1, n_steps=300)
    print(nt.__file__, k.__file__, int(spikes.sum()))
    """
)


def _run(args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, timeout=900, **kw)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_public_api_is_reexported():
    import neurotree as nt

    for name in ["DynamicalSystem", "simulate", "neurons", "channels", "surrogate", "integrators",
                 "inputs", "kernels"]:  # fmt: skip
        assert hasattr(nt, name), name


def test_source_checkout_without_install(tmp_path):
    # Hide any installed copy (editable finders included) and import from the repository root.
    code = (
        "import sys\n"
        "sys.meta_path = [f for f in sys.meta_path if 'editable' not in type(f).__module__.lower()"
        " and 'editable' not in repr(f).lower()]\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n" + CHECK
    )
    out = _run([sys.executable, "-c", code], cwd=tmp_path)
    nt_file, k_file, n = out.split()
    assert nt_file == str(ROOT / "neurotree" / "__init__.py")
    assert k_file == str(ROOT / "kernels" / "__init__.py")
    assert int(n) > 0


@pytest.mark.slow
def test_wheel_ships_kernels_inside_the_package(tmp_path):
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
          str(tmp_path / "dist"), str(ROOT)])  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("neurotree-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "neurotree/kernels/__init__.py" in names
    assert not any(n.startswith(("kernels/", "tests/", "examples/")) for n in names)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
    out = _run([str(py), "-c", CHECK], cwd=tmp_path)
    nt_file, k_file, n = out.split()
    assert str(venv) in nt_file and k_file.endswith("neurotree/kernels/__init__.py")
    assert int(n) > 0
