"""The COBA and COBAHH networks in Brian2, timed (run by `speed.py`).

Runs inside the Brian2 virtual environment (benchmarks/.venv-brian2), not with neurotree:

    python _speed_brian2.py --model COBA --n 4000 --duration 1000 --repeats 3 --mode standalone

prints one JSON object: setup, compile and run times (s), mean E and I rates (Hz) and peak RSS
(MB). The networks are `_brian2_models.py`'s (the benchmark scripts' equations, methods and
initial conditions, at N = 4000 scale with p = 80 / N), with a spike monitor that counts only.

- `--mode standalone`: C++ standalone (`set_device("cpp_standalone")`, single thread). compile:
  code generation and the C++ build (`device.build(run=False)`); then the binary runs `--repeats`
  times (`device.run()`, same seed, so the same network each time). run: the simulation loop as
  the binary times it (`device._last_run_time`); setup: building the Python objects plus the
  binary's own time outside that loop (creating the synapses, initial values, writing results).
  Peak RSS is the binary's (the simulation runs there, not in this process).
- `--mode cython`: runtime mode with Cython code generation. setup: building the objects and
  the synapses; compile: a first `run` of 0 ms (code generation and Cython builds, which Brian2
  caches on disk across processes); run: `net.run`, the first from the initial state (the rates
  are that run's), each further one going on from where the last stopped (`net.store()` would
  copy the whole network and inflate the peak RSS). Peak RSS is this process's.
"""

import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time

import brian2 as b2
from _brian2_models import METHODS, MODELS
from _speed_cli import child_parser  # benchmarks/_speed_cli.py, next to this file
from brian2 import ms, second

# Runs the standalone binary and appends its peak RSS (kB) to the file named first: the binary
# is a child of `device.run()`'s subprocess, so this process's rusage would not show it alone.
_MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'a').write(f'{usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def build(model, n, seed):
    """The network (`_brian2_models.py`'s) with a counting spike monitor."""
    b2.defaultclock.dt = 0.1 * ms
    b2.seed(seed)
    P, synapses, n_e = MODELS[model](n / 4000, METHODS[model])
    mon = b2.SpikeMonitor(P, record=False)
    return b2.Network(P, *synapses, mon), mon, n_e


def rates(mon, n_e, duration):
    counts = mon.count[:]
    seconds = duration * ms / second
    return float(counts[:n_e].mean() / seconds), float(counts[n_e:].mean() / seconds)


def standalone(model, n, duration, repeats, seed) -> dict:
    directory = tempfile.mkdtemp(prefix="neurotree-brian2-")
    rss_file = os.path.join(directory, "peak_rss_kb.txt")
    b2.set_device("cpp_standalone", build_on_run=False, directory=directory)
    b2.device.reinit()
    b2.device.activate(build_on_run=False, directory=directory)
    b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _MEASURE, rss_file,
                                                    "./main"]  # fmt: skip
    try:
        t0 = time.perf_counter()
        net, mon, n_e = build(model, n, seed)
        net.run(duration * ms, namespace={})
        t1 = time.perf_counter()
        b2.device.build(directory=directory, compile=True, run=False)
        t2 = time.perf_counter()
        runs, outside = [], []
        for _ in range(repeats):
            b2.device.run()
            runs.append(b2.device._last_run_time)
            outside.append(b2.device.timers["run_binary"] - runs[-1])
        rate_e, rate_i = rates(mon, n_e, duration)
        with open(rss_file) as f:
            peak_kb = max(int(line) for line in f if line.strip())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {"setup": t1 - t0 + statistics.median(outside), "compile": t2 - t1, "runs": runs,
            "rate_E": rate_e, "rate_I": rate_i, "peak_rss_mb": peak_kb / 1024}  # fmt: skip


def cython(model, n, duration, repeats, seed) -> dict:
    b2.prefs.codegen.target = "cython"
    t0 = time.perf_counter()
    net, mon, n_e = build(model, n, seed)
    t1 = time.perf_counter()
    net.run(0 * ms, namespace={})
    t2 = time.perf_counter()
    runs = []
    for k in range(repeats):
        t = time.perf_counter()
        net.run(duration * ms, namespace={})
        runs.append(time.perf_counter() - t)
        if k == 0:
            rate_e, rate_i = rates(mon, n_e, duration)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"setup": t1 - t0, "compile": t2 - t1, "runs": runs, "rate_E": rate_e,
            "rate_I": rate_i, "peak_rss_mb": peak_mb}  # fmt: skip


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)  # runs the `finally` clauses (the build directory is removed)


def main():
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = child_parser(__doc__)
    parser.add_argument("--mode", choices=["standalone", "cython"], required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    b2.prefs.logging.console_log_level = "WARNING"
    run = standalone if args.mode == "standalone" else cython
    out = run(args.model, args.n, args.duration, args.repeats, args.seed)
    variant = "C++ standalone" if args.mode == "standalone" else "Cython runtime"
    out.update(simulator=f"Brian2 {b2.__version__}", variant=variant, model=args.model, N=args.n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
