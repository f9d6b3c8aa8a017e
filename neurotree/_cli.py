"""The `neurotree` command: run a zoo model, print a summary, save a raster and the records.

neurotree list
neurotree run MODEL [--duration MS] [--dt MS] [--scale X] [--seed S] [--out DIR]
"""

import argparse
import math
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

# Command name -> class name in `nt.zoo`.
MODELS = {
    "coba": "COBA",
    "cuba": "CUBA",
    "cobahh": "COBAHH",
    "decision_making": "DecisionMaking",
    "cann1d": "CANN1D",
    "multi_area": "MultiArea",
    "ventral_stream": "VentralStream",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"neurotree: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurotree", description="Run neurotree's model zoo.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the zoo, one line per model")
    run = sub.add_parser("run", help="simulate a zoo model")
    run.add_argument("model", help="a name from `neurotree list`")
    run.add_argument("--duration", type=_positive(float), help="ms of biological time")
    run.add_argument("--dt", type=_positive(float), help="time step in ms")
    run.add_argument("--scale", type=_positive(float), help="neuron-count multiplier")
    run.add_argument("--seed", type=int, default=0, help="seed of connectivity and noise")
    run.add_argument("--out", default="neurotree-out", help="folder for the PNG and the .npz")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        return value

    return parse


def _zoo_class(name: str):
    from . import zoo

    if name not in MODELS:
        raise _UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return getattr(zoo, MODELS[name])


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            for name in MODELS:
                print(f"{name:16s} {_zoo_class(name).summary}")
            return 0
        return _run(args)
    except _UsageError as e:
        print(f"neurotree: error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    import neurotree as nt

    cls = _zoo_class(args.model)
    kwargs = {"seed": args.seed}
    if args.scale is not None:
        kwargs["scale"] = args.scale
    try:
        model = cls(**kwargs)
    except TypeError as e:
        raise _UsageError(f"{args.model}: {e}") from None
    dt = cls.dt if args.dt is None else args.dt
    duration = cls.duration if args.duration is None else args.duration
    n_steps = round(duration / dt)
    if n_steps < 1 or not math.isclose(n_steps * dt, duration, rel_tol=1e-6):
        raise _UsageError(f"--duration {duration} must be a whole number of steps --dt {dt}")
    key = jax.random.key(args.seed)
    state = model.init_state(key=key, dt=dt) if isinstance(model, nt.Network) else None
    if state is None:
        state = model.init_state(key=key)
    monitor = _spike_monitor if isinstance(model, nt.Network) else _activity_monitor
    chunk = _chunk(n_steps)
    run_key = jax.random.fold_in(key, 1)

    start = time.perf_counter()
    nt.simulate(model, state, dt=dt, n_steps=chunk, key=run_key, monitor=monitor,
                chunk_size=chunk)  # fmt: skip
    first = time.perf_counter() - start
    start = time.perf_counter()
    _, records = nt.simulate(
        model, state, dt=dt, n_steps=n_steps, key=run_key, monitor=monitor, chunk_size=chunk,
        progress=not args.no_progress,
    )  # fmt: skip
    records = jax.device_get(records)
    wall = time.perf_counter() - start
    compile_time = max(first - wall * chunk / n_steps, 0.0)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.model}: {duration:g} ms at dt {dt:g} ms ({n_steps} steps), seed {args.seed}")
    if isinstance(model, nt.Network):
        spikes = _check_counts(records)
        arrays = _summarise_spikes(spikes, duration)
        figure = _raster(spikes, dt, out / f"{args.model}_raster.png")
    else:
        arrays = {"activity": np.asarray(records)}
        print(f"  activity: shape {arrays['activity'].shape}, range "
              f"[{arrays['activity'].min():.3g}, {arrays['activity'].max():.3g}]")  # fmt: skip
        figure = _activity_image(arrays["activity"], dt, out / f"{args.model}_activity.png")
    np.savez_compressed(out / f"{args.model}_records.npz", dt=dt, duration=duration, **arrays)
    simulated = f"{duration / 1000:g} s simulated"
    print(f"  wall time {wall:.2f} s for {simulated}; compile {compile_time:.2f} s")
    print(f"  wrote {figure} and {out / (args.model + '_records.npz')}")
    return 0


def _chunk(n_steps: int) -> int:
    """The largest divisor of n_steps not above n_steps / 20 (so every chunk compiles once)."""
    target = max(1, n_steps // 20)
    for c in range(target, 0, -1):
        if n_steps % c == 0:
            return c
    return n_steps


def _flat_outputs(outputs, prefix=""):
    flat = {}
    for name, value in outputs.items():
        if isinstance(value, dict):
            flat.update(_flat_outputs(value, prefix + name + "."))
        else:
            flat[prefix + name] = value
    return flat


def _spike_monitor(state, outputs):
    flat = _flat_outputs(outputs)
    spikes = {k: v.astype(jnp.uint8) for k, v in flat.items()}
    totals = {k: v.sum(dtype=jnp.int32) for k, v in flat.items()}
    return spikes, totals


def _activity_monitor(state, outputs):
    return outputs


def _check_counts(records):
    spikes, totals = records
    for name, raster in spikes.items():
        if int(raster.sum(dtype=np.int64)) != int(np.sum(totals[name], dtype=np.int64)):
            raise RuntimeError(f"{name}: spike counts above 255 in one step overflowed the raster.")
    return spikes


def _summarise_spikes(spikes, duration):
    arrays = {}
    for name, raster in spikes.items():
        raster = raster.reshape(raster.shape[0], -1)
        steps, neurons = np.nonzero(raster)
        counts = raster[steps, neurons]
        arrays[f"{name}.spike_steps"] = np.repeat(steps, counts).astype(np.int32)
        arrays[f"{name}.spike_neurons"] = np.repeat(neurons, counts).astype(np.int32)
        rate = counts.sum() / raster.shape[1] / (duration / 1000.0)
        print(f"  {name:12s} {raster.shape[1]:8d} neurons  {rate:8.2f} Hz")
    return arrays


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise _UsageError("plots need matplotlib: pip install 'neurotree[plot]'") from None
    return plt


def _raster(spikes, dt, path):
    plt = _pyplot()
    names = list(spikes)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.2 + 1.6 * len(names)), sharex=True,
                             squeeze=False)  # fmt: skip
    for ax, name in zip(axes[:, 0], names):
        raster = spikes[name].reshape(spikes[name].shape[0], -1)
        shown = min(raster.shape[1], 500)
        steps, neurons = np.nonzero(raster[:, :shown])
        ax.plot((steps + 1) * dt, neurons, "|", ms=2, color="k")
        ax.set_ylabel(f"{name}\n(first {shown})" if shown < raster.shape[1] else name)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _activity_image(activity, dt, path):
    plt = _pyplot()
    activity = activity.reshape(activity.shape[0], -1)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    extent = (dt, activity.shape[0] * dt, 0, activity.shape[1])
    ax.imshow(activity.T, aspect="auto", origin="lower", extent=extent, cmap="viridis")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("unit")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
