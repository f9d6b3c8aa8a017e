"""`nt.Network`: populations and the projections between them, stepped as one model."""

import dataclasses
import math
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray, PyTree

from ._core import DynamicalSystem, check_dt, concrete
from ._projections import AlignPost, AlignPre, ProjectionState


class NetworkState(eqx.Module):
    """`populations` and `projections`: dicts from name to each part's state."""

    populations: dict[str, PyTree]
    projections: dict[str, ProjectionState]


class Network(DynamicalSystem):
    """A network of populations joined by projections; a population may itself be a Network.

    One step: every projection reads the last spikes of its pre population (through its delay)
    and the state of its post population, and returns a current; then every population steps
    with the sum of its currents plus its external input. So a spike emitted at step n acts
    from step n + 1 at the earliest.

    `inputs` (of each call, and the network's own `inputs`, which are added to them every
    step, e.g. a constant drive): None, or a dict from population name to external input
    (missing names get none; a nested population is named `'area.E'` or given a nested dict);
    a callable input is evaluated at the step's start time t. Outputs: a dict from population
    name to that population's outputs. State: `NetworkState(populations, projections)`.

    Projections that would compute the same synaptic variable share one state, which is kept
    in the first one's state (by name; the others hold None there), and compute it once:
    AlignPost projections onto the same population with equal synapse and output (their summed
    inputs drive one post-side synapse), and AlignPre projections from the same population with
    equal synapse, STP and delay (one pre-side synapse, then each its own weights and output).
    So the state grows with populations, not projections. `groups` lists them.

    Reference: Wang et al. (2023) eLife 12:e86365 (BrainPy's DynSysGroup and merged
    projections); Brette et al. (2007) J Comput Neurosci 23:349 (clock-driven schedule).
    """

    populations: dict[str, DynamicalSystem]
    projections: dict[str, AlignPost | AlignPre]
    inputs: dict[str, PyTree]
    groups: tuple[tuple[str, ...], ...] = eqx.field(static=True)

    def __init__(
        self,
        populations: Mapping[str, DynamicalSystem],
        projections: Mapping[str, AlignPost | AlignPre] | None = None,
        inputs: Mapping[str, PyTree] | None = None,
    ):
        projections = {} if projections is None else projections
        for what, d in (("populations", populations), ("projections", projections)):
            if not isinstance(d, Mapping):
                raise ValueError(f"Network({what}={d!r}): expected a dict from name to module.")
            for name in d:
                if not isinstance(name, str) or not name or "." in name:
                    raise ValueError(
                        f"Network: {what[:-1]} name {name!r} must be a non-empty string "
                        "without '.' (dots name populations of nested networks)."
                    )
        if not populations:
            raise ValueError("Network(populations={}): a network needs at least one population.")
        for name, pop in populations.items():
            if not (callable(pop) and hasattr(pop, "init_state")):
                raise ValueError(
                    f"Network: population {name!r} is {pop!r}; expected a model with "
                    "init_state and __call__ (e.g. nt.neurons.LIF(100))."
                )
        for name, proj in projections.items():
            if not isinstance(proj, AlignPost | AlignPre):
                raise ValueError(
                    f"Network: projection {name!r} is {proj!r}; expected nt.AlignPost or "
                    "nt.AlignPre."
                )
        self.populations = dict(populations)
        self.projections = dict(projections)
        for name in sorted(self.projections):
            self._check_projection(name, self.projections[name])
        self.groups = self._group()
        self.inputs = self._nest(inputs)

    def _population(self, path: str, role: str, proj_name: str):
        node = self
        for i, part in enumerate(path.split(".")):
            pops = getattr(node, "populations", None)
            if not isinstance(pops, dict) or part not in pops:
                where = ".".join(path.split(".")[:i]) or "the network"
                names = sorted(pops) if isinstance(pops, dict) else []
                raise ValueError(
                    f"Network: projection {proj_name!r} names {role} population {path!r}, but "
                    f"{where} has no population {part!r} (it has {names})."
                )
            node = pops[part]
        if isinstance(node, Network):
            raise ValueError(
                f"Network: projection {proj_name!r} names {role} {path!r}, which is a Network; "
                f"name one of its populations, e.g. '{path}.{sorted(node.populations)[0]}'."
            )
        return node

    def _check_projection(self, name: str, proj) -> None:
        sizes = {}
        for role, path, n in (("pre", proj.pre, proj.n_pre), ("post", proj.post, proj.n_post)):
            pop = self._population(path, role, name)
            size = getattr(pop, "size", None)
            if size is None:
                raise ValueError(
                    f"Network: {role} population {path!r} of projection {name!r} has no size."
                )
            sizes[role] = (math.prod(size), n, path)
        if any(actual != expected for actual, expected, _ in sizes.values()):
            (pre_n, pre_c, pre), (post_n, post_c, post) = sizes["pre"], sizes["post"]
            raise ValueError(
                f"Network: projection {name!r} ({pre!r} -> {post!r}) connects {pre_c} -> {post_c} "
                f"neurons (its comm's sizes), but {pre!r} has {pre_n} and {post!r} has "
                f"{post_n} neurons."
            )
        needs = {"pre": ["spike"], "post": []}
        if proj.out.needs_v:
            needs["post"].append("v")
        if proj.stdp is not None:
            needs["post"].append("spike")
        for role, fields in needs.items():
            path = getattr(proj, role)
            if not fields:
                continue
            pop = self._population(path, role, name)
            try:
                shape = jax.eval_shape(lambda p=pop: p.init_state())
            except Exception:  # a population that needs more to build its state: checked later
                continue
            for field in fields:
                if not hasattr(shape, field):
                    raise ValueError(
                        f"Network: projection {name!r} needs the {role} population {path!r} to "
                        f"have `{field}` in its state ({type(pop).__name__} has none)."
                    )

    def _group(self) -> tuple[tuple[str, ...], ...]:
        groups: list[list[str]] = []
        for name in sorted(self.projections):
            proj = self.projections[name]
            for group in groups:
                if _shareable(self.projections[group[0]], proj) is True:
                    group.append(name)
                    break
            else:
                groups.append([name])
        return tuple(tuple(g) for g in groups if len(g) > 1)

    def init_state(
        self,
        batch_shape: tuple[int, ...] = (),
        *,
        key: PRNGKeyArray | None = None,
        dt=None,
    ) -> NetworkState:
        """The state at rest. `dt` (ms) sizes the delay buffers of delayed projections."""
        pops = {}
        for i, name in enumerate(sorted(self.populations)):
            pop = self.populations[name]
            k = None if key is None else jax.random.fold_in(key, i)
            if isinstance(pop, Network):
                pops[name] = pop.init_state(batch_shape, key=k, dt=dt)
            else:
                pops[name] = pop.init_state(batch_shape, key=k)
        projs = {name: p.init_state(batch_shape, dt=dt) for name, p in self.projections.items()}
        for group in self.groups:
            for name in group[1:]:
                shared = {"syn": None}
                if not _is_post(self.projections[name]):
                    shared.update(stp=None, delay=None)
                projs[name] = dataclasses.replace(projs[name], **shared)
        return NetworkState(populations=pops, projections=projs)

    def __call__(
        self,
        state: NetworkState,
        inputs: Mapping[str, PyTree] | None = None,
        *,
        t,
        dt,
        key: PRNGKeyArray | None = None,
    ) -> tuple[NetworkState, dict[str, PyTree]]:
        check_dt("Network", dt)
        inputs = _add(_evaluate(self.inputs, t), _evaluate(self._nest(inputs), t))
        currents: dict[str, Array] = {}
        projs = dict(state.projections)

        def add(path, current):
            currents[path] = current if path not in currents else currents[path] + current

        grouped = {name for group in self.groups for name in group}
        for group in self.groups:
            lead = self.projections[group[0]]
            if _is_post(lead):
                x = None
                for name in group:
                    proj = self.projections[name]
                    pre_spike, post_spike = self._spikes(state, proj)
                    projs[name], xi = proj.deliver(projs[name], pre_spike, post_spike, t=t, dt=dt)
                    x = xi if x is None else x + xi
                x = self._check_shared(group, x)
                v = self._post_v(state, lead) if lead.out.needs_v else None
                syn, g = lead.syn(projs[group[0]].syn, x, t=t, dt=dt)
                projs[group[0]] = dataclasses.replace(projs[group[0]], syn=syn)
                add(lead.post, lead.out(g, v))
                continue
            pre_spike, _ = self._spikes(state, lead)
            pre_spike = self._check_shared(group, pre_spike)
            projs[group[0]], arrived, g = lead.emit(projs[group[0]], pre_spike, t=t, dt=dt)
            for name in group:
                proj = self.projections[name]
                _, post_spike = self._spikes(state, proj)
                v = self._post_v(state, proj) if proj.out.needs_v else None
                projs[name], current = proj.receive(
                    projs[name], g, arrived, v=v, post_spike=post_spike, dt=dt
                )
                add(proj.post, current)
        for name in sorted(self.projections):
            if name in grouped:
                continue
            proj = self.projections[name]
            pre_spike, post_spike = self._spikes(state, proj)
            v = self._post_v(state, proj) if proj.out.needs_v else None
            projs[name], current = proj(
                projs[name], pre_spike, v=v, post_spike=post_spike, t=t, dt=dt
            )
            add(proj.post, current)

        pops, outputs = {}, {}
        for i, name in enumerate(sorted(self.populations)):
            pop = self.populations[name]
            k = None if key is None else jax.random.fold_in(key, i)
            x = self._population_input(name, pop, state.populations[name], inputs, currents)
            pops[name], outputs[name] = pop(state.populations[name], x, t=t, dt=dt, key=k)
        return NetworkState(populations=pops, projections=projs), outputs

    def _nest(self, inputs) -> dict[str, PyTree]:
        """Inputs as a dict from population name (nested dicts for nested networks)."""
        if inputs is None:
            return {}
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"Network: inputs must be None or a dict from population name to input; got "
                f"{type(inputs).__name__}. Example: inputs={{'E': 20.0}}."
            )
        nested: dict[str, PyTree] = {}
        for name, value in inputs.items():
            head, _, rest = str(name).partition(".")
            if head not in self.populations:
                raise ValueError(
                    f"Network: input for {name!r}, but there is no population {head!r} (there "
                    f"are {sorted(self.populations)})."
                )
            if rest:
                if not isinstance(self.populations[head], Network):
                    raise ValueError(f"Network: input {name!r}: {head!r} is not a Network.")
                nested.setdefault(head, {})[rest] = value
            else:
                nested[head] = value
        return nested

    def _check_shared(self, group: tuple[str, ...], x: Array) -> Array:
        """Fail if a group's members no longer compute the same synaptic variable (e.g. a
        parameter changed by training); returns `x`, which carries a traced check."""
        lead = self.projections[group[0]]
        kind = "synapse and output" if _is_post(lead) else "synapse, STP and delay"
        for name in group[1:]:
            same = _shareable(lead, self.projections[name])
            message = (
                f"Network: projections {group[0]!r} and {name!r} share one synaptic state "
                f"because their {kind} were equal when the network was built, but now differ; "
                "build a new nt.Network after changing them."
            )
            if same is False:
                raise ValueError(message)
            if same is not True:
                x = eqx.error_if(x, ~same, message)
        return x

    def _state_of(self, state: NetworkState, path: str):
        node, pop = state, self
        for part in path.split("."):
            node, pop = node.populations[part], pop.populations[part]
        return node, pop

    def _spikes(self, state, proj):
        pre_state, pre = self._state_of(state, proj.pre)
        pre_spike = _flatten(pre_state.spike, pre.size)
        post_spike = None
        if proj.stdp is not None:
            post_state, post = self._state_of(state, proj.post)
            post_spike = _flatten(post_state.spike, post.size)
        return pre_spike, post_spike

    def _post_v(self, state, proj):
        post_state, post = self._state_of(state, proj.post)
        return _flatten(post_state.v, post.size)

    def _population_input(self, name, pop, pop_state, inputs, currents):
        external = inputs.get(name)
        if isinstance(pop, Network):
            own = {p[len(name) + 1 :]: c for p, c in currents.items() if p.startswith(name + ".")}
            if not own:
                return external
            merged = dict(external) if isinstance(external, Mapping) else {}
            for path, current in own.items():
                merged[path] = current if path not in merged else merged[path] + current
            return merged
        current = currents.get(name)
        if current is None:
            return external
        current = current.reshape(current.shape[:-1] + tuple(pop.size))
        return current if external is None else jnp.asarray(external) + current


def _is_post(proj) -> bool:
    return isinstance(proj, AlignPost)


def _shareable(a, b):
    """Whether two projections compute the same synaptic variable (True, False, or a traced
    bool): AlignPost onto one population with equal synapse and output; AlignPre from one
    population with equal synapse, STP and delay (not per synapse)."""
    if type(a) is not type(b) or type(a.syn) is not type(b.syn):
        return False
    if _is_post(a):
        if a.post != b.post or type(a.out) is not type(b.out):
            return False
        same = eqx.tree_equal((a.syn, a.out), (b.syn, b.out))
    else:
        if a.pre != b.pre or a.per_synapse_delay or b.per_synapse_delay:
            return False
        if a.max_delay != b.max_delay or (a.stp is None) != (b.stp is None):
            return False
        same = eqx.tree_equal((a.syn, a.stp, a.delay), (b.syn, b.stp, b.delay))
    known = concrete(same)
    return same if known is None else bool(known)


def _add(a: dict, b: dict) -> dict:
    """Inputs of both dicts, summed where both name a population (recursively for networks)."""
    out = dict(a)
    for name, value in b.items():
        if name not in out or out[name] is None:
            out[name] = value
        elif value is None:
            continue
        elif isinstance(value, Mapping) and isinstance(out[name], Mapping):
            out[name] = _add(dict(out[name]), dict(value))
        else:
            out[name] = jax.tree.map(lambda x, y: jnp.asarray(x) + y, out[name], value)
    return out


def _flatten(x: Array, size: tuple[int, ...]) -> Array:
    return x.reshape(x.shape[: x.ndim - len(size)] + (math.prod(size),))


def _evaluate(value, t):
    """Call input functions of t (a callable that is not an array), inside nested dicts too."""
    if isinstance(value, Mapping):
        return {k: _evaluate(v, t) for k, v in value.items()}
    if isinstance(value, Callable) and not eqx.is_array(value):
        return value(t)
    return value
