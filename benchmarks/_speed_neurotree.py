"""The COBA and COBAHH networks in neurotree, timed (run by `speed.py`).

    python _speed_neurotree.py --model COBA --n 4000 --duration 1000 --repeats 3 --comm csr
                               [--solver default|exponential_euler]

prints one JSON object: setup, compile and run times (s), mean E and I rates (Hz) and this
process's peak RSS (MB). setup: `nt.zoo.COBA(scale, comm=...)` (or `COBAHH`) and its
`init_state()`, with scale = N / 4000; compile: `nt.simulate` inside `eqx.filter_jit`, lowered
and compiled with the XLA:CPU option eager `nt.simulate` uses (region-based copy insertion;
README, "Speed"); run: the compiled program from the initial state, each step's spikes summed
per population (no other records). The kernel backend is whatever neurotree picks;
`NEUROTREE_NATIVE=0` in the environment keeps it to XLA. `--solver
exponential_euler` gives COBAHH's neurons first-order exponential Euler, the method of Brian2's
COBAHH script and of BrainPy's `exp_auto` (the zoo's default is `ExponentialRK2`, two stages).
"""

import importlib.metadata
import json
import os
import resource
import time

import equinox as eqx
import jax
import numpy as np
from _speed_cli import child_parser  # benchmarks/_speed_cli.py, next to this file

import neurotree as nt
import neurotree.zoo  # noqa: F401


def backend() -> str:
    """Which kernels neurotree's "auto" runs on CPU, as far as it tells (a label only)."""
    if os.environ.get("NEUROTREE_NATIVE", "1").strip() == "0":
        return "XLA kernels, NEUROTREE_NATIVE=0"
    try:
        from neurotree.kernels import _backends

        return "native kernels" if _backends.native_available() else "XLA kernels"
    except (ImportError, AttributeError):
        return "auto kernels"


def main():
    parser = child_parser(__doc__)
    parser.add_argument("--comm", choices=["csr", "jit"], default="csr")
    parser.add_argument("--solver", choices=["default", "exponential_euler"], default="default")
    args = parser.parse_args()
    cls = getattr(nt.zoo, args.model)
    n_steps = round(args.duration / cls.dt)

    @eqx.filter_jit
    def simulate(net, state):
        def monitor(state, out):
            return out["E"].sum(-1), out["I"].sum(-1)

        return nt.simulate(net, state, dt=cls.dt, n_steps=n_steps, monitor=monitor)[1]

    t0 = time.perf_counter()
    options = {"solver": nt.integrators.ExponentialEuler()} if args.solver != "default" else {}
    net = cls(args.n / 4000, comm=args.comm, **options)
    state = jax.block_until_ready(net.init_state())
    t1 = time.perf_counter()
    cpu_options = {"xla_cpu_copy_insertion_use_region_analysis": True}
    lowered = simulate.lower(net, state)
    compiled = lowered.compile(
        compiler_options=cpu_options if jax.default_backend() == "cpu" else None
    )
    t2 = time.perf_counter()
    runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        counts = jax.block_until_ready(compiled(net, state))
        runs.append(time.perf_counter() - t)
    n_e, n_i = (int(np.prod(net.populations[p].size)) for p in ("E", "I"))
    seconds = args.duration / 1000.0
    variant = f"{args.comm.upper()}, {backend()}"
    variant += ", exponential Euler" if args.solver != "default" else ""
    print(json.dumps({
        "simulator": f"neurotree {importlib.metadata.version('neurotree')}",
        "variant": variant, "model": args.model, "N": n_e + n_i,
        "setup": t1 - t0, "compile": t2 - t1, "runs": runs,
        "rate_E": float(np.asarray(counts[0]).sum() / n_e / seconds),
        "rate_I": float(np.asarray(counts[1]).sum() / n_i / seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
