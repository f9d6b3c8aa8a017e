"""`nt.run`: a long simulation that streams its records to disk and resumes where it stopped."""

import hashlib
import json
import math
import os
import pathlib
import re
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray, PyTree

from . import _records as rec
from ._simulate import (
    _classify_inputs,
    _is_traced,
    _positive_multiple,
    _resolve_steps,
    _time_bar,
    simulate,
)
from .training._checkpoint import load_checkpoint, save_checkpoint

# Host memory for the records of one shard; one shard is held at a time.
_SHARD_BYTES = 4 * 2**20
# simulate's step index is an int32.
_MAX_STEPS = 2**31 - 1
_CHECKPOINT_KIND = "neurotree-run-checkpoint"
_CHECKPOINT = re.compile(r"^(\d{12})\.ckpt$")
_RESUME_HELP = (
    "Resume with the arguments, model, initial state, key and inputs the run was started with, "
    "or start a new run in another folder."
)


class RunResult(NamedTuple):
    """What `nt.run` returns: `state, path, resumed_from = nt.run(...)`."""

    state: PyTree
    """The state after the last step."""
    path: pathlib.Path
    """The run folder; read its records with `nt.load_records(path)`."""
    resumed_from: int
    """The step this call started from: 0 for a fresh run, the checkpoint's step when resumed
    (n_steps when the run was already complete)."""


class _Constant(eqx.Module):
    """A constant input as a callable, so that no chunk mistakes it for a time series."""

    value: PyTree

    def __call__(self, t):
        return self.value


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _plain(tree):
    """`tree` with typed PRNG keys as their key data, which a file can hold."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _unplain(tree, like):
    def wrap(x, y):
        return jax.random.wrap_key_data(x, impl=jax.random.key_impl(y)) if _is_key(y) else x

    return jax.tree.map(wrap, tree, like)


def _structure(tree) -> dict:
    """What must match for a checkpoint of `tree` to load: static structure and array leaves."""
    plain = _plain(tree)
    leaves = [
        [jax.tree_util.keystr(path), list(np.shape(x)), np.dtype(jnp.result_type(x)).name]
        for path, x in jax.tree_util.tree_flatten_with_path(plain)[0]
        if eqx.is_array_like(x)
    ]
    # Function reprs carry addresses that differ between processes.
    treedef = re.sub(r" at 0x[0-9a-fA-F]+", "", str(jax.tree.structure(plain)))
    return {"treedef": treedef, "leaves": leaves}


def _digest(tree) -> str:
    """SHA-256 of the values of `tree`'s array leaves (and their paths, shapes, dtypes)."""
    h = hashlib.sha256()
    for path, x in jax.tree_util.tree_flatten_with_path(_plain(tree))[0]:
        if eqx.is_array_like(x):
            a = np.ascontiguousarray(np.asarray(x))
            h.update(f"{jax.tree_util.keystr(path)}|{a.shape}|{a.dtype.str}|".encode())
            h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def _next_stop(step: int, n: int, chunk: int, every_checkpoint: int) -> int:
    """End of the chunk starting at `step`: chunks tile each checkpoint interval from its start,
    so the chunk boundaries after a checkpoint do not depend on where a run was resumed."""
    segment = step // every_checkpoint * every_checkpoint
    return min(n, segment + every_checkpoint, segment + ((step - segment) // chunk + 1) * chunk)


def _first_difference(name: str, here: dict, there: dict) -> str:
    ours = {p: (tuple(shape), dtype) for p, shape, dtype in here["leaves"]}
    theirs = {p: (tuple(shape), dtype) for p, shape, dtype in there["leaves"]}

    def show(leaf):
        return "missing" if leaf is None else f"of shape {leaf[0]} and dtype {leaf[1]}"

    for p in [*ours, *(p for p in theirs if p not in ours)]:  # in the tree's order
        if ours.get(p) != theirs.get(p):
            return (
                f"the {name} differs in structure from the one the run was started with: leaf "
                f"{name}{p} is {show(ours.get(p))} here and {show(theirs.get(p))} in the run "
                "folder."
            )
    return (
        f"the {name} differs in structure (its static configuration) from the one the run was "
        f"started with: {here['treedef'][:300]} here, {there['treedef'][:300]} in the run folder."
    )


def _check_same_run(folder: pathlib.Path, stored: dict, run: dict) -> None:
    where = f"run(path={str(folder)!r})"
    for name in ("n_steps", "dt", "t0", "every", "checkpoint_every", "chunk_steps"):
        if stored.get(name) != run[name]:
            arg = "chunk_size" if name == "chunk_steps" else name
            raise ValueError(
                f"{where}: {arg}={run[name]!r} here, but the run in this folder was started "
                f"with {arg}={stored.get(name)!r}. {_RESUME_HELP}"
            )
    for name in ("model", "state", "key"):
        if stored["structure"][name] != run["structure"][name]:
            what = _first_difference(name, run["structure"][name], stored["structure"][name])
            raise ValueError(f"{where}: {what} {_RESUME_HELP}")
    if stored["records"] != run["records"]:
        raise ValueError(
            f"{where}: the monitor records {[s['name'] for s in run['records']]} with shapes "
            f"{[s['shape'] for s in run['records']]} here, but the run in this folder recorded "
            f"{[s['name'] for s in stored['records']]} with shapes "
            f"{[s['shape'] for s in stored['records']]}. {_RESUME_HELP}"
        )
    labels = {"model": "model's parameters", "state": "initial state", "key": "key"}
    labels["inputs"] = "inputs"
    for name, label in labels.items():
        if stored["digest"][name] != run["digest"][name]:
            raise ValueError(
                f"{where}: the {label} differ from those the run was started with (SHA-256 "
                f"of the values). {_RESUME_HELP}"
            )


def _checkpoints(folder: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
    """The checkpoint files of a run folder, latest first."""
    found = []
    for p in (folder / rec.CHECKPOINTS).iterdir():
        m = _CHECKPOINT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def _latest_good_checkpoint(folder, like, run_id: str, steps_on_disk: int):
    """(step, tree) of the latest intact checkpoint of this run, or None when there is none.

    A damaged checkpoint is refused with a warning and the one before it used; when
    checkpoints exist but none is intact, raise.
    """
    refused = []
    for step, path in _checkpoints(folder):
        try:
            if step > steps_on_disk:
                raise ValueError(
                    f"it is at step {step}, past the {steps_on_disk} steps of records on disk."
                )
            ckpt = load_checkpoint(path, like)
            meta = ckpt.metadata
            if (
                not isinstance(meta, dict)
                or meta.get("kind") != _CHECKPOINT_KIND
                or meta.get("run") != run_id
                or ckpt.step != step
            ):
                raise ValueError(
                    "it is not a checkpoint of this run (its metadata names another run or step)."
                )
        except ValueError as e:
            refused.append(f"{path.name}: {e}")
            warnings.warn(
                f"run(path={str(folder)!r}): refusing the checkpoint {str(path)!r}: {e} "
                "Falling back to the checkpoint before it.",
                stacklevel=3,
            )
            continue
        return step, ckpt.model
    if refused:
        raise ValueError(
            f"run(path={str(folder)!r}): no intact checkpoint to resume from; refused: "
            + " | ".join(refused)
            + " Move the damaged files away to restart the run from step 0 (the records on "
            "disk are then recomputed), or start a new run in another folder."
        )
    return None


def _make_folder(folder: pathlib.Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"run(path={str(folder)!r}): cannot create the folder ({e}).") from e


def run(
    model: Callable[..., tuple[Any, Any]],
    state: PyTree,
    inputs: PyTree | Callable[[ArrayLike], PyTree] | None = None,
    *,
    dt: ArrayLike,
    duration: ArrayLike | None = None,
    n_steps: int | None = None,
    path: str | os.PathLike,
    t0: ArrayLike = 0.0,
    monitor: Callable[[PyTree, PyTree], PyTree] | None = None,
    every: int = 1,
    key: PRNGKeyArray | None = None,
    checkpoint_every: int | None = None,
    chunk_size: int | None = None,
    resume: bool = True,
    progress: bool = False,
) -> RunResult:
    """Run `model` like `nt.simulate`, streaming the records to the folder `path` and saving a
    checkpoint every `checkpoint_every` steps, so that a run killed at any point continues
    where it stopped; return `RunResult(state, path, resumed_from)`.

    Steps, times, inputs, `monitor`, `every` and `key` mean what they mean in `nt.simulate`
    (step n runs at t0 + n dt with `fold_in(key, n)`, n counted from the start of the whole
    run), and the records are those `nt.simulate` returns, read back with
    `nt.load_records(path)` (or shard by shard with `nt.iter_records`). Memory holds one chunk
    of records at a time, whatever the length of the run.

    **Arguments** (beyond `nt.simulate`'s):
    - `path`: the run folder (created if missing): `manifest.json`, `records/*.npz` (one shard
      per chunk, named by its first step) and `checkpoints/*.ckpt` (model, state, key, step
      and time, in `nt.training.save_checkpoint`'s format; the last two are kept).
    - `checkpoint_every`: steps between checkpoints, a multiple of `every` (default: one per
      chunk); a checkpoint is also taken after the last step.
    - `chunk_size`: steps per chunk (one compiled call and one shard), a multiple of `every`;
      by default about 4 MiB of records per chunk.
    - `resume`: with True, a folder that holds a run continues it from its latest intact
      checkpoint, after checking that the arguments, the model, the initial state, the key
      and array inputs are those it was started with (callable inputs and the monitor's code
      cannot be checked; the monitor's record shapes are). Records on disk after the
      checkpoint are discarded and recomputed, so no step is lost or duplicated and the
      records equal, bitwise, those of an uninterrupted run. A truncated or corrupted
      checkpoint is refused with a warning and the one before it used. With False, a folder
      that holds a run raises.
    - `progress`: a tqdm bar of the simulated time with ETA; off (the default), no bar is
      built and tqdm is not imported.

    Writes are atomic (a temporary file renamed into place): a shard is committed to the
    manifest only once on disk, and a checkpoint only after the records before it. Must be
    called eagerly (not under `jax.jit`, `grad` or `vmap`); at most 2^31 - 1 steps.
    """
    if not callable(model):
        raise ValueError(f"run: model must be a DynamicalSystem; got {type(model).__name__}.")
    if _is_traced((model, state, inputs, key, dt, t0)):
        raise ValueError(
            "run: called under jax.jit / grad / vmap, or with traced arguments; run writes "
            "files as it goes and must be called eagerly (use nt.simulate inside transforms)."
        )
    h = np.asarray(dt)
    if not (h.ndim == 0 and np.issubdtype(h.dtype, np.number) and math.isfinite(h) and h > 0):
        raise ValueError(f"run(dt={dt!r}): dt must be a positive scalar step in ms.")
    n = _resolve_steps(dt, duration, n_steps)
    if n > _MAX_STEPS:
        raise ValueError(f"run(n_steps={n}): at most {_MAX_STEPS} steps (an int32 step index).")
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"run(every={every!r}): every must be a positive integer.")
    every = int(every)
    if n % every:
        raise ValueError(
            f"run(n_steps={n}, every={every}): n_steps must be a multiple of every, otherwise "
            f"the last {n % every} steps would run unrecorded."
        )
    between = "(records are written and checkpoints taken only between recorded blocks)"
    checkpoint_every = _positive_multiple(
        "run", "checkpoint_every", checkpoint_every, every, between
    )
    chunk_size = _positive_multiple("run", "chunk_size", chunk_size, every, between)
    if not isinstance(resume, bool):
        raise ValueError(f"run(resume={resume!r}): expected True or False.")
    folder = pathlib.Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"run(path={str(folder)!r}): the path is a file; expected a folder.")

    kind = _classify_inputs(inputs, n)

    def inputs_for(first: int, stop: int):
        if kind == "series":
            return jax.tree.map(lambda x: x[first:stop] if eqx.is_array_like(x) else x, inputs)
        return _Constant(inputs) if kind == "const" else inputs

    def one_record(model, state):
        x = inputs_for(0, every)
        kw = dict(dt=dt, n_steps=every, t0=t0, monitor=monitor, every=every, key=key)
        return simulate(model, state, x, **kw)[1]

    shapes = eqx.filter_eval_shape(one_record, model, state)
    specs = rec.leaf_specs(shapes)
    record_bytes = sum(math.prod(s.shape) * s.dtype.itemsize for s in jax.tree.leaves(shapes))

    stored = None
    if (folder / rec.MANIFEST).is_file():
        stored = rec.read_manifest(folder, "run")
        if not resume:
            raise ValueError(
                f"run(path={str(folder)!r}, resume=False): the folder already holds a run; "
                "pass resume=True to continue it, or choose another folder."
            )
    elif folder.is_dir():
        ours = [
            p for p in folder.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))
        ]
        if ours:
            raise ValueError(
                f"run(path={str(folder)!r}): the folder is not empty and holds no run "
                f"(no {rec.MANIFEST}); choose an empty or new folder."
            )
    if chunk_size is None:
        if stored is not None:
            chunk_size = stored["chunk_steps"]
        else:
            per = max(1, min(n // every, _SHARD_BYTES // max(1, record_bytes)))
            chunk_size = per * every
    if checkpoint_every is None:
        checkpoint_every = stored["checkpoint_every"] if stored is not None else chunk_size

    run_info = {
        "n_steps": n,
        "dt": float(h),
        "t0": float(np.asarray(t0)),
        "every": every,
        "checkpoint_every": checkpoint_every,
        "chunk_steps": chunk_size,
        "structure": {
            "model": _structure(model),
            "state": _structure(state),
            "key": _structure(key),
        },
        "records": specs,
        "digest": {
            "model": _digest(model),
            "state": _digest(state),
            "key": _digest(key),
            "inputs": None if kind == "fn" else _digest(inputs),
        },
    }
    # A JSON round trip, so that what is compared is what a manifest holds.
    run_info = json.loads(json.dumps(run_info))
    run_id = hashlib.sha256(json.dumps(run_info, sort_keys=True).encode()).hexdigest()
    like = {"model": _plain(model), "state": _plain(state), "key": _plain(key)}

    start, shards, last_checkpoint = 0, [], None
    if stored is not None:
        _check_same_run(folder, stored, run_info)
        (folder / rec.RECORDS).mkdir(exist_ok=True)
        (folder / rec.CHECKPOINTS).mkdir(exist_ok=True)
        on_disk = sum(e["n_steps"] for e in stored["shards"])
        found = _latest_good_checkpoint(folder, like, run_id, on_disk)
        if found is not None:
            start, tree = found
            state = _unplain(tree["state"], state)
            key = _unplain(tree["key"], key)
            last_checkpoint = start
        # Chunks end on every checkpoint step, so the shards before `start` are kept whole.
        shards = [e for e in stored["shards"] if e["first_step"] < start]
        if sum(e["n_steps"] for e in shards) != start:
            raise ValueError(
                f"run(path={str(folder)!r}): the manifest's shards do not end at the checkpoint's "
                f"step {start}; the run folder is inconsistent. {_RESUME_HELP}"
            )
    manifest = {"format": rec.FORMAT, "version": rec.VERSION, "run": run_id, **run_info}
    manifest["shards"] = shards
    _make_folder(folder)
    rec.write_manifest(folder, manifest)
    (folder / rec.RECORDS).mkdir(exist_ok=True)
    (folder / rec.CHECKPOINTS).mkdir(exist_ok=True)
    for stray in rec.stray_files(folder, shards):
        stray.unlink()
    for stray in (folder / rec.CHECKPOINTS).glob(".*.tmp"):
        stray.unlink()

    bar = _time_bar("run", n * float(h), start * float(h)) if progress else None
    try:
        step = start
        while step < n:
            stop = _next_stop(step, n, chunk_size, checkpoint_every)
            state, records = simulate(
                model, state, inputs_for(step, stop), dt=dt, n_steps=stop - step, t0=t0,
                monitor=monitor, every=every, key=key, chunk_size=stop - step,
                _first_step=step,
            )  # fmt: skip
            leaves = [np.asarray(x) for x in jax.tree.leaves(records)]
            del records
            shards.append(rec.write_shard(folder, step, stop - step, leaves))
            del leaves
            rec.write_manifest(folder, manifest)
            if stop % checkpoint_every == 0 or stop == n:
                # Keep the last checkpoint and this one: at most two on disk at any time.
                _prune(folder, keep={last_checkpoint})
                _save(folder, stop, model, state, key, run_id, float(h), float(run_info["t0"]))
                last_checkpoint = stop
            if bar is not None:
                bar.update((stop - step) * float(h))
            step = stop
    finally:
        if bar is not None:
            bar.close()
    return RunResult(state=state, path=folder, resumed_from=start)


def _save(folder, step: int, model, state, key, run_id: str, dt: float, t0: float) -> None:
    tree = {"model": _plain(model), "state": _plain(state), "key": _plain(key)}
    meta = {"kind": _CHECKPOINT_KIND, "run": run_id, "time": t0 + step * dt}
    save_checkpoint(folder / rec.CHECKPOINTS / f"{step:012d}.ckpt", tree, step=step, metadata=meta)


def _prune(folder, keep: set) -> None:
    """Delete the checkpoints whose step is not in `keep`."""
    for step, path in _checkpoints(folder):
        if step not in keep:
            path.unlink()
