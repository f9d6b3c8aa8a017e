"""Projections: the spikes of a pre population, turned into a current in a post population.

One step of a projection: short-term plasticity acts on the pre spikes (a release per spike), the
delay holds them in flight, the communication layer weights and routes them, the synaptic
dynamics filter them and the output turns the synaptic variable into a current (using the post
membrane potential for conductance-based outputs). STDP then updates the weights, which live in
the projection's state.
"""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree

from . import comm as _comm, synapses as _synapses
from ._core import concrete
from ._delay import (
    Ring,
    check_slots,
    delay_steps,
    gather_history,
    init_ring,
    push_pop,
    record_history,
    scatter_ahead,
    steps_at,
)


class ProjectionState(eqx.Module):
    """State of one projection; fields a projection does not use are None.

    `syn`: the synaptic variables (post side for AlignPost, pre side for AlignPre; None for an
    AlignPost whose synapse is shared with another projection of a `Network`). `delay`: spikes
    in flight. `stp`, `stdp`: plasticity state. `weight`: the plastic weights (with `stdp`).
    """

    syn: PyTree | None
    delay: Ring | None
    stp: PyTree | None
    weight: Float[Array, "..."] | None
    stdp: PyTree | None


class _Projection(eqx.Module):
    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    comm: _comm.Comm
    syn: _synapses.Synapse
    out: _synapses.Output
    delay: Float[Array, "*synapses"] | None
    max_delay: float | None = eqx.field(static=True)
    stp: _synapses.STP | None
    stdp: _synapses.STDP | None

    def __init__(
        self,
        pre: str,
        post: str,
        comm: _comm.Comm,
        syn: _synapses.Synapse,
        out: _synapses.Output,
        delay: ArrayLike | None = None,
        stp: _synapses.STP | None = None,
        *,
        stdp: _synapses.STDP | None = None,
        max_delay: float | None = None,
    ):
        owner = type(self).__name__
        for name, value in (("pre", pre), ("post", post)):
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"{owner}({name}={value!r}): {name} must be the name of a population, "
                    "e.g. 'E' (or 'area.E' inside a nested network)."
                )
        self.pre, self.post = pre, post
        for name, value, kind, example in (
            ("comm", comm, _comm.Comm, "nt.comm.EventCSR(conn, weight=0.6)"),
            ("syn", syn, _synapses.Synapse, "nt.synapses.Expon(tau=5.0)"),
            ("out", out, _synapses.Output, "nt.synapses.COBA(E=0.0)"),
        ):
            if not isinstance(value, kind):
                raise ValueError(f"{owner}({name}={value!r}): expected e.g. {example}.")
        if stp is not None and not isinstance(stp, _synapses.STP):
            raise ValueError(f"{owner}(stp={stp!r}): expected None or nt.synapses.STP(...).")
        if stdp is not None and not isinstance(stdp, _synapses.STDP):
            raise ValueError(f"{owner}(stdp={stdp!r}): expected None or nt.synapses.STDP(...).")
        self.comm, self.syn, self.out, self.stp, self.stdp = comm, syn, out, stp, stdp
        if delay is None:
            if max_delay is not None:
                raise ValueError(
                    f"{self._name()}(max_delay={max_delay!r}): max_delay without a delay."
                )
            self.delay, self.max_delay = None, None
        else:
            self.delay = self._check_delay(delay)
            self.max_delay = self._check_max_delay(delay, max_delay)

    def _check_max_delay(self, delay, max_delay) -> float:
        owner = self._name()
        d = concrete(delay)
        if max_delay is None:
            if d is None:
                raise ValueError(
                    f"{owner}: the delay is traced (built inside jit or vmap), so the size of its "
                    "buffer is unknown; pass max_delay=... (ms), a concrete bound on it."
                )
            return float(d.max()) if d.size else 0.0
        m = concrete(max_delay)
        if m is None or np.ndim(m) != 0 or not (np.isfinite(m) and m > 0):
            raise ValueError(f"{owner}(max_delay={max_delay!r}): expected a positive number (ms).")
        if d is not None and d.size and d.max() > m:
            raise ValueError(
                f"{owner}(max_delay={float(m)}): the delays reach {float(d.max())} ms, above "
                "max_delay."
            )
        return float(m)

    def _check_delay(self, delay) -> Float[Array, "..."]:
        owner = self._name()
        d = concrete(delay)
        delay = jnp.asarray(delay, dtype=jnp.result_type(float))
        if d is not None and not np.all(np.isfinite(d) & (d > 0)):
            raise ValueError(f"{owner}(delay={d.min()!s}): delays must be positive times in ms.")
        if delay.ndim == 0:
            return delay
        try:
            pre_idx, _ = self.comm.synapses()
        except ValueError as e:
            raise ValueError(
                f"{owner}: per-synapse delays need stored synapses; {type(self.comm).__name__} "
                "does not store them. Use one delay for the projection."
            ) from e
        if delay.size != pre_idx.shape[0]:
            raise ValueError(
                f"{owner}: {delay.size} per-synapse delays (shape {delay.shape}) for "
                f"{pre_idx.shape[0]} synapses; give one delay per synapse, in the order of "
                "comm.synapses(), or one delay for the projection."
            )
        if self.stdp is not None:
            raise ValueError(
                f"{owner}: STDP with per-synapse delays is not supported (each synapse would "
                "see its own pre spike train); use one delay for the projection."
            )
        return delay.reshape(-1)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.pre!r} -> {self.post!r})"

    @property
    def per_synapse_delay(self) -> bool:
        return self.delay is not None and self.delay.ndim == 1

    @property
    def n_pre(self) -> int:
        return self.comm.n_pre

    @property
    def n_post(self) -> int:
        return self.comm.n_post

    def _syn_size(self) -> int:
        raise NotImplementedError

    def init_state(self, batch_shape: tuple[int, ...] = (), *, dt=None) -> ProjectionState:
        """The state at rest. `dt` (ms) is needed when there is a delay, to size its buffer."""
        batch_shape = tuple(batch_shape)
        dtype = jnp.result_type(float)
        syn = self.syn.init_state(batch_shape + (self._syn_size(),))
        ring = None
        if self.delay is not None:
            if dt is None:
                raise ValueError(
                    f"{self._name()} has a delay; pass the step, init_state(..., dt=...), so "
                    "that its delay buffer can be sized."
                )
            known = concrete(self.delay)
            steps = delay_steps(self._name(), self.max_delay if known is None else known, dt)
            if steps is None:
                raise ValueError(f"{self._name()}: dt must be a concrete number in init_state.")
            ring = self._init_ring(steps, batch_shape, dtype)
        stp = None if self.stp is None else self.stp.init_state(batch_shape + (self.n_pre,))
        weight = stdp = None
        if self.stdp is not None:
            w = self.comm.plastic_weight()
            weight = jnp.broadcast_to(w, batch_shape + w.shape)
            stdp = self.stdp.init_state(self.n_pre, self.n_post, batch_shape)
        return ProjectionState(syn=syn, delay=ring, stp=stp, weight=weight, stdp=stdp)

    def _init_ring(self, steps: int, batch_shape, dtype) -> Ring | None:
        if self.per_synapse_delay:
            return init_ring(steps, (self.n_post,), dtype, batch_shape)
        return None if steps == 1 else init_ring(steps, (self.n_pre,), dtype, batch_shape)

    def _check_sizes(self, pre_spike, v, post_spike) -> None:
        owner = self._name()
        for name, x, n in (("pre spikes", pre_spike, self.n_pre), ("v", v, self.n_post)):
            if x is not None and (jnp.ndim(x) == 0 or jnp.shape(x)[-1] != n):
                raise ValueError(
                    f"{owner}: {name} of shape {jnp.shape(x)}; expected a last axis of {n} "
                    f"(the size of {self.pre if name == 'pre spikes' else self.post})."
                )
        if self.stdp is not None and post_spike is None:
            raise ValueError(f"{owner}: STDP needs the post spikes (post_spike=...).")
        if self.out.needs_v and v is None:
            raise ValueError(
                f"{owner}: {type(self.out).__name__} needs the post membrane potential (v=...)."
            )

    def _arrive(self, state: ProjectionState, pre_spike, *, t, dt):
        """STP, then the uniform delay: the pre-side signal that reaches the synapses now."""
        stp = state.stp
        release = pre_spike
        if self.stp is not None:
            stp, release = self.stp(state.stp, pre_spike, t=t, dt=dt)
        ring = state.delay
        if self.delay is not None and not self.per_synapse_delay:
            slots = 1 if ring is None else ring.buffer.shape[0]
            steps = steps_at(self.delay, dt)
            release = check_slots(self._name(), steps, slots, dt, release)
            if ring is not None:
                ring, release = push_pop(ring, release, steps)
        return dataclasses.replace(state, stp=stp, delay=ring), release

    def _weight(self, state):
        return state.weight

    def _learn(self, state: ProjectionState, arrived, post_spike, *, dt) -> ProjectionState:
        if self.stdp is None:
            return state
        stdp, weight = self.stdp(state.stdp, state.weight, arrived, post_spike, self.comm, dt=dt)
        return dataclasses.replace(state, stdp=stdp, weight=weight)

    def _synapse_weights(self, state) -> tuple[Array, Array, Array]:
        pre_idx, post_idx = self.comm.synapses()
        w = self.comm.plastic_weight().reshape(-1) if state.weight is None else state.weight
        return pre_idx, post_idx, w


class AlignPost(_Projection):
    """A projection whose synaptic variable lives on the post side (one per post neuron).

    Each step the arriving pre spikes (after `stp` and `delay`) are weighted and summed per post
    neuron by `comm`, event-driven; the sum x enters the synapse `syn` (e.g. g <- g e^{-dt/tau}
    + x for `Expon`); `out` turns it into the current, e.g. g (E - v) for `COBA(E)`. State and
    work scale with neurons, not synapses. Exact only for linear synapses (`syn.linear`), whose
    response to a sum of inputs is the sum of responses; for nonlinear kinetics (AMPA, GABAa,
    NMDA) use `AlignPre`.

    `delay` (ms): None (one step), a scalar, or one per synapse (in the order of
    `comm.synapses()`); a spike emitted at step n changes the current at step
    n + round(delay / dt). `stp`: `nt.synapses.STP` (acts on each pre neuron's spikes as they are
    emitted). `stdp`: `nt.synapses.STDP`; the weights then live in the state. `max_delay` (ms):
    a bound on the delays, which sizes their buffer; needed only when the delays are traced (to
    sweep them under `vmap`), by default their maximum.

    Reference: Wang et al. (2023) eLife 12:e86365 (BrainPy's align-post projections); NEST's
    delay convention (Gewaltig & Diesmann 2007, Scholarpedia 2:1430).
    """

    def __check_init__(self):
        if not type(self.syn).linear:
            raise ValueError(
                f"{self._name()}: {type(self.syn).__name__} is nonlinear in its input, and "
                "AlignPost sums the inputs of many pre neurons before the synapse, which is "
                "exact only for linear synapses (Expon, DualExpon, Alpha). Use nt.AlignPre, "
                "which keeps one synapse per pre neuron."
            )

    def _syn_size(self) -> int:
        return self.n_post

    def deliver(
        self, state: ProjectionState, pre_spike, post_spike=None, *, t, dt
    ) -> tuple[ProjectionState, Float[Array, "*batch n_post"]]:
        """The weighted input arriving at each post neuron this step (before the synapse)."""
        state, arrived = self._arrive(state, pre_spike, t=t, dt=dt)
        if self.per_synapse_delay:
            pre_idx, post_idx, w = self._synapse_weights(state)
            steps = steps_at(self.delay, dt)
            values = arrived[..., pre_idx] * w
            slots = state.delay.buffer.shape[0]
            values = check_slots(self._name(), steps, slots, dt, values)
            ring, x = scatter_ahead(state.delay, values, steps - 1, post_idx)
            state = dataclasses.replace(state, delay=ring)
        else:
            x = self.comm(arrived, weight=self._weight(state))
        return self._learn(state, arrived, post_spike, dt=dt), x

    def __call__(
        self,
        state: ProjectionState,
        pre_spike: Float[Array, "*batch n_pre"],
        *,
        v: Float[Array, "... n_post"] | None = None,
        post_spike: Float[Array, "... n_post"] | None = None,
        t,
        dt,
    ) -> tuple[ProjectionState, Float[Array, "*batch n_post"]]:
        """One step: pre spikes of the last step in, the current into the post neurons out."""
        self._check_sizes(pre_spike, v, post_spike)
        state, x = self.deliver(state, pre_spike, post_spike, t=t, dt=dt)
        syn, g = self.syn(state.syn, x, t=t, dt=dt)
        return dataclasses.replace(state, syn=syn), self.out(g, v)


class AlignPre(_Projection):
    """A projection whose synaptic variable lives on the pre side (one per pre neuron).

    Each step the arriving pre spikes (after `stp` and `delay`) drive the synapse of their own
    neuron, g_i; `comm` sends g through the weights, G_j = sum_i w_ij g_i, and `out` turns G
    into the current (e.g. MgBlock for NMDA). Right for synapses whose dynamics depend on the
    pre neuron only, linear or not (AMPA, GABAa and NMDA kinetics); for linear synapses it gives
    the same currents as `AlignPost`. Arguments as for `AlignPost`. With per-synapse delays the
    last max(delay)/dt values of g are kept and each synapse reads its own.

    Reference: Wang et al. (2023) eLife 12:e86365 (BrainPy's align-pre projections).
    """

    def _syn_size(self) -> int:
        return self.n_pre

    def _init_ring(self, steps: int, batch_shape, dtype) -> Ring | None:
        if self.per_synapse_delay:
            return init_ring(steps, (self.n_pre,), dtype, batch_shape)
        return super()._init_ring(steps, batch_shape, dtype)

    def __call__(
        self,
        state: ProjectionState,
        pre_spike: Float[Array, "*batch n_pre"],
        *,
        v: Float[Array, "... n_post"] | None = None,
        post_spike: Float[Array, "... n_post"] | None = None,
        t,
        dt,
    ) -> tuple[ProjectionState, Float[Array, "*batch n_post"]]:
        """One step: pre spikes of the last step in, the current into the post neurons out."""
        self._check_sizes(pre_spike, v, post_spike)
        state, arrived, g = self.emit(state, pre_spike, t=t, dt=dt)
        return self.receive(state, g, arrived, v=v, post_spike=post_spike, dt=dt)

    def emit(
        self, state: ProjectionState, pre_spike, *, t, dt
    ) -> tuple[ProjectionState, Array, Float[Array, "*batch n_pre"]]:
        """The pre side: (state, arrived spikes, synaptic variable g of each pre neuron)."""
        state, arrived = self._arrive(state, pre_spike, t=t, dt=dt)
        syn, g = self.syn(state.syn, arrived, t=t, dt=dt)
        return dataclasses.replace(state, syn=syn), arrived, g

    def receive(
        self, state: ProjectionState, g, arrived, *, v=None, post_spike=None, dt
    ) -> tuple[ProjectionState, Float[Array, "*batch n_post"]]:
        """The post side: g through the weights (and per-synapse delays) into the current."""
        if self.per_synapse_delay:
            pre_idx, post_idx, w = self._synapse_weights(state)
            steps = steps_at(self.delay, dt)
            g = check_slots(self._name(), steps, state.delay.buffer.shape[0], dt, g)
            ring = record_history(state.delay, g)
            values = gather_history(ring, steps - 1, pre_idx) * w
            G = jnp.zeros(values.shape[:-1] + (self.n_post,), values.dtype)
            G = G.at[..., post_idx].add(values)
            state = dataclasses.replace(state, delay=ring)
        else:
            G = self.comm(g, weight=self._weight(state))
        state = self._learn(state, arrived, post_spike, dt=dt)
        return state, self.out(G, v)
