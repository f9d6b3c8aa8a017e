"""Firing rates of the COBA, CUBA and COBAHH benchmark networks: neurotree against Brian2.

    python benchmarks/rates_vs_brian2.py [--scale 1] [--duration 1000] [--seeds 3]
                                         [--models COBA CUBA COBAHH] [--target cython]

Brian2 runs in its own virtual environment, benchmarks/.venv-brian2 (created and filled from
PyPI on first use), through `_brian2_models.py`; neurotree runs `nt.zoo.COBA`, `CUBA` and
`COBAHH` with the same parameters and initial-condition distributions (the networks and random
draws differ: the seeds of the two simulators are unrelated). Prints one table: mean E and I
rates over the seeds (+- the seed-to-seed standard deviation), the relative difference, and the
wall time of one run of each (neurotree: compiled run, compilation listed apart; Brian2: `run`
with its cached generated code). The Brian2 rates are merged into benchmarks/rates_brian2.json
(per model, scale and duration), which tests/test_zoo_ei.py compares against.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import time

from _venv import venv_python

HERE = pathlib.Path(__file__).resolve().parent
VENV = HERE / ".venv-brian2"
RATES = HERE / "rates_brian2.json"
MODELS = ("COBA", "CUBA", "COBAHH")
# Brian2 2.9 (the newest on PyPI here) wraps numpy.ndarray.ptp, which NumPy 2.4 removed.
REQUIREMENTS = ["brian2", "numpy<2.4"]


def brian2_python() -> pathlib.Path:
    """The venv's interpreter; the venv is created and Brian2 installed when missing."""
    return venv_python(VENV, REQUIREMENTS)


def run_brian2(models, scale, duration, seeds, target, dt=0.1, method=None) -> dict:
    python = brian2_python()

    def command(duration, seeds, target):
        extra = [] if method is None else ["--method", method]
        return [str(python), str(HERE / "_brian2_models.py"), "--scale", str(scale),
                "--duration", str(duration), "--models", *models, "--seeds", *map(str, seeds),
                "--target", target, "--dt", str(dt), *extra]  # fmt: skip

    targets = [target] if target != "auto" else ["cython", "numpy"]
    for t in targets:
        # A short run first, so that code generation and compilation are not timed.
        done = subprocess.run(command(1.0, [0], t), capture_output=True)
        if done.returncode != 0:
            print(f"Brian2 with target {t!r} failed:\n{done.stderr.decode()[-2000:]}")
            continue
        done = subprocess.run(command(duration, seeds, t), capture_output=True, check=True)
        return json.loads(done.stdout.decode().strip().splitlines()[-1])
    raise RuntimeError(f"Brian2 did not run with any of the targets {targets}.")


def run_neurotree(models, scale, duration, seeds) -> list[dict]:
    import equinox as eqx
    import jax
    import numpy as np

    import neurotree as nt
    import neurotree.zoo  # noqa: F401

    runs = []
    for name in models:
        cls = getattr(nt.zoo, name)
        n_steps = round(duration / cls.dt)

        @eqx.filter_jit
        def simulate(net, state, n_steps=n_steps, dt=cls.dt):
            def monitor(s, o):
                return o["E"].sum(-1), o["I"].sum(-1)

            return nt.simulate(net, state, dt=dt, n_steps=n_steps, monitor=monitor)[1]

        for seed in seeds:
            t0 = time.perf_counter()
            net = cls(scale, seed=seed)
            state = net.init_state()
            t1 = time.perf_counter()
            compiled = simulate.lower(net, state).compile()
            t2 = time.perf_counter()
            counts = jax.block_until_ready(compiled(net, state))
            t3 = time.perf_counter()
            n_e, n_i = (int(np.prod(net.populations[p].size)) for p in ("E", "I"))
            seconds = duration / 1000.0
            runs.append({
                "model": name, "seed": seed, "N": n_e + n_i,
                "rate_E": float(np.asarray(counts[0]).sum() / n_e / seconds),
                "rate_I": float(np.asarray(counts[1]).sum() / n_i / seconds),
                "build": t1 - t0, "compile": t2 - t1, "wall": t3 - t2,
            })  # fmt: skip
            print(f"neurotree {name} seed {seed}: E {runs[-1]['rate_E']:.2f} Hz, "
                  f"I {runs[-1]['rate_I']:.2f} Hz, {t3 - t2:.1f} s", flush=True)  # fmt: skip
    return runs


def summarise(runs, model) -> dict:
    mine = [r for r in runs if r["model"] == model]
    out = {"N": mine[0]["N"], "seeds": [r["seed"] for r in mine]}
    for key in ("rate_E", "rate_I", "wall", "compile"):
        values = [r[key] for r in mine if key in r]
        if values:
            out[key] = statistics.fmean(values)
            out[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
            out[key + "_per_seed"] = values
    return out


def save_brian2(result: dict, scale: float, duration: float) -> None:
    stored = json.loads(RATES.read_text()) if RATES.exists() else {"entries": []}
    stored["brian2"] = result["brian2"]
    stored["target"] = result["target"]
    stored["note"] = (
        "Brian2 rates (Hz, mean and sd over seeds) of benchmarks/_brian2_models.py, written by "
        "benchmarks/rates_vs_brian2.py; N = round(4000 scale); duration and dt in ms; method: "
        "Brian2's integration method."
    )
    for model in sorted({r["model"] for r in result["runs"]}):
        s = summarise(result["runs"], model)
        first = next(r for r in result["runs"] if r["model"] == model)
        entry = {
            "model": model, "scale": scale, "duration": duration, "dt": first["dt"],
            "method": first["method"], "N": s["N"], "seeds": s["seeds"],
            "rate_E": round(s["rate_E"], 3), "rate_I": round(s["rate_I"], 3),
            "rate_E_sd": round(s["rate_E_sd"], 3), "rate_I_sd": round(s["rate_I_sd"], 3),
            "rate_E_per_seed": [round(x, 3) for x in s["rate_E_per_seed"]],
            "rate_I_per_seed": [round(x, 3) for x in s["rate_I_per_seed"]],
        }  # fmt: skip
        key = ("model", "scale", "duration", "dt", "method")
        stored["entries"] = [
            e for e in stored["entries"] if [e[k] for k in key] != [entry[k] for k in key]
        ] + [entry]  # fmt: skip
    stored["entries"].sort(key=lambda e: (e["model"], e["scale"], e["duration"], e["dt"]))
    RATES.write_text(json.dumps(stored, indent=1) + "\n")


def table(brian2: dict, ours: list[dict], models) -> str:
    head = (
        "| model | N | Brian2 E (Hz) | neurotree E (Hz) | diff E | Brian2 I (Hz) | "
        "neurotree I (Hz) | diff I | Brian2 wall (s) | neurotree wall (s) [compile] |"
    )
    lines = [head, "|" + " --- |" * 10]
    for model in models:
        b, n = summarise(brian2["runs"], model), summarise(ours, model)
        cells = [model, str(n["N"])]
        for pop in ("E", "I"):
            key = f"rate_{pop}"
            diff = (n[key] - b[key]) / b[key]
            sd = key + "_sd"
            cells += [
                f"{b[key]:.2f} +- {b[sd]:.2f}",
                f"{n[key]:.2f} +- {n[sd]:.2f}",
                f"{diff:+.1%}",
            ]
        cells += [f"{b['wall']:.1f}", f"{n['wall']:.1f} [{n['compile']:.1f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="N = 4000 * scale")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated time, ms")
    parser.add_argument("--seeds", type=int, default=3, help="runs per model (seeds 0, 1, ...)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    targets = ["auto", "cython", "numpy"]
    text = "Brian2 code generation target (auto: cython, else numpy)"
    parser.add_argument("--target", default="auto", choices=targets, help=text)
    parser.add_argument("--brian2-dt", type=float, default=0.1, help="Brian2's step, ms")
    text = "Brian2's integration method (default: each script's own)"
    parser.add_argument("--brian2-method", default=None, help=text)
    parser.add_argument("--no-save", action="store_true", help="do not update rates_brian2.json")
    parser.add_argument("--brian2-only", action="store_true", help="run and store Brian2 only")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    brian2 = run_brian2(args.models, args.scale, args.duration, seeds, args.target,
                        args.brian2_dt, args.brian2_method)  # fmt: skip
    print(f"Brian2 {brian2['brian2']} (target {brian2['target']}) done", flush=True)
    if not args.no_save:
        save_brian2(brian2, args.scale, args.duration)
    if args.brian2_only:
        for model in args.models:
            b = summarise(brian2["runs"], model)
            print(f"Brian2 {model}: E {b['rate_E']:.2f} +- {b['rate_E_sd']:.2f} Hz, "
                  f"I {b['rate_I']:.2f} +- {b['rate_I_sd']:.2f} Hz, {b['wall']:.1f} s")  # fmt: skip
        return
    ours = run_neurotree(args.models, args.scale, args.duration, seeds)
    method = args.brian2_method or "each script's method"
    print(f"\nscale {args.scale}, {args.duration:g} ms, seeds {seeds}; neurotree dt 0.1 ms; "
          f"Brian2 {brian2['brian2']} ({brian2['target']}), dt {args.brian2_dt:g} ms, {method}; "
          "rates: mean +- sd over seeds\n")  # fmt: skip
    print(table(brian2, ours, args.models))


if __name__ == "__main__":
    main()
