"""`nt.sweep`: one computation over many parameter sets, vmapped and sharded over devices."""

import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray, PyTree

from ._simulate import _is_traced, _progress_bar

# Default device memory for one chunk, per device: the compiled program's arguments, results
# and temporaries (the simulation's state and records included), as XLA reports them.
_DEVICE_BYTES = 512 * 2**20
# With `progress=True` the bar advances at least this many times (when there are enough members).
_PROGRESS_UPDATES = 20
_AXIS = "sweep"

_PARAMS_HELP = (
    "params must be a PyTree whose array leaves (NumPy or JAX arrays) all have the same leading "
    "sweep axis of length S >= 1: member i gets every array leaf's [i]. Non-array leaves (Python "
    "numbers, strings, functions) are shared by every member; a Python list of values is a "
    "PyTree of several leaves, not an array: pass np.asarray(values)."
)


class _Hashable:
    """A PyTree without arrays (their places hold None), hashable so that `jax.jit` can key
    its cache on it: the static half of `eqx.partition`."""

    def __init__(self, tree):
        leaves, self.treedef = jax.tree.flatten(tree, is_leaf=lambda x: x is None)
        self.leaves = tuple(leaves)

    def tree(self):
        return jax.tree.unflatten(self.treedef, self.leaves)

    def __hash__(self):
        return hash((self.treedef, self.leaves))

    def __eq__(self, other):
        return (
            isinstance(other, _Hashable)
            and self.treedef == other.treedef
            and len(self.leaves) == len(other.leaves)
            and all(a is b or a == b for a, b in zip(self.leaves, other.leaves))
        )


def _member_result(fn, p, key):
    out = fn(p) if key is None else fn(p, key)
    bad = [type(x).__name__ for x in jax.tree.leaves(out) if not eqx.is_array_like(x)]
    if bad:
        raise ValueError(
            f"sweep: fn must return a PyTree of arrays (one result per member); it returned "
            f"leaves of type {sorted(set(bad))}."
        )
    return jax.tree.map(jnp.asarray, out)


def _chunk(static, fn_arrays, params, index, key):
    """The results of the members in `params` (leading axis: the chunk), each device running
    its slice of the chunk as one vmapped computation."""
    fn_static, params_static, mesh = static

    def local(fn_arrays, params, index, key):
        fn = eqx.combine(fn_arrays, fn_static.tree())

        def member(p, i):
            k = None if key is None else jax.random.fold_in(key, i)
            return _member_result(fn, eqx.combine(p, params_static.tree()), k)

        return eqx.filter_vmap(member)(params, index)

    sweep_axis, replicated = PartitionSpec(_AXIS), PartitionSpec()
    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(replicated, sweep_axis, sweep_axis, replicated),
        out_specs=sweep_axis,
        # A member's state may start independent of its parameters (a neuron at rest), so the
        # scan carry would change from "same on every device" to "varying"; that is expected.
        check_vma=False,
    )(fn_arrays, params, index, key)


_chunk_jit = jax.jit(_chunk, static_argnums=0)


class _Plan:
    """A validated sweep: its members, devices and compiled chunk program."""

    def __init__(self, fn, params, key, chunk_size, devices, progress):
        if not callable(fn):
            raise ValueError(
                f"sweep(fn={type(fn).__name__}): fn must be a callable fn(p) (or fn(p, key) "
                "when key is given) returning a PyTree of arrays."
            )
        if _is_traced((fn, params, key)):
            raise ValueError(
                "sweep runs eagerly (it chunks, shards and copies results to the host); inside "
                "jax.jit / grad / vmap use eqx.filter_vmap(fn) directly."
            )
        self.params, params_static = eqx.partition(params, eqx.is_array)
        self.n = _sweep_length(self.params)
        self.key = _check_key(key)
        self.devices = _check_devices(devices)
        self.mesh = Mesh(np.asarray(self.devices, dtype=object), (_AXIS,))
        self.sharded = NamedSharding(self.mesh, PartitionSpec(_AXIS))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        fn_arrays, fn_static = eqx.partition(fn, eqx.is_array)
        self.fn_arrays = jax.device_put(fn_arrays, replicated)
        if self.key is not None:
            self.key = jax.device_put(self.key, replicated)
        self.static = (_Hashable(fn_static), _Hashable(params_static), self.mesh)
        try:
            hash(self.static)
        except TypeError as e:
            raise ValueError(
                "sweep: the non-array parts of fn and params must be hashable (as for "
                f"eqx.filter_jit's static arguments): {e}."
            ) from e
        self.progress = progress
        self.per_device = self._members_per_device(chunk_size)
        self.chunk = self.per_device * len(self.devices)

    def _compile(self, per_device: int):
        size = per_device * len(self.devices)

        def abstract(x):
            return jax.ShapeDtypeStruct((size,) + x.shape[1:], x.dtype, sharding=self.sharded)

        params = jax.tree.map(abstract, self.params)
        index = jax.ShapeDtypeStruct((size,), jnp.int32, sharding=self.sharded)
        lowered = _chunk_jit.lower(self.static, self.fn_arrays, params, index, self.key)
        if any(jax.dtypes.issubdtype(s.dtype, jax.dtypes.prng_key)
               for s in jax.tree.leaves(lowered.out_info)):  # fmt: skip
            raise ValueError(
                "sweep: fn returned PRNG keys, which have no NumPy form; return "
                "jax.random.key_data(key) instead."
            )
        return lowered.out_info, lowered.compile()

    def _members_per_device(self, chunk_size) -> int:
        n_dev = len(self.devices)
        all_members = math.ceil(self.n / n_dev)
        compiled = {}
        if chunk_size is not None:
            if (
                isinstance(chunk_size, bool)
                or not isinstance(chunk_size, int | np.integer)
                or chunk_size < 1
            ):
                raise ValueError(
                    f"sweep(chunk_size={chunk_size!r}): chunk_size must be a positive integer "
                    "(members per compiled call, over all devices)."
                )
            per_device = min(all_members, math.ceil(chunk_size / n_dev))
        else:
            per_device = all_members
        if self.progress:
            per_device = min(per_device, max(1, math.ceil(all_members / _PROGRESS_UPDATES)))
        if chunk_size is None:
            # Compile the largest chunk (compiling allocates nothing) and shrink it in
            # proportion if XLA's memory report exceeds the budget.
            compiled[per_device] = self._compile(per_device)
            out_info, program = compiled[per_device]
            used = _device_bytes(program)
            if used is None:  # no memory report on this backend: count the results only
                used = _result_bytes(out_info) // n_dev
            if used > _DEVICE_BYTES:
                per_device = max(1, per_device * _DEVICE_BYTES // used)
        # As many chunks as needed, then as even as possible: the padding stays below n_dev
        # members per chunk.
        n_chunks = math.ceil(all_members / per_device)
        per_device = math.ceil(all_members / n_chunks)
        self.out_info, self.compiled = compiled.get(per_device) or self._compile(per_device)
        return per_device

    def run_chunk(self, start: int):
        """The on-device (sharded) results of members start, ..., start + chunk - 1; members
        past the end are copies of the last one."""
        index = np.minimum(np.arange(start, start + self.chunk), self.n - 1)
        params = jax.tree.map(lambda x: jax.device_put(x[index], self.sharded), self.params)
        index = jax.device_put(jnp.asarray(index, jnp.int32), self.sharded)
        return self.compiled(self.fn_arrays, params, index, self.key)


def sweep(
    fn: Callable[..., PyTree],
    params: PyTree,
    *,
    key: PRNGKeyArray | None = None,
    chunk_size: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = False,
) -> PyTree[np.ndarray]:
    """Run `fn` once per member of a parameter sweep; return the results stacked on the host.

    Member i is `fn(p_i)`, or `fn(p_i, jax.random.fold_in(key, i))` when `key` is given, where
    `p_i` is `params` with every array leaf replaced by its `[i]`. The result is `fn`'s output
    PyTree with NumPy leaves of leading axis S: the one-at-a-time loop
    `[fn(p_i, ...) for i in range(S)]`, stacked. Equal means: the same program per member, so
    spike counts agree exactly in the tests and float results to XLA's rounding (a few ulps in
    float32: XLA may round a batch of per-member values, or a constant folded at compile
    time, in the last bit differently from one eager member; often bitwise, never guaranteed).

    All members run as one `eqx.filter_vmap`-ed program per chunk, split along the sweep axis
    over `devices` with `jax.shard_map` (no communication between devices). Typically `fn` builds
    the model from `p` (or puts `p` into a prebuilt one with `eqx.tree_at`) and calls
    `nt.simulate` (traced there, so it is one `lax.scan`), reducing the records to what is
    needed (spike counts, rates) inside `fn`.

    **Arguments:**
    - `fn`: `fn(p)` (or `fn(p, key)`) -> PyTree of arrays. Its arrays that are not parameters
      (a network's connectivity) are shared, not copied per member: close over them, or pass
      `fn` as an Equinox module / `eqx.Partial` to send them as arguments. Pass the same `fn`
      object to reuse the compiled program across calls.
    - `params`: PyTree whose array leaves share a leading axis of length S; non-array leaves
      (and a model's static fields) are shared by every member, as with `eqx.filter_vmap`.
      A model batched with `eqx.filter_vmap(build)(values)` is a valid `params` too.
    - `key`: the sweep's PRNG key. Member i gets `fold_in(key, i)`, whatever the chunking,
      the devices or S, so adding members leaves earlier ones unchanged.
    - `chunk_size`: members per compiled call, over all devices (rounded up to a multiple of
      the number of devices, then lowered to spread S evenly over the same number of
      chunks). By default as many as fit in 512 MiB of memory
      per device, as XLA reports it for the compiled chunk (arguments, results and
      temporaries: the simulation's records included).
    - `devices`: the devices to shard over (default: `jax.local_devices()`). When S is not a
      multiple of their number, the last chunk is padded with copies of the last member, and
      the padding is dropped from the results.
    - `progress`: a tqdm bar of members done, with ETA (needs `pip install
      'neurotree[progress]'`); it then runs in at least 20 chunks when S allows. Off, nothing
      is imported and chunking does not change.

    The results of every member must fit in host memory (they are written into preallocated
    NumPy arrays chunk by chunk). Checks that models make on concrete parameter values are
    skipped under the transform: validate the parameter ranges before the sweep.
    """
    plan = _Plan(fn, params, key, chunk_size, devices, progress)
    out = jax.tree.map(lambda s: np.empty((plan.n,) + s.shape[1:], s.dtype), plan.out_info)
    bar = _progress_bar("sweep", total=plan.n, unit="member", desc="sweep") if progress else None
    try:
        for start in range(0, plan.n, plan.chunk):
            stop = min(start + plan.chunk, plan.n)
            results = jax.device_get(plan.run_chunk(start))
            jax.tree.map(lambda o, r, a=start, b=stop: o.__setitem__(slice(a, b), r[: b - a]),
                         out, results)  # fmt: skip
            if bar is not None:
                bar.update(stop - start)
    finally:
        if bar is not None:
            bar.close()
    return out


def _sweep_length(arrays: PyTree) -> int:
    leaves = jax.tree.leaves_with_path(arrays)
    if not leaves:
        raise ValueError(f"sweep: params has no array leaves, so no sweep axis. {_PARAMS_HELP}")
    shapes = {jax.tree_util.keystr(path): np.shape(x) for path, x in leaves}
    lengths = {s[0] if s else None for s in shapes.values()}
    if len(lengths) != 1 or None in lengths or 0 in lengths:
        shown = ", ".join(f"params{k or ''}: {s}" for k, s in shapes.items())
        raise ValueError(
            f"sweep: the array leaves of params do not share one leading axis of length >= 1 "
            f"({shown}). {_PARAMS_HELP}"
        )
    return int(lengths.pop())


def _check_key(key):
    if key is None:
        return None
    arr = key if isinstance(key, jax.Array) else None
    typed = arr is not None and jax.dtypes.issubdtype(arr.dtype, jax.dtypes.prng_key)
    raw = arr is not None and arr.shape == (2,) and arr.dtype == jnp.uint32
    if not ((typed and arr.shape == ()) or raw):
        raise ValueError(
            f"sweep(key={key!r}): key must be one PRNG key, jax.random.key(seed) (or a raw "
            "jax.random.PRNGKey(seed)); member i gets jax.random.fold_in(key, i)."
        )
    return key


def _check_devices(devices) -> list:
    if devices is None:
        return list(jax.local_devices())
    devices = list(devices) if isinstance(devices, Sequence) else None
    if (
        not devices
        or not all(isinstance(d, jax.Device) for d in devices)
        or len(set(devices)) != len(devices)
    ):
        raise ValueError(
            "sweep(devices=...): devices must be a non-empty sequence of distinct jax devices, "
            "e.g. jax.local_devices()[:4]."
        )
    return devices


def _device_bytes(compiled) -> int | None:
    try:
        stats = compiled.memory_analysis()
    except Exception:  # backends without a memory report
        return None
    if stats is None:
        return None
    return int(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def _result_bytes(out_info: Any) -> int:
    return sum(math.prod(s.shape) * np.dtype(s.dtype).itemsize for s in jax.tree.leaves(out_info))
