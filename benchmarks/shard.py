"""COBA sharded over simulated CPU devices (`nt.shard`) against the unsharded run.

    python benchmarks/shard.py [--scales 0.25 1 10] [--devices 2 4 8] [--steps 2000] [--small]

Runs itself with `XLA_FLAGS=--xla_force_host_platform_device_count=8` (re-executed with it when
it is not set). For each COBA scale it prints the time per step of the unsharded run and of the
sharded run on 2, 4 and 8 devices (one compiled `nt.simulate` of `--steps` steps, best of
`--repeats` after a warm-up; the spikes are checked equal to the unsharded run's), and the
collectives of one compiled step read from XLA's optimised HLO: how many all-gathers, and the
bytes each device receives per step. Last, the time of one all-gather of N floats alone.

The simulated devices share this machine's cores (2 here) and exchange through memory, so the
sharded times measure the overhead of the sharded program (shard_map, per-device dispatch,
collectives), not a speed-up: that needs real devices (see benchmarks/README.md, "Sharded
networks", for the estimate on a GPU cluster).
"""

import argparse
import os
import re
import subprocess
import sys
import time

FLAG = "--xla_force_host_platform_device_count=8"


def _time(fn, *args, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn(*args))  # compile and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _all_gathers(model, state) -> list[int]:
    """Output bytes of every all-gather in one compiled step (optimised HLO)."""
    import jax

    text = jax.jit(lambda m, s: m(s, None, t=0.0, dt=0.1)).lower(model, state).compile().as_text()
    sizes = []
    for line in text.splitlines():
        m = re.search(r"= (f32|f64|s32|u8|pred)\[([\d,]*)\]\{[^}]*\} all-gather\(", line)
        if m:
            n = 1
            for d in filter(None, m.group(2).split(",")):
                n *= int(d)
            sizes.append(n * {"f32": 4, "f64": 8, "s32": 4, "u8": 1, "pred": 1}[m.group(1)])
    return sizes


def _gather_alone(n: int, devices: int, steps: int, repeats: int) -> float:
    """Seconds per all-gather of n float32 (in a scan of `steps`), on `devices` devices."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P

    mesh = jax.make_mesh((devices,), ("neurons",), devices=jax.devices()[:devices])
    x = jax.device_put(jnp.zeros(n), NamedSharding(mesh, P("neurons")))

    def body(x):
        def step(x, _):
            full = jax.lax.all_gather(x, "neurons", tiled=True)
            i = jax.lax.axis_index("neurons")
            return x + jax.lax.dynamic_slice_in_dim(full, i * x.shape[0], x.shape[0]), None

        return jax.lax.scan(step, x, None, length=steps)[0]

    fn = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P("neurons"), out_specs=P("neurons")))
    return _time(fn, x, repeats=repeats) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 1.0, 10.0])
    parser.add_argument("--devices", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="scale 0.25 only, 500 steps")
    args = parser.parse_args()
    if args.small:
        args.scales, args.steps, args.repeats = [0.25], 500, 2
    if FLAG not in os.environ.get("XLA_FLAGS", ""):
        env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip())
        sys.exit(subprocess.call([sys.executable, *sys.argv], env=env))

    import equinox as eqx
    import jax
    import numpy as np

    import neurotree as nt

    print(
        f"jax {jax.__version__}, {jax.device_count()} simulated CPU devices on "
        f"{os.cpu_count()} cores; COBA, dt = 0.1 ms, {args.steps} steps per run (a tenth above "
        f"4,000 neurons), best of {args.repeats}"
    )
    print()
    print("| neurons | devices | us / step | vs unsharded | all-gathers / step | "
          "bytes received / device / step | spikes equal |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    key = jax.random.key(0)
    for scale in args.scales:
        net = nt.zoo.COBA(scale)
        steps = args.steps if scale <= 1 else max(100, args.steps // 10)
        run = eqx.filter_jit(lambda m, s, n=steps: nt.simulate(m, s, dt=0.1, n_steps=n))
        state = net.init_state(key=key)
        base = _time(run, net, state, repeats=args.repeats) / steps
        _, ref = run(net, state)
        n = sum(p.size[0] for p in net.populations.values())
        print(f"| {n:,} | 1 (unsharded) | {base * 1e6:.1f} | 1.00 | 0 | 0 | - |")
        for d in args.devices:
            mesh = jax.make_mesh((d,), ("neurons",), devices=jax.devices()[:d])
            model = nt.shard(net, mesh, pad=True)
            sstate = model.init_state(key=key)
            t = _time(run, model, sstate, repeats=args.repeats) / steps
            _, rec = run(model, sstate)
            got = model.gather(rec)
            same = all(np.array_equal(np.asarray(ref[k]), got[k]) for k in ref)
            gathers = _all_gathers(model, sstate)
            received = sum(b * (d - 1) // d for b in gathers)
            print(f"| {n:,} | {d} | {t * 1e6:.1f} | {t / base:.2f} | {len(gathers)} | "
                  f"{received:,} | {same} |")  # fmt: skip
    print()
    print("| floats gathered | devices | us / all-gather (alone, in a scan) |")
    print("|---|---|---|")
    for scale in args.scales:
        n = round(4000 * scale)
        for d in args.devices:
            t = _gather_alone(n, d, 1000, args.repeats)
            print(f"| {n:,} | {d} | {t * 1e6:.1f} |")


if __name__ == "__main__":
    main()
