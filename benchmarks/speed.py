"""Speed and memory of the COBA and COBAHH networks: Brian2, BrainPy and neurotree in one run.

    python benchmarks/speed.py [--sizes 4000 40000 400000] [--models COBA COBAHH]
                               [--duration 1000] [--repeats 3] [--nt-comm csr|jit]
                               [--backend auto|xla] [--nt-solver reference|default] [--huge]
                               [--json out.json]

The benchmark networks of Brette et al. (2007) with nt.zoo's parameters (`nt.zoo.COBA`,
`nt.zoo.COBAHH`: 80% E, p = 80 / N, dt = 0.1 ms), simulated for `--duration` ms at each N of
`--sizes` by

- Brian2 C++ standalone and Brian2 runtime (Cython), through `_speed_brian2.py` in the virtual
  environment benchmarks/.venv-brian2 (the equations of `_brian2_models.py`);
- BrainPy (brainpy.math on CPU, its COBA/COBAHH example models, event-driven CSR or JIT
  connectivity), through `_speed_brainpy.py` in benchmarks/.venv-brainpy;
- neurotree (`nt.simulate` of `nt.zoo.COBA(scale)` / `COBAHH(scale)` inside `eqx.filter_jit`),
  through `_speed_neurotree.py` with this interpreter; `--huge` adds neurotree's COBA with
  `comm="jit"` at N = 4,000,000.

The virtual environments are created and filled from PyPI on first use. Every (simulator, model,
N) runs in a process of its own, so its peak RSS is its own. Prints one markdown table: setup
(network and connectivity), compile (code generation and compilation), run (median of
`--repeats` runs of the simulation alone), E and I rates, peak RSS, and run time relative to
neurotree's at the same model and N.
"""

import argparse
import glob
import importlib.metadata
import json
import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

from _venv import venv_python
from rates_vs_brian2 import brian2_python

HERE = pathlib.Path(__file__).resolve().parent
BRAINPY_VENV = HERE / ".venv-brainpy"
BRAINPY_REQUIREMENTS = ["brainpy[cpu]"]  # brainevent's CPU kernels come with the extra
MODELS = ("COBA", "COBAHH")
SIMULATORS = ("neurotree", "brainpy", "brian2-standalone", "brian2-cython")
HUGE_N = 4_000_000


def brainpy_base_python() -> str:
    """An interpreter >= 3.12 for the BrainPy venv (BrainPy 2.9 needs it), else this one."""
    candidates = [sys.executable, shutil.which("python3.12"), shutil.which("python3.13")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python")))
    check = "import sys; sys.exit(sys.version_info < (3, 12))"
    for python in filter(None, candidates):
        if subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
            return python
    print("no Python >= 3.12 found: pip will install an older BrainPy", flush=True)
    return sys.executable


def brainpy_python() -> pathlib.Path:
    """The BrainPy venv's interpreter; the venv is created and BrainPy installed when missing."""
    if (BRAINPY_VENV / "bin" / "python").exists():
        return BRAINPY_VENV / "bin" / "python"
    return venv_python(BRAINPY_VENV, BRAINPY_REQUIREMENTS, base=brainpy_base_python())


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.machine()


def version(package) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def command(simulator, model, n, args, comm) -> tuple[list[str], dict]:
    """The helper's command line and environment for one run."""
    common = ["--model", model, "--n", str(n), "--duration", str(args.duration),
              "--repeats", str(args.repeats)]  # fmt: skip
    env = dict(os.environ)
    if simulator == "neurotree":
        if args.backend == "xla":
            env["NEUROTREE_NATIVE"] = "0"
        comm = comm or args.nt_comm
        solver = (
            "exponential_euler"
            if model == "COBAHH" and args.nt_solver == "reference"
            else "default"
        )
        cmd = [sys.executable, str(HERE / "_speed_neurotree.py"), *common, "--comm", comm]
        return cmd + ["--solver", solver], env
    if simulator == "brainpy":
        env["JAX_PLATFORMS"] = "cpu"
        script = str(HERE / "_speed_brainpy.py")
        comm = args.brainpy_comm or args.nt_comm
        return [str(brainpy_python()), script, *common, "--comm", comm], env
    mode = simulator.removeprefix("brian2-")
    return [str(brian2_python()), str(HERE / "_speed_brian2.py"), *common, "--mode", mode], env


def execute(cmd, env, timeout) -> tuple[int | None, str, str]:
    """(return code, stdout, stderr) of `cmd`; code None when it ran out of time. The command
    runs in a session of its own, so that a time-out ends its children too (Brian2's compiler
    and binary): SIGTERM first (the helpers then clean up), SIGKILL 10 s later."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        return None, stdout, stderr
    return proc.returncode, stdout, stderr


def run_one(simulator, model, n, args, comm=None) -> dict:
    """Runs one helper in its own process; its JSON result, or an `error` entry."""
    failed = {"simulator": simulator, "model": model, "N": n}
    try:
        cmd, env = command(simulator, model, n, args, comm)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"{simulator}: could not set up its environment: {e}", flush=True)
        return failed | {"error": "no environment"}
    print(f"{simulator} {model} N={n} ...", end=" ", flush=True)
    t0 = time.perf_counter()
    code, stdout, stderr = execute(cmd, env, args.timeout)
    if code is None:
        print(f"timed out after {args.timeout:g} s", flush=True)
        return failed | {"error": "timed out"}
    if code != 0:
        print(f"failed:\n{stderr[-3000:]}", flush=True)
        return failed | {"error": "failed"}
    out = json.loads(stdout.strip().splitlines()[-1])
    out.setdefault("simulator", simulator)
    out["key"], out["run"] = simulator, statistics.median(out["runs"])
    print(f"run {out['run']:.3f} s, E {out['rate_E']:.1f} Hz, I {out['rate_I']:.1f} Hz "
          f"({time.perf_counter() - t0:.0f} s in all)", flush=True)  # fmt: skip
    return out


def table(results) -> str:
    head = ("| model | N | simulator | setup (s) | compile (s) | run (s) | E (Hz) | I (Hz) | "
            "peak RSS (MB) | run / neurotree |")  # fmt: skip
    lines = [head, "|" + " --- |" * 10]
    base = {(r["model"], r["N"]): r["run"] for r in results if r.get("key") == "neurotree"}
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['N']:,} | {r['simulator']} | {r['error']} |"
                         + " |" * 6)  # fmt: skip
            continue
        ref = base.get((r["model"], r["N"]))
        ratio = f"{r['run'] / ref:.2f}" if ref else "-"
        lines.append(
            f"| {r['model']} | {r['N']:,} | {r['simulator']} ({r['variant']}) | {r['setup']:.2f} | "
            f"{r['compile']:.2f} | {r['run']:.3f} | {r['rate_E']:.2f} | {r['rate_I']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {ratio} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000], help="numbers of neurons")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--simulators", nargs="+", default=list(SIMULATORS), choices=SIMULATORS)
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated time, ms")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the median counts)")
    text = "neurotree's connectivity: stored synapses (csr) or just-in-time (jit)"
    parser.add_argument("--nt-comm", choices=["csr", "jit"], default="csr", help=text)
    text = "BrainPy's connectivity (default: as --nt-comm)"
    parser.add_argument("--brainpy-comm", choices=["csr", "jit"], default=None, help=text)
    text = "neurotree's kernels: auto (neurotree's choice) or xla (sets NEUROTREE_NATIVE=0)"
    parser.add_argument("--backend", choices=["auto", "xla"], default="auto", help=text)
    text = (
        "neurotree's COBAHH solver: the references' method (reference: exponential Euler, "
        "as Brian2's script and BrainPy's exp_auto) or the zoo's default (ExponentialRK2)"
    )
    parser.add_argument("--nt-solver", choices=["reference", "default"], default="reference",
                        help=text)  # fmt: skip
    text = f"also neurotree COBA with comm='jit' at N = {HUGE_N:,}"
    parser.add_argument("--huge", action="store_true", help=text)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per process")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also save the results")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    results = []
    for n in args.sizes:
        for model in args.models:
            results += [run_one(s, model, n, args) for s in args.simulators]
    if args.huge:
        results.append(run_one("neurotree", "COBA", HUGE_N, args, comm="jit"))

    print(f"\n{args.duration:g} ms at dt 0.1 ms, run: median of {args.repeats}; neurotree's "
          f"jax {version('jax')}; {cpu_name()}, {os.cpu_count()} cores, load average "
          f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
