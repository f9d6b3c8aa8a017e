"""Training speed of the same 3-layer SNN in neurotree, PyTorch libraries, Spyx and BrainPy, in one
run.

    python benchmarks/train_speed.py [--T 25 100] [--batch 128] [--steps 20]
                                     [--libraries neurotree jax torch snntorch ...] [--json out]

The model (`_train_common.py`): 784 Bernoulli input spike trains (p = 0.1 per 1 ms step) ->
dense 784 x 100 -> exponential synaptic current (tau 5 ms) -> LIF (tau 10 ms, threshold 1) ->
dense 100 x 10 -> leaky-integrator readout (tau 20 ms); loss: cross-entropy of the readout's
time-mean; Adam (lr 1e-3); only the two weight matrices train. One training step is forward +
backward + update on one batch. Each library runs in a process of its own, in its own virtual
environment created here on first use (benchmarks/.venv-<library>; BrainPy shares speed.py's),
with its own neurons and discretisation (each child's docstring; the table's last columns).

Prints one markdown table: ms per step (median of --steps, after the first step and --warmup
more), first-step time (JAX: compilation), peak RSS and the ratio to neurotree's time.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

from _venv import venv_python
from speed import brainpy_python, cpu_name, execute, version

HERE = pathlib.Path(__file__).resolve().parent
TORCH = "torch==2.13.0"  # the CPU build on this machine's disk; other releases pull CUDA
VENVS = {  # library -> (venv, pip requirements)
    "torch": ("snntorch", [TORCH, "numpy", "snntorch"]),
    "snntorch": ("snntorch", [TORCH, "numpy", "snntorch"]),
    "norse": ("norse", [TORCH, "numpy", "norse"]),
    "spikingjelly": ("spikingjelly", [TORCH, "numpy", "spikingjelly"]),
    "spyx": ("spyx", ["spyx", "numpy"]),
}
LIBRARIES = ("neurotree", "neurotree-hoisted", "jax", "jax-hoisted", "torch", "snntorch", "norse",
             "spikingjelly", "spyx", "brainpy")  # fmt: skip


def command(library: str, args) -> tuple[list[str], dict]:
    common = ["--T", str(args.T_now), "--batch", str(args.batch), "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--rate", str(args.rate)]  # fmt: skip
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    base, _, variant = library.partition("-")
    if base in ("neurotree", "jax"):
        script = HERE / f"_train_{base}.py"
        return [sys.executable, str(script), *common, "--variant", variant], env
    if base == "brainpy":
        return [str(brainpy_python()), str(HERE / "_train_brainpy.py"), *common], env
    name, requirements = VENVS[base]
    python = venv_python(HERE / f".venv-{name}", requirements)
    script = "_train_spyx.py" if base == "spyx" else "_train_torch.py"
    return [str(python), str(HERE / script), *common, "--variant", base], env


def run_one(library: str, args) -> dict:
    failed = {"library": library, "T": args.T_now}
    try:
        cmd, env = command(library, args)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"{library}: could not set up its environment: {e}", flush=True)
        return failed | {"error": "no environment"}
    print(f"{library} T={args.T_now} ...", end=" ", flush=True)
    code, stdout, stderr = execute(cmd, env, args.timeout)
    if code != 0:
        print("timed out" if code is None else f"failed:\n{stderr[-3000:]}", flush=True)
        return failed | {"error": "timed out" if code is None else "failed"}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["key"] = library
    print(f"{out['step_ms']:.1f} ms per step", flush=True)
    return out


def table(results) -> str:
    lines = [
        "| T | library | ms / step | step / neurotree | first step (s) | peak RSS (MB) | "
        "discretisation | reset passes gradient |",
        "|" + " --- |" * 8,
    ]
    base = {r["T"]: r["step_ms"] for r in results if r.get("key") == "neurotree"}
    for r in results:
        if "error" in r:
            lines.append(f"| {r['T']} | {r['library']} | {r['error']} |" + " |" * 5)
            continue
        ref = base.get(r["T"])
        name = r["library"] + (f", {r['variant']}" if r["variant"] else "")
        lines.append(
            f"| {r['T']} | {name} {r['version']} | {r['step_ms']:.1f} | "
            f"{r['step_ms'] / ref if ref else float('nan'):.2f} | {r['first_step_s']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['discretisation']} | "
            f"{'yes' if r['reset_gradient'] else 'no'} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[25, 100], help="time steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed steps (the median counts)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.1, help="input spike probability")
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also save the results")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    results = []
    for T in args.T:
        args.T_now = T
        results += [run_one(library, args) for library in args.libraries]
    print(f"\nbatch {args.batch}, median of {args.steps} steps; neurotree's jax "
          f"{version('jax')}; {cpu_name()}, {os.cpu_count()} cores, load average {load:.1f} at "
          f"the start, {os.getloadavg()[0]:.1f} at the end\n")  # fmt: skip
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
