"""Pair-based spike-timing-dependent plasticity with all-to-all traces."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import broadcast_input, check_dt, param
from ..neurons._if_base import check_below
from ._base import time_constant


class STDPState(eqx.Module):
    trace_pre: Float[Array, "*batch n_pre"]
    trace_post: Float[Array, "*batch n_post"]


class STDP(eqx.Module):
    """Pair-based STDP with all-to-all spike pairing, as in Brian2's STDP example.

        d trace_pre/dt = -trace_pre / tau_pre,    d trace_post/dt = -trace_post / tau_post
        on a pre spike:   trace_pre += A_pre;   w <- clip(w + trace_post, w_min, w_max)
        on a post spike:  trace_post += A_post; w <- clip(w + trace_pre, w_min, w_max)

    Each step first decays the traces exactly over dt, then handles the step's pre spikes, then
    its post spikes (so a pre and a post spike in the same step count as pre before post). For
    one pair at dt_s = t_post - t_pre the weight changes (additively, unless clipped) by
    A_pre exp(-dt_s / tau_pre) if dt_s >= 0 and by A_post exp(dt_s / tau_post) if dt_s < 0;
    with more spikes, by the sum over all pre/post pairs. Sign convention: A_pre > 0
    potentiates (pre before post), A_post < 0 depresses (post before pre); the defaults, with
    |A_post| tau_post slightly above A_pre tau_pre, make uncorrelated firing depress on average.
    Traces live per neuron (Brian2 keeps them per synapse; with all-to-all pairing they are the
    same for every synapse of a neuron); the change to synapse (i -> j) comes from
    `comm.outer(a_pre, b_post)`, so the weight is shaped like `comm.plastic_weight()`.
    `__call__(state, weight, pre_spike, post_spike, comm, *, dt) -> (state, weight)`.
    Units: t, tau_pre and tau_post in ms; A_pre, A_post, w_min, w_max in the weight's unit.

    Reference: Song, Miller & Abbott (2000), Competitive Hebbian learning through
    spike-timing-dependent synaptic plasticity, Nat Neurosci 3:919-926; Brian2 documentation,
    Example: STDP (Song et al. 2000).
    """

    tau_pre: Float[Array, "..."]
    tau_post: Float[Array, "..."]
    A_pre: Float[Array, "..."]
    A_post: Float[Array, "..."]
    w_min: Float[Array, "..."]
    w_max: Float[Array, "..."]

    def __init__(
        self,
        tau_pre: ArrayLike = 20.0,
        tau_post: ArrayLike = 20.0,
        A_pre: ArrayLike = 0.01,
        A_post: ArrayLike = -0.0105,
        w_min: ArrayLike = 0.0,
        w_max: ArrayLike = 1.0,
    ):
        self.tau_pre = time_constant("STDP", "tau_pre", tau_pre)
        self.tau_post = time_constant("STDP", "tau_post", tau_post)
        self.A_pre = param("STDP", "A_pre", A_pre)
        self.A_post = param("STDP", "A_post", A_post)
        self.w_min = param("STDP", "w_min", w_min)
        self.w_max = param("STDP", "w_max", w_max)
        check_below("STDP", "w_min", self.w_min, "w_max", self.w_max)

    def init_state(self, n_pre: int, n_post: int, batch_shape: tuple[int, ...] = ()) -> STDPState:
        for name, n in (("n_pre", n_pre), ("n_post", n_post)):
            if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                raise ValueError(f"STDP.init_state({name}={n!r}): {name} must be a positive int.")
        dtype = self.tau_pre.dtype
        batch_shape = tuple(batch_shape)
        return STDPState(
            trace_pre=jnp.zeros(batch_shape + (n_pre,), dtype),
            trace_post=jnp.zeros(batch_shape + (n_post,), dtype),
        )

    def __call__(
        self,
        state: STDPState,
        weight: Float[Array, "..."],
        pre_spike: ArrayLike,
        post_spike: ArrayLike,
        comm,
        *,
        dt: ArrayLike,
    ) -> tuple[STDPState, Float[Array, "..."]]:
        check_dt("STDP", dt)
        pre = broadcast_input("STDP", "pre_spike", pre_spike, state.trace_pre.shape)
        post = broadcast_input("STDP", "post_spike", post_spike, state.trace_post.shape)
        trace_pre = state.trace_pre * jnp.exp(-dt / self.tau_pre) + self.A_pre * pre
        trace_post = state.trace_post * jnp.exp(-dt / self.tau_post)
        weight = jnp.clip(weight + comm.outer(pre, trace_post), self.w_min, self.w_max)
        trace_post = trace_post + self.A_post * post
        weight = jnp.clip(weight + comm.outer(trace_pre, post), self.w_min, self.w_max)
        return STDPState(trace_pre=trace_pre, trace_post=trace_post), weight
