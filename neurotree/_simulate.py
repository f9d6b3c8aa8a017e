"""`nt.simulate`: the clock-driven scan runner."""

import functools
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PRNGKeyArray, PyTree

from ._core import concrete

# Device memory for the records of one chunk when `simulate` runs eagerly; records of finished
# chunks are moved to host memory, so device memory does not grow with the length of the run.
_CHUNK_BYTES = 64 * 2**20
# With `progress=True` the bar advances at least this many times.
_PROGRESS_UPDATES = 100

_INPUTS_HELP = (
    "inputs must be None, a constant PyTree (broadcast to every step), a PyTree whose array "
    "leaves all have a leading time axis of length n_steps, or a callable inputs(t). To pass "
    "an array whose first axis happens to equal n_steps as a constant, pass `lambda t: x`."
)


def _default_monitor(state, outputs):
    return outputs


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _resolve_steps(dt, duration, n_steps) -> int:
    if (duration is None) == (n_steps is None):
        raise ValueError(
            f"simulate(duration={duration!r}, n_steps={n_steps!r}): give exactly one of "
            "duration (ms) or n_steps."
        )
    if n_steps is not None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
            raise ValueError(f"simulate(n_steps={n_steps!r}): n_steps must be a positive integer.")
        return int(n_steps)
    d, h = concrete(duration), concrete(dt)
    if d is None or h is None:
        raise ValueError(
            "simulate(duration=...): duration and dt must be concrete numbers (the number of "
            "steps fixes the scan length); pass n_steps= when dt is traced."
        )
    n = round(float(d) / float(h))
    if n < 1 or not math.isclose(n * float(h), float(d), rel_tol=1e-6, abs_tol=1e-9):
        raise ValueError(
            f"simulate(duration={float(d)!r}, dt={float(h)!r}): duration must be a positive "
            "whole number of steps dt."
        )
    return n


def _classify_inputs(inputs, n_steps: int) -> str:
    if inputs is None:
        return "none"
    if callable(inputs) and not isinstance(inputs, jax.Array | np.ndarray):
        return "fn"
    leaves = [x for x in jax.tree.leaves(inputs) if eqx.is_array_like(x)]
    shapes = [np.shape(x) for x in leaves]
    timed = [len(s) >= 1 and s[0] == n_steps for s in shapes]
    if leaves and all(timed):
        return "series"
    if not any(timed):
        return "const"
    raise ValueError(
        f"simulate: some input leaves have a leading axis of n_steps={n_steps} and some do not "
        f"(shapes {shapes}). {_INPUTS_HELP}"
    )


def _run(
    model,
    state,
    series,
    const,
    fn,
    monitor,
    first_step,
    dt,
    t0,
    key,
    *,
    n_records: int,
    every: int,
    segment: int | None = None,
):
    """Scan `n_records` blocks of `every` steps, recording `monitor` after each block.

    `series` leaves have a leading axis of blocks, then one of `every` steps (none when
    every = 1).

    With `segment` (blocks per segment), the blocks run as segments under `jax.checkpoint`:
    a backward pass stores only the state at each segment's start and recomputes the steps
    inside one segment at a time.
    """

    def input_at(x, t):
        if fn is not None:
            return fn(t)
        return x if series is not None else const

    def advance(state, i, x):
        t = t0 + i * dt
        k = None if key is None else jax.random.fold_in(key, i)
        return model(state, input_at(x, t), t=t, dt=dt, key=k)

    def step(carry, x):
        state, i = carry
        state, _ = advance(state, i, x)
        return (state, i + 1), None

    def block(carry, xs):
        # every - 1 steps whose outputs nobody reads, then the recorded one: the model's
        # outputs never ride in the loop's carry.
        state, i = carry
        if every > 1:
            head = None if xs is None else jax.tree.map(lambda x: x[:-1], xs)
            (state, i), _ = jax.lax.scan(step, (state, i), head, length=every - 1)
        last = xs if xs is None or every == 1 else jax.tree.map(lambda x: x[-1], xs)
        state, out = advance(state, i, last)
        return (state, i + 1), monitor(state, out)

    i0 = jnp.asarray(first_step, jnp.int32)
    if segment is None or segment >= n_records:
        (state, _), records = jax.lax.scan(block, (state, i0), series, length=n_records)
        return state, records
    n_full, tail = divmod(n_records, segment)
    head_xs = None
    if series is not None:
        head_xs = jax.tree.map(
            lambda x: x[: n_full * segment].reshape((n_full, segment) + x.shape[1:]), series
        )
    carry, records = jax.lax.scan(
        jax.checkpoint(functools.partial(jax.lax.scan, block, length=segment)),
        (state, i0),
        head_xs,
        length=n_full,
    )
    records = jax.tree.map(lambda r: r.reshape((n_full * segment,) + r.shape[2:]), records)
    if tail:
        tail_xs = None if series is None else jax.tree.map(lambda x: x[n_full * segment :], series)
        carry, rest = jax.checkpoint(functools.partial(jax.lax.scan, block, length=tail))(
            carry, tail_xs
        )
        records = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), records, rest)
    return carry[0], records


_run_jit = eqx.filter_jit(_run)
# XLA:CPU's region-based copy insertion updates more of the loop's carried arrays in place
# (COBA at 4,000 neurons: 7 copies per step -> 2, about 1 us of a 10-14 us step).
_run_jit_cpu = eqx.filter_jit(
    _run, compiler_options={"xla_cpu_copy_insertion_use_region_analysis": True}
)


def _record_bytes(model, state, series, const, fn, monitor, dt, t0, key, every) -> Array:
    """Bytes of one record, as a constant computed from shapes only."""

    def first_record(model, state):
        xs = None
        if series is not None:
            xs = jax.tree.map(lambda x: x[:1] if every == 1 else x[None, :every], series)
        _, records = _run(
            model, state, xs, const, fn, monitor, 0, dt, t0, key, n_records=1, every=every
        )
        return records

    shapes = jax.eval_shape(first_record, model, state)
    size = sum(s.size * s.dtype.itemsize for s in jax.tree.leaves(shapes))
    return jnp.asarray(min(size, 2**31 - 1), jnp.int32)


# Compiled once per model structure, like the run itself: later calls reuse the traced shapes.
_record_bytes_jit = eqx.filter_jit(_record_bytes)


def simulate(
    model: Callable[..., tuple[Any, Any]],
    state: PyTree,
    inputs: PyTree | Callable[[ArrayLike], PyTree] | None = None,
    *,
    dt: ArrayLike,
    duration: ArrayLike | None = None,
    n_steps: int | None = None,
    t0: ArrayLike = 0.0,
    monitor: Callable[[PyTree, PyTree], PyTree] | None = None,
    every: int = 1,
    key: PRNGKeyArray | None = None,
    progress: bool = False,
    chunk_size: int | None = None,
    checkpoint: int | None = None,
    _first_step: int = 0,
) -> tuple[PyTree, PyTree]:
    """Run `model` for `n_steps` steps of `dt` ms from `state`; return `(state, records)`.

    Step n (n = 0, 1, ...) advances from t0 + n dt to t0 + (n + 1) dt with
    `model(state, input_n, t=t0 + n dt, dt=dt, key=fold_in(key, n))`.

    **Arguments:**
    - `inputs`: None; a constant PyTree given to every step; a PyTree whose array leaves all have
      a leading time axis of length n_steps (step n gets index n); or a callable `inputs(t)`
      evaluated inside the scan.
    - `duration` (ms) or `n_steps`: exactly one; duration must be a whole number of steps.
    - `monitor(state, outputs) -> PyTree`: what to record (default: the outputs). Eager calls
      compile once per model structure, monitor and input function: pass the same function
      object (not a fresh lambda) to reuse the compiled run across calls.
    - `every`: record after steps every, 2 every, ... (times t0 + every dt, ...); must divide
      n_steps so that no step goes unrecorded silently.
    - `key`: the run's PRNG key; each step gets `jax.random.fold_in(key, n)`, so results do not
      depend on chunking. Stochastic models raise without one.
    - `progress`: show a tqdm bar of the simulated time (needs `simulate` to run eagerly).
    - `chunk_size`: steps per compiled call when running eagerly (a multiple of `every`); by
      default chosen so that one chunk's records take at most 64 MiB of device memory.
    - `checkpoint`: gradient checkpointing for BPTT. The run is split into segments of
      `checkpoint` steps (a multiple of `every`) under `jax.checkpoint`: the backward pass keeps
      the state at each segment's start and recomputes one segment at a time, so its memory
      grows as n_steps / checkpoint + checkpoint steps' worth instead of n_steps (about
      sqrt(n_steps) with `checkpoint` near sqrt(n_steps)), for one extra forward pass.

    Records have a leading time axis of length n_steps // every. Called eagerly, the run is
    compiled once per chunk length and records stream to host memory chunk by chunk (records
    sharded over several devices, as a `nt.shard` network's, stay sharded there); under
    `jax.jit`, `jax.grad` or `eqx.filter_vmap` it is one `lax.scan`.

    `_first_step` (private, for `nt.run`): the absolute index of this call's first step, so that
    a run continued in pieces gets t = t0 + n dt and fold_in(key, n) with the absolute n.
    """
    if not callable(model):
        raise ValueError(f"simulate: model must be a DynamicalSystem; got {type(model).__name__}.")
    h = concrete(dt)
    if h is not None and not (h.ndim == 0 and h > 0):
        raise ValueError(f"simulate(dt={dt!r}): dt must be a positive scalar step in ms.")
    n = _resolve_steps(dt, duration, n_steps)
    if isinstance(every, bool) or not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"simulate(every={every!r}): every must be a positive integer.")
    if n % every:
        raise ValueError(
            f"simulate(n_steps={n}, every={every}): n_steps must be a multiple of every, "
            f"otherwise the last {n % every} steps would run unrecorded."
        )
    segment = _segment(checkpoint, every)
    kind = _classify_inputs(inputs, n)
    monitor = _default_monitor if monitor is None else monitor
    n_records = n // every
    fn = inputs if kind == "fn" else None
    const = inputs if kind == "const" else None
    series = inputs if kind == "series" else None
    dt = jnp.asarray(dt, dtype=jnp.result_type(float))
    t0 = jnp.asarray(t0, dtype=dt.dtype)

    def blocks(x, start, stop):
        # With every > 1, a leading axis of blocks; with every = 1 the steps themselves (an
        # extra axis of 1 would make XLA copy the whole series before the loop).
        x = x[start * every : stop * every]
        return x if every == 1 else x.reshape((stop - start, every) + x.shape[1:])

    traced = _is_traced((model, state, inputs, key, dt, t0))
    if traced:
        if progress:
            raise ValueError(
                "simulate(progress=True) needs an eager call: it cannot report progress from "
                "inside jax.jit / grad / vmap. Call simulate outside the transform or drop "
                "progress."
            )
        if series is not None:
            series = jax.tree.map(lambda x: blocks(jnp.asarray(x), 0, n_records), series)
        return _run(
            model, state, series, const, fn, monitor, _first_step, dt, t0, key,
            n_records=n_records, every=every, segment=segment,
        )  # fmt: skip

    per_chunk = _records_per_chunk(
        model, state, series, const, fn, monitor, dt, t0, key, n_records, every, chunk_size,
        progress,
    )  # fmt: skip
    bar = _time_bar("simulate", n * float(dt)) if progress else None
    run = _run_jit_cpu if jax.default_backend() == "cpu" else _run_jit
    chunks = []
    start = 0
    while start < n_records:
        stop = min(start + per_chunk, n_records)
        xs = (
            None
            if series is None
            else jax.tree.map(lambda x, a=start, b=stop: blocks(x, a, b), series)
        )
        state, records = run(
            model, state, xs, const, fn, monitor, jnp.int32(_first_step + start * every), dt,
            t0, key, n_records=stop - start, every=every, segment=segment,
        )  # fmt: skip
        chunks.append(jax.tree.map(_to_host, records))
        if bar is not None:
            bar.update((stop - start) * every * float(dt))
        start = stop
    if bar is not None:
        bar.close()
    records = jax.tree.map(_join, *chunks)
    return state, records


def _to_host(x):
    """A chunk of records in host memory, unless it is sharded over several devices (a
    `nt.shard` network): then it stays where it is, sharded (it may span other processes)."""
    if isinstance(x, jax.Array) and len(x.sharding.device_set) > 1:
        return x
    return jax.device_get(x)


def _join(*xs):
    if isinstance(xs[0], jax.Array):
        return xs[0] if len(xs) == 1 else jnp.concatenate(xs)
    return jnp.asarray(np.concatenate(xs))


def _positive_multiple(caller: str, name: str, value, every: int, what: str) -> int | None:
    """`value` (None or a positive multiple of `every` steps) as an int, else a ValueError."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < every
        or value % every
    ):
        raise ValueError(
            f"{caller}({name}={value!r}, every={every}): {name} must be a number of steps "
            f"{what}, a positive multiple of every."
        )
    return int(value)


def _segment(checkpoint, every: int) -> int | None:
    """Blocks of `every` steps per checkpointed segment (None: no checkpointing)."""
    steps = _positive_multiple(
        "simulate", "checkpoint", checkpoint, every, "per checkpointed segment"
    )
    return None if steps is None else steps // every


def _records_per_chunk(
    model, state, series, const, fn, monitor, dt, t0, key, n_records, every, chunk_size, progress
) -> int:
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
            raise ValueError(f"simulate(chunk_size={chunk_size!r}): expected an integer.")
        if chunk_size < every or chunk_size % every:
            raise ValueError(
                f"simulate(chunk_size={chunk_size}, every={every}): chunk_size must be a "
                "positive multiple of every."
            )
        return chunk_size // every

    record_bytes = int(
        _record_bytes_jit(model, state, series, const, fn, monitor, dt, t0, key, every)
    )
    per_chunk = max(1, min(n_records, _CHUNK_BYTES // max(1, record_bytes)))
    if progress:
        per_chunk = min(per_chunk, max(1, math.ceil(n_records / _PROGRESS_UPDATES)))
    n_chunks = math.ceil(n_records / per_chunk)
    return math.ceil(n_records / n_chunks)


def _progress_bar(caller: str, **bar):
    """A tqdm bar for `caller(progress=True)`; tqdm is imported only here."""
    try:
        from tqdm.auto import tqdm
    except ImportError as e:
        raise ImportError(
            f"{caller}(progress=True) needs tqdm: pip install 'neurotree[progress]'."
        ) from e
    return tqdm(**bar)


def _time_bar(caller: str, total_ms: float, done_ms: float = 0.0):
    """A bar of simulated time (ms) with ETA."""
    return _progress_bar(
        caller, total=total_ms, initial=done_ms, unit="ms", desc="simulated",
        bar_format=_BAR_FORMAT,
    )  # fmt: skip


_BAR_FORMAT = "{desc}: {n:.1f}/{total:.1f} ms |{bar}| [{elapsed}<{remaining}]"
