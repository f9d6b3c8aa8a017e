"""`nt.shard`: one network across a device mesh, its populations split along the neuron axis."""

import copy
from collections.abc import Iterable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import PRNGKeyArray, PyTree

from ._core import DynamicalSystem
from ._network import Network, NetworkState, _add, _evaluate
from ._projections import AlignPost
from .comm import CSR, Dense, EventCSR, EventDense, OneToOne
from .comm._sharded import ColumnsDense, Full, LocalOneToOne, RowsCSR

_RANDOM = (
    "shard: population {name!r} ({kind}) draws random numbers in its step; a device holding a "
    "slice of it would draw other numbers than the unsharded run. Pass replicate=({name!r},) to "
    "compute it whole on every device (the same draws as the unsharded run, bit for bit)."
)


class _Held:
    """The unsharded network, out of the PyTree (a static field, compared by identity), for
    `init_state` and output shapes; its arrays are kept as numpy arrays in host memory, so
    that no device holds the whole network beside its shard."""

    def __init__(self, network: Network):
        def host(x):
            if eqx.is_array(x) and not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return np.asarray(x)
            return x

        self.network = jax.tree.map(host, network)


class ShardedNetwork(DynamicalSystem):
    """An `nt.Network` whose populations are split along the neuron axis over one axis of a
    device mesh; built by `nt.shard`. It implements the same protocol (`init_state`,
    `__call__`), so `nt.simulate` runs it; its step is one `jax.shard_map` over the mesh.

    Layout: a sharded population of n neurons is cut into D blocks of n_local = ceil(n / D)
    consecutive neurons (device d of the mesh axis holds neurons d n_local ... (d+1) n_local - 1);
    with `pad=True` the last blocks are filled up to D n_local with copies of the last neuron,
    which receive no input from and send none to the network. Each device holds its block of
    the population's state and per-neuron parameters (arrays whose last axis is n), of the
    post-side synaptic state of projections onto it and of the pre-side state (delay buffers
    of spikes, STP, AlignPre synapses) of projections from it. States, outputs and records
    are arrays of the padded size D n_local, sharded on their last axis (`NamedSharding`);
    `gather` and `gather_state` bring them to the host without the padding.

    One step: each projection all-gathers the activity of its pre population (a float
    vector of n_pre per step and projection; none for a replicated pre population), then
    computes the input of its own post block: CSR / EventCSR keep, per device, every pre row
    but only the synapses onto its post neurons (local indices, padded to a common nnz), so
    every post neuron sums its inputs in the unsharded order; Dense / EventDense keep their
    columns; OneToOne needs no exchange; any other layer (JITConn, AllToAll, BlockAllToAll,
    ...) is computed whole on every device and cut to the block (exact, but the work is not
    divided). `replicate` populations (spike sources such as `nt.inputs.PoissonInput`, which
    draw random numbers in their step) are computed whole on every device with the run's key,
    so their draws are those of the unsharded run. Not supported (a ValueError at `nt.shard`):
    nested networks, populations of more than one axis, STDP, per-synapse delays, and sharded
    populations that draw random numbers (replicate them).

    Exactness (measured on XLA:CPU, float32; tests/test_shard.py): with the same key, spikes
    and states equal the unsharded run's bit for bit for COBA on 2, 4 and 8 devices, padded or
    not, and for networks through EventCSR, CSR, EventDense, OneToOne and JITConn, with
    delays, STP, AlignPre, replicated Poisson sources and batch axes, all with scalar
    parameters. Two cases differ in the last bit of some states (1 ulp; spikes may then differ
    later in a run): `Dense` (XLA's dot sums a narrower matrix in another order; `EventDense`
    is exact), and per-neuron parameter arrays (XLA:CPU splits the elementwise update of a
    block of n_local neurons between SIMD body and remainder otherwise than that of n).
    Gradients flow through the sharded step (shard_map, all_gather and the kernels have
    transposes) and equal the unsharded ones to float32 rounding.

    Records are sharded when `nt.simulate` runs under `jax.jit` / `eqx.filter_jit` (one scan);
    eager `nt.simulate` fetches each chunk of records to the host, which works in one process
    (the state stays sharded) and fails across processes (records that span other processes'
    devices cannot be fetched): there, call it under `eqx.filter_jit`.
    """

    local: Network
    drive: dict[str, PyTree]
    specs: tuple = eqx.field(static=True)
    mesh: Mesh = eqx.field(static=True)
    axis: str = eqx.field(static=True)
    blocks: tuple[tuple[str, int, int], ...] = eqx.field(static=True)
    unsharded: _Held = eqx.field(static=True)

    def __init__(
        self,
        network: Network,
        mesh: Mesh,
        axis: str = "neurons",
        *,
        pad: bool = False,
        replicate: Iterable[str] = (),
    ):
        if not isinstance(network, Network):
            raise ValueError(f"shard(network={network!r}): expected an nt.Network.")
        if not isinstance(mesh, Mesh):
            raise ValueError(
                f"shard(mesh={mesh!r}): expected a jax.sharding.Mesh, e.g. "
                f"jax.make_mesh((jax.device_count(),), ({axis!r},))."
            )
        if axis not in mesh.axis_names:
            raise ValueError(f"shard(axis={axis!r}): the mesh has axes {mesh.axis_names}.")
        replicate = (replicate,) if isinstance(replicate, str) else tuple(replicate)
        for name in replicate:
            if name not in network.populations:
                raise ValueError(
                    f"shard(replicate={replicate!r}): no population {name!r} (there are "
                    f"{sorted(network.populations)})."
                )
        # shard_map with in_specs needs Auto axes (an Explicit mesh would demand matching types).
        self.mesh = Mesh(
            mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names)
        )
        self.axis = axis
        n_devices = mesh.shape[axis]
        marks: dict[int, tuple] = {}  # id(array) -> (array, spec); the array kept alive

        def mark(x, spec):
            x = jnp.asarray(x)
            marks[id(x)] = (x, spec)
            return x

        blocks, pops = [], {}
        for name in sorted(network.populations):
            pop = network.populations[name]
            if isinstance(pop, Network):
                raise ValueError(
                    f"shard: population {name!r} is a nested nt.Network; shard its populations "
                    "in one flat network instead."
                )
            if name in replicate:
                pops[name] = pop
                continue
            n = _size(name, pop)
            n_local = -(-n // n_devices)
            if n % n_devices and not pad:
                raise ValueError(
                    f"shard: population {name!r} has {n} neurons, not a multiple of the "
                    f"{n_devices} devices of mesh axis {axis!r}; pass pad=True to pad it to "
                    f"{n_local * n_devices} (the padding neurons are cut off by gather), or "
                    f"replicate=({name!r},) to compute it whole on every device."
                )
            if _draws(name, pop):
                raise ValueError(_RANDOM.format(name=name, kind=type(pop).__name__))
            blocks.append((name, n, n_local))
            local = copy.copy(pop)
            object.__setattr__(local, "size", (n_local,))  # the only static field that changes
            pops[name] = local
        self.blocks = tuple(blocks)

        def split(part, side: str):
            """`part` with its per-neuron arrays (last axis the size of population `side`, if
            sharded) padded and marked to be split on the mesh."""
            sizes = self._n(side)
            if sizes is None:
                return part
            n, padded = sizes
            return jax.tree.map(
                lambda x: (
                    mark(_pad_last(np.asarray(x), padded), _last(np.ndim(x), axis))
                    if eqx.is_array(x) and _per_neuron(x, n)
                    else x
                ),
                part,
            )

        pops = {name: split(pop, name) for name, pop in pops.items()}
        projs = {}
        for name in sorted(network.projections):
            proj = network.projections[name]
            if proj.stdp is not None or proj.per_synapse_delay:
                what = "STDP" if proj.stdp is not None else "per-synapse delays"
                raise ValueError(
                    f"shard: projection {name!r} has {what}, which nt.shard does not support "
                    "(it keeps no global per-synapse state); use one delay for the projection "
                    "and no STDP, or run this network unsharded."
                )
            layer = self._local_comm(proj, n_devices, mark)
            syn_side = proj.post if isinstance(proj, AlignPost) else proj.pre
            parts = (layer, split(proj.syn, syn_side), split(proj.out, proj.post))
            parts += (None if proj.stp is None else split(proj.stp, proj.pre),)
            projs[name] = eqx.tree_at(
                lambda p: (p.comm, p.syn, p.out, p.stp), proj, parts, is_leaf=lambda x: x is None
            )
        local = Network(populations=pops, projections=projs)
        if local.groups != network.groups:  # cannot happen: sharing depends on syn/out only
            raise ValueError(f"shard: shared synapses {network.groups} became {local.groups}.")
        dyn, static = eqx.partition(local, eqx.is_array)
        leaves, treedef = jax.tree.flatten(dyn)
        self.specs = tuple(marks[id(x)][1] if id(x) in marks else P() for x in leaves)
        placed = [self._place(x, s) for x, s in zip(leaves, self.specs)]
        self.local = eqx.combine(jax.tree.unflatten(treedef, placed), static)
        self.drive = jax.tree.map(
            lambda x: self._place(x, P()) if eqx.is_array(x) else x, dict(network.inputs)
        )
        self.unsharded = _Held(network)

    # -- construction helpers ---------------------------------------------------------------

    def _local_comm(self, proj, n_devices: int, mark):
        comm, axis = proj.comm, self.axis
        sizes = {name: n_local for name, _, n_local in self.blocks}
        pre_sharded, post_sharded = proj.pre in sizes, proj.post in sizes
        if not (pre_sharded or post_sharded):
            return comm
        n_pre = sizes.get(proj.pre, comm.n_pre)
        if not post_sharded:
            return Full(comm, n_pre, comm.n_post, axis, gather=True, split=False)
        n_post = sizes[proj.post]
        if isinstance(comm, CSR | EventCSR):
            layer = RowsCSR(comm, n_devices, n_post, axis, pre_sharded, n_pre)
            for x in (layer.indptr, layer.indices, layer.pre_indices):
                mark(x, P(axis))
            mark(layer.weight, P(axis) if layer.weight.ndim else P())
            return layer
        if isinstance(comm, Dense | EventDense):
            layer = ColumnsDense(comm, n_devices, n_post, axis, pre_sharded, n_pre)
            mark(layer.weight, P(None, axis))
            return layer
        if isinstance(comm, OneToOne) and pre_sharded:
            layer = LocalOneToOne(comm, n_devices, n_post, axis)
            mark(layer.weight, P(axis) if layer.weight.ndim else P())
            return layer
        return Full(comm, n_pre, n_post, axis, gather=pre_sharded, split=True)

    def _place(self, x, spec: P) -> jax.Array:
        """`x` (equal on every process) as a global array with `spec` on the mesh."""
        sharding = NamedSharding(self.mesh, spec)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.device_put(x, sharding)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    # -- the protocol -----------------------------------------------------------------------

    @property
    def populations(self) -> dict[str, DynamicalSystem]:
        """The unsharded network's populations (sizes and parameters as given)."""
        return self.unsharded.network.populations

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None, dt=None
    ) -> NetworkState:
        """The unsharded network's initial state (the same random draws), padded and placed on
        the mesh by `shard_state`. `dt` (ms) sizes delay buffers, as for `nt.Network`."""
        dt = None if dt is None else float(dt)  # static: it sizes the delay buffers
        state = _init_state(self.unsharded.network, tuple(batch_shape), key, dt)
        return self.shard_state(state)

    def __call__(
        self,
        state: NetworkState,
        inputs: Mapping[str, PyTree] | None = None,
        *,
        t,
        dt,
        key: PRNGKeyArray | None = None,
    ) -> tuple[NetworkState, dict[str, PyTree]]:
        """One step of the network, as `nt.Network.__call__`, run under `jax.shard_map`.

        `inputs`: as for `nt.Network` (a dict from population name to external input); an
        input with a last axis of a sharded population's size is padded and split like it,
        anything else (scalars, broadcastable shapes) goes whole to every device."""
        external = _add(_evaluate(self.drive, t), _evaluate(self._check_inputs(inputs), t))
        external = {k: jax.tree.map(jnp.asarray, v) for k, v in external.items()}
        out_specs = self._output_specs(state, external, t, dt, key)
        padded, input_specs = {}, {}
        for name, value in external.items():
            padded[name] = jax.tree.map(lambda x, name=name: self._pad_input(name, x), value)
            input_specs[name] = jax.tree.map(lambda x, name=name: self._spec(name, x), padded[name])
        dyn, static = eqx.partition(self.local, eqx.is_array)
        leaves, treedef = jax.tree.flatten(dyn)
        if len(leaves) != len(self.specs):
            raise ValueError(
                "ShardedNetwork: its arrays no longer match the layout built by nt.shard "
                "(was the model's structure changed?); call nt.shard on the new network."
            )
        dyn_specs = jax.tree.unflatten(treedef, self.specs)
        state_specs = self._state_map(state, lambda name, x: self._spec(name, x))
        t, dt = jnp.asarray(t), jnp.asarray(dt)

        def body(dyn, state, x, t, dt, *key):
            net = eqx.combine(dyn, static)
            return net(state, x, t=t, dt=dt, key=key[0] if key else None)

        args = (dyn, state, padded, t, dt) + (() if key is None else (key,))
        in_specs = (dyn_specs, state_specs, input_specs, P(), P()) + (() if key is None else (P(),))
        # check_vma=False: eqx.error_if (the traced checks of delays and shared synapses) has
        # branches that shard_map's varying-axis types reject.
        step = jax.shard_map(
            body,
            mesh=self.mesh,
            in_specs=in_specs,
            out_specs=(state_specs, out_specs),
            check_vma=False,
        )
        return step(*args)

    # -- layout of states, inputs and outputs -------------------------------------------------

    def _n(self, name: str) -> tuple[int, int] | None:
        """(n, padded size) of a sharded population, None for a replicated one."""
        for block, n, n_local in self.blocks:
            if block == name:
                return n, n_local * self.mesh.shape[self.axis]
        return None

    def _spec(self, name: str, x) -> P:
        sizes = self._n(name)
        if sizes is not None and _per_neuron(x, sizes[1]):
            return _last(np.ndim(x), self.axis)
        return P()

    def _pad_input(self, name: str, x):
        sizes = self._n(name)
        if sizes is None or not _per_neuron(x, sizes[0]):
            return x
        return _pad_last(x, sizes[1])

    def _owner(self, path) -> str:
        """The population whose neuron axis a state leaf (at `path`) carries, or ''."""
        kind, name = path[0].name, path[1].key
        if kind == "populations":
            return name
        proj = self.local.projections[name]
        field = path[2].name
        if field == "syn":
            return proj.post if isinstance(proj, AlignPost) else proj.pre
        if field == "stp" or (field == "delay" and path[3].name == "buffer"):
            return proj.pre
        return ""

    def _state_map(self, state: NetworkState, fn) -> NetworkState:
        if not isinstance(state, NetworkState):
            raise ValueError(
                f"ShardedNetwork: state is {type(state).__name__}; expected the NetworkState "
                "of model.init_state(...) (or model.shard_state(state))."
            )
        return jax.tree_util.tree_map_with_path(lambda p, x: fn(self._owner(p), x), state)

    def _check_inputs(self, inputs) -> dict[str, PyTree]:
        if inputs is None:
            return {}
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"ShardedNetwork: inputs must be None or a dict from population name to input; "
                f"got {type(inputs).__name__}. Example: inputs={{'E': 20.0}}."
            )
        for name in inputs:
            if name not in self.unsharded.network.populations:
                raise ValueError(
                    f"ShardedNetwork: input for {name!r}, but there is no population {name!r} "
                    f"(there are {sorted(self.unsharded.network.populations)})."
                )
        return dict(inputs)

    def _output_specs(self, state, external, t, dt, key) -> dict[str, PyTree]:
        """Specs of the step's outputs, from the unsharded network's output shapes."""

        def unpadded(name, x):
            sizes = self._n(name)
            shape = x.shape
            if sizes is not None and _per_neuron(x, sizes[1]):
                shape = shape[:-1] + (sizes[0],)
            return jax.ShapeDtypeStruct(shape, x.dtype)

        shapes = self._state_map(state, unpadded)
        dyn, static = eqx.partition(self.unsharded.network, eqx.is_array)
        dyn = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), dyn)

        def step(dyn, s, x, t, dt, k):
            return eqx.combine(dyn, static)(s, x, t=t, dt=dt, key=k)

        _, outputs = jax.eval_shape(step, dyn, shapes, external, t, dt, key)
        specs = {}
        for name, out in outputs.items():
            sizes = self._n(name)
            if sizes is not None:
                for leaf in jax.tree.leaves(out):
                    if not _per_neuron(leaf, sizes[0]):
                        raise ValueError(
                            f"ShardedNetwork: population {name!r} outputs an array of shape "
                            f"{leaf.shape}, which has no neuron axis (last, of {sizes[0]}) to "
                            f"split; replicate=({name!r},) computes it whole on every device."
                        )
            specs[name] = jax.tree.map(
                lambda x, sharded=sizes is not None: _last(x.ndim, self.axis) if sharded else P(),
                out,
            )
        return specs

    # -- moving states and records in and out ----------------------------------------------

    def shard_state(self, state: NetworkState) -> NetworkState:
        """An unsharded network state (e.g. of `network.init_state`), padded and placed on the
        mesh as this model's state."""

        def one(name, x):
            x = self._pad_input(name, np.asarray(jax.device_get(x)))
            return self._place(x, self._spec(name, x))

        return self._state_map(state, one)

    def gather_state(self, state: NetworkState) -> NetworkState:
        """This model's state on the host as numpy arrays, without the padding: the state the
        unsharded network would have (works across processes: every process gets it all)."""
        return self._state_map(state, self._unpad)

    def gather(self, records: PyTree, population: str | None = None) -> PyTree:
        """Records (or outputs) on the host as numpy arrays, without the padding.

        `records`: a dict from population name to that population's records (what the default
        monitor records), or any PyTree of one population's arrays with `population=` its name.
        Works across processes: every process gets the whole array."""
        if population is not None:
            return jax.tree.map(lambda x: self._unpad(population, x), records)
        if not isinstance(records, Mapping) or not all(
            k in self.unsharded.network.populations for k in records
        ):
            raise ValueError(
                "ShardedNetwork.gather: records must be a dict from population name to records "
                "(as the default monitor gives), or pass population=... for one population's."
            )
        return {k: jax.tree.map(lambda x, k=k: self._unpad(k, x), v) for k, v in records.items()}

    def _unpad(self, name: str, x):
        x = _host(x)
        sizes = self._n(name)
        if sizes is not None and _per_neuron(x, sizes[1]):
            return x[..., : sizes[0]]
        return x


def shard(
    network: Network,
    mesh: Mesh,
    axis: str = "neurons",
    *,
    pad: bool = False,
    replicate: Iterable[str] = (),
) -> ShardedNetwork:
    """`network` with every population (but those in `replicate`) split along its neuron axis
    over the mesh axis `axis`; returns a `ShardedNetwork`, a model with the same protocol.

    `pad=True` allows sizes that are not a multiple of the number of devices on `axis` (padded
    with inert copies of the last neuron; without it such sizes raise). `replicate`: names of
    populations computed whole on every device (needed for those that draw random numbers in
    their step, e.g. `nt.inputs.PoissonInput`). See `ShardedNetwork` for the layout, the
    exchange and what is exact.

    Example: `model = nt.shard(nt.zoo.COBA(1.0), jax.make_mesh((8,), ("neurons",)))`, then
    `state = model.init_state(key=key)` and
    `eqx.filter_jit(nt.simulate)(model, state, dt=0.1, n_steps=1000)`; records stay sharded
    on the mesh until `model.gather(records)`.
    """
    return ShardedNetwork(network, mesh, axis, pad=pad, replicate=replicate)


@eqx.filter_jit
def _init_state(network: Network, batch_shape: tuple[int, ...], key, dt) -> NetworkState:
    """The unsharded network's initial state (its numpy arrays become traced inputs)."""
    return network.init_state(batch_shape, key=key, dt=dt)


def _size(name: str, pop) -> int:
    size = getattr(pop, "size", None)
    if not (isinstance(size, tuple) and len(size) == 1):
        raise ValueError(
            f"shard: population {name!r} ({type(pop).__name__}) has size {size!r}; nt.shard "
            "splits populations of one axis, e.g. size=(4000,). Reshape it, or pass "
            f"replicate=({name!r},)."
        )
    return int(size[0])


def _draws(name: str, pop) -> bool:
    """Whether a step of `pop` uses its key (traced with no input, then with a zero input)."""
    state = jax.eval_shape(pop.init_state)
    for x in (None, jnp.zeros(pop.size)):
        try:
            closed = jax.make_jaxpr(lambda s, k, x=x: pop(s, x, t=0.0, dt=0.1, key=k))(
                state, jax.random.key(0)
            )
        except Exception:  # this input does not fit the population; try the next
            continue
        key = closed.jaxpr.invars[-1]
        used = [v for eqn in closed.jaxpr.eqns for v in eqn.invars] + closed.jaxpr.outvars
        return any(v is key for v in used)
    raise ValueError(
        f"shard: cannot trace a step of population {name!r} ({type(pop).__name__}) to check "
        f"that it draws no random numbers; pass replicate=({name!r},) to compute it whole on "
        "every device."
    )


def _per_neuron(x, n: int) -> bool:
    """Whether `x` (an array or a shape-dtype) has a last, neuron axis of `n`."""
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x) if eqx.is_array_like(x) else ()
    return len(shape) >= 1 and shape[-1] == n


def _last(ndim: int, axis: str) -> P:
    return P(*([None] * (ndim - 1)), axis)


def _pad_last(x, size: int):
    """`x` with its last axis filled up to `size` by copies of its last entry."""
    extra = size - x.shape[-1]
    if extra == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 1) + [(0, extra)]
    return (np if isinstance(x, np.ndarray) else jnp).pad(x, widths, mode="edge")


def _host(x) -> np.ndarray:
    x = x if isinstance(x, jax.Array) else jnp.asarray(x)
    if x.is_fully_addressable:
        return np.asarray(jax.device_get(x))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
