"""What one simulation step of a zoo network costs, and what XLA made of it.

    python benchmarks/step_profile.py [--model COBA] [--scale 1] [--steps 10000] [--repeats 7]
                                      [--no-region-analysis]

Compiles `nt.simulate` of `nt.zoo.<model>(scale)` inside `eqx.filter_jit` (a monitor that
counts E spikes, as `speed.py` does) and prints: trace + lowering time, XLA compile time, the
median run time per step over `--repeats` runs, and, from the compiled HLO, the operations the
loop body dispatches each step (fusions, custom calls such as the native kernels, and copies of
loop-carried arrays). On XLA:CPU each of those costs a fraction of a microsecond whatever its
size, so for small networks their count, not the arithmetic, sets the step time.
It compiles as eager `nt.simulate` does on CPU, with XLA's region-based copy insertion
(`xla_cpu_copy_insertion_use_region_analysis`, which keeps more carried arrays in place);
`--no-region-analysis` compiles without it.
"""

import argparse
import re
import statistics
import time

import equinox as eqx
import jax

import neurotree as nt
import neurotree.zoo  # noqa: F401


def loop_body_ops(hlo: str) -> dict[str, int]:
    """Operation counts of the largest computation that is not the entry (the loop body)."""
    best = {"fusions": 0, "custom-calls": 0, "copies": 0}
    for comp in re.split(r"\n(?=\S)", hlo):
        if comp.startswith("ENTRY"):
            continue
        counts = {
            "fusions": comp.count(" fusion("),
            "custom-calls": comp.count("custom-call("),
            "copies": len(re.findall(r" copy\(", comp)),
        }
        if sum(counts.values()) > sum(best.values()):
            best = counts
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="COBA", choices=["COBA", "CUBA", "COBAHH"])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-region-analysis", action="store_true")
    args = parser.parse_args()

    model = getattr(nt.zoo, args.model)(args.scale)
    state = model.init_state()

    @eqx.filter_jit
    def run(model, state):
        def monitor(s, out):
            return out["E"].sum(-1)

        return nt.simulate(model, state, dt=model.dt, n_steps=args.steps, monitor=monitor)[1]

    options = {"xla_cpu_copy_insertion_use_region_analysis": True}
    t0 = time.perf_counter()
    lowered = run.lower(model, state)
    t1 = time.perf_counter()
    compiled = lowered.compile(compiler_options=None if args.no_region_analysis else options)
    t2 = time.perf_counter()
    jax.block_until_ready(compiled(model, state))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(model, state))
        times.append(time.perf_counter() - start)
    per_step = statistics.median(times) / args.steps * 1e6
    ops = loop_body_ops(compiled.compiled.as_text())
    print(
        f"{args.model} scale {args.scale}: trace+lower {t1 - t0:.2f} s, compile {t2 - t1:.2f} s, "
        f"{per_step:.1f} us per step (median of {args.repeats} x {args.steps} steps); loop body: "
        + ", ".join(f"{n} {k}" for k, n in ops.items())
    )


if __name__ == "__main__":
    main()
