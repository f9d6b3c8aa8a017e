"""e-prop: forward-only eligibility-trace learning for recurrent spiking networks."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree

from .._core import DynamicalSystem, check, check_dt, param
from ..neurons._alif import ALIF, ALIFState
from ..neurons._lif import LIF, LIFState

# The differentiable state variables of each neuron model: e-prop keeps one eligibility vector
# component per variable and synapse.
_HIDDEN = ((ALIF, ("v", "a")), (LIF, ("v",)))


def _hidden_names(owner: str, neurons) -> tuple[str, ...]:
    for cls, names in _HIDDEN:
        if isinstance(neurons, cls):
            return names
    raise ValueError(
        f"{owner}(neurons={type(neurons).__name__}(...)): the neurons must be an "
        "nt.neurons.LIF or nt.neurons.ALIF population (for a mix, use ALIF with beta = 0 for "
        "the LIF neurons)."
    )


class RSNNState(eqx.Module):
    neurons: LIFState | ALIFState
    y: Float[Array, "*batch n_out"]


class RSNN(DynamicalSystem):
    """Recurrent spiking network with a leaky readout, the network of e-prop.

        I^t = x^t W_in + z^{t-1} W_rec                  input current of the neurons
        z^t = neurons(I^t)                              one step of the LIF / ALIF population
        y^t = kappa y^{t-1} + z^t W_out + b_out,        kappa = exp(-dt / tau_out)

    x^t (*batch, n_in) is the input at step t (e.g. spikes), z^t the population's spikes, y^t
    the readout (*batch, n_out). A spike at step t acts on the recurrent input from step t + 1.
    Weights are (source, target) matrices: `w_in` (n_in, n_rec), `w_rec` (n_rec, n_rec),
    `w_out` (n_rec, n_out); the current I is in the neurons' input unit (mV / R). `tau_out`
    (ms) is the readout's membrane time constant. Outputs: y^t. A mix of LIF and ALIF neurons
    is one `nt.neurons.ALIF` population with beta = 0 for the LIF neurons.
    Train it by BPTT (`jax.grad` through `nt.simulate`) or by `nt.training.eprop`; both give
    gradients for `params, static = eqx.partition(model, model.weights_filter())`.

    Reference: Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass (2020), A solution
    to the learning dilemma for recurrent networks of spiking neurons, Nat Commun 11:3625.
    """

    neurons: LIF | ALIF
    w_in: Float[Array, "n_in n_rec"]
    w_rec: Float[Array, "n_rec n_rec"]
    w_out: Float[Array, "n_rec n_out"]
    b_out: Float[Array, " n_out"]
    tau_out: Float[Array, ""]

    def __init__(
        self,
        neurons: DynamicalSystem,
        w_in: ArrayLike,
        w_rec: ArrayLike,
        w_out: ArrayLike,
        b_out: ArrayLike | None = None,
        tau_out: ArrayLike = 20.0,
    ):
        owner = "RSNN"
        _hidden_names(owner, neurons)
        if len(neurons.size) != 1:
            raise ValueError(
                f"{owner}: neurons of size {neurons.size}; expected a 1-D population (n_rec,)."
            )
        (n_rec,) = neurons.size
        self.neurons = neurons
        self.w_in = param(owner, "w_in", w_in)
        self.w_rec = param(owner, "w_rec", w_rec)
        self.w_out = param(owner, "w_out", w_out)
        n_in = self.w_in.shape[0] if self.w_in.ndim == 2 else None
        n_out = self.w_out.shape[-1] if self.w_out.ndim == 2 else None
        for name, w, shape in (
            ("w_in", self.w_in, (n_in, n_rec)),
            ("w_rec", self.w_rec, (n_rec, n_rec)),
            ("w_out", self.w_out, (n_rec, n_out)),
        ):
            if w.shape != shape:
                raise ValueError(
                    f"{owner}: {name} of shape {w.shape}; expected {shape} ((source, target) "
                    f"with n_rec = {n_rec} neurons)."
                )
        b_out = jnp.zeros(n_out, self.w_out.dtype) if b_out is None else b_out
        self.b_out = param(owner, "b_out", b_out)
        if self.b_out.shape != (n_out,):
            raise ValueError(f"{owner}: b_out of shape {self.b_out.shape}; expected ({n_out},).")
        self.tau_out = param(owner, "tau_out", tau_out, ())
        check(owner, "tau_out", self.tau_out, lambda v: v > 0, "a positive time constant in ms")

    @property
    def n_in(self) -> int:
        return self.w_in.shape[0]

    @property
    def n_out(self) -> int:
        return self.w_out.shape[1]

    def weights_filter(self) -> PyTree[bool]:
        """True at the trained weights (`w_in`, `w_rec`, `w_out`, `b_out`), for `eqx.partition`."""
        spec = jax.tree.map(lambda _: False, self)
        return eqx.tree_at(
            lambda m: (m.w_in, m.w_rec, m.w_out, m.b_out), spec, (True, True, True, True)
        )

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> RSNNState:
        y = jnp.zeros(tuple(batch_shape) + (self.n_out,), self.w_out.dtype)
        return RSNNState(neurons=self.neurons.init_state(batch_shape, key=key), y=y)

    def __call__(
        self, state: RSNNState, inputs, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[RSNNState, Float[Array, "*batch n_out"]]:
        check_dt("RSNN", dt)
        x = jnp.asarray(inputs, self.w_in.dtype)
        if x.shape != state.y.shape[:-1] + (self.n_in,):
            raise ValueError(
                f"RSNN: inputs of shape {x.shape}; expected {state.y.shape[:-1] + (self.n_in,)} "
                "(*batch, n_in)."
            )
        current = x @ self.w_in + state.neurons.spike @ self.w_rec
        neurons, z = self.neurons(state.neurons, current, t=t, dt=dt, key=key)
        y = jnp.exp(-dt / self.tau_out) * state.y + z @ self.w_out + self.b_out
        return RSNNState(neurons=neurons, y=y), y


class _Traces(eqx.Module):
    # Synapse arrays are (post j, batch, pre i): the batch sums are then batched mat-vecs.
    eps: tuple[Float[Array, "n_rec batch n_pre"], ...]  # eligibility vectors, one per variable
    ebar: Float[Array, "n_rec batch n_pre"]  # eligibility traces filtered with kappa
    zbar: Float[Array, "batch n_rec"]  # spikes filtered with kappa (readout gradient)
    cbar: Float[Array, ""]  # sum_s kappa^(t-s) (bias gradient)
    g_w: Float[Array, "n_rec n_pre"]
    g_out: Float[Array, "n_rec n_out"]
    g_b: Float[Array, " n_out"]
    e_sum: Float[Array, "n_rec batch n_pre"] | None  # sum over t of e (rate loss)
    z_sum: Float[Array, " n_rec"]


def _neuron_jacobians(neurons, names, state, current, t, dt, key):
    """One step of the population and, per neuron, the derivatives of (h^t, z^t) with respect
    to (h^{t-1}, I^t), h = the variables `names`, by forward-mode JVPs (neurons are uncoupled,
    so a tangent of ones on one variable gives that column for every neuron at once)."""

    def step(h, current):
        s = eqx.tree_at(lambda s: tuple(getattr(s, n) for n in names), state, h)
        s, z = neurons(s, current, t=t, dt=dt, key=key)
        return (tuple(getattr(s, n) for n in names), z), s

    h = tuple(getattr(state, n) for n in names)
    (h_new, z), tangent, new_state = jax.linearize(step, h, current, has_aux=True)
    zeros_h = tuple(jnp.zeros_like(x) for x in h)
    zeros_i = jnp.zeros_like(current)
    by_h = [
        tangent(tuple(jnp.ones_like(x) if m == n else zeros_h[n] for n, x in enumerate(h)), zeros_i)
        for m in range(len(h))
    ]  # by_h[m] = (d h^t / d h_m^{t-1}, d z^t / d h_m^{t-1})
    by_i = tangent(zeros_h, jnp.ones_like(current))
    return new_state, z, by_h, by_i


def eprop(
    model: RSNN,
    inputs: Float[ArrayLike, "time batch n_in"],
    targets: PyTree,
    loss_fn: Callable[[Array, PyTree], Array],
    *,
    dt: float,
    feedback: Float[ArrayLike, "n_rec n_out"] | None = None,
    rate_loss: Callable[[Array], Array] | None = None,
    state: RSNNState | None = None,
    t0: float = 0.0,
    key: PRNGKeyArray | None = None,
) -> tuple[tuple[Float[Array, ""], Float[Array, "time batch n_out"]], RSNN]:
    """e-prop gradient estimates of E = sum_t loss_fn(y^t, targets^t) (+ rate_loss(rates)).

    One forward `jax.lax.scan` over the T steps of `inputs` (time, batch, n_in) carries, for
    every synapse i -> j (inputs and recurrent neurons i, neurons j) and every differentiable
    variable of neuron j (v for LIF; v and a for ALIF), the eligibility vector
    eps_ji^t = d h_j^t / d W_ji through neuron j's own dynamics, and the eligibility trace

        eps_ji^t = (d h_j^t / d h_j^{t-1}) eps_ji^{t-1} + (d h_j^t / d I_j^t) x_i^t
        e_ji^t   = (d z_j^t / d h_j^{t-1}) eps_ji^{t-1} + (d z_j^t / d I_j^t) x_i^t

    with x_i^t the presynaptic input or spike z_i^{t-1} and d z / d . the surrogate (the
    pseudo-derivative psi_j). The local derivatives are JVPs of the neuron model itself, so
    they are exactly what BPTT differentiates. For LIF, e_ji^t = psi_j^t (alpha zbar_ji^{t-1}
    + (1 - alpha) R x_i^t) with zbar the presynaptic input filtered by alpha = exp(-dt / tau)
    (and, with neurotree's reset to v_reset, reset to 0 by neuron j's own spikes: d v^t /
    d v^{t-1} = alpha (1 - z_j^t)); for ALIF the second component is Bellec et al.'s eps_a.
    The learning signal L_j^t = sum_k B_jk d loss_t / d y_k^t uses B = W_out (symmetric
    e-prop, `feedback=None`) or a fixed `feedback` matrix (random e-prop), and

        dE/dW_ji ~ sum_t L_j^t ebar_ji^t,    ebar^t = kappa ebar^{t-1} + e^t

    (the readout's leak moved onto the trace). The readout gradients (W_out, b_out) are exact.
    `rate_loss(rates)` adds a loss on the neurons' mean rates in Hz over the trial and batch
    (e.g. a firing-rate regularizer); its gradient is reg'(r_j) (1000 / (T B dt)) sum_t,b e_ji^t.

    The estimate is the exact gradient when the only path from W_ji to the loss runs through
    neuron j's own state and the readout: W_rec = 0 (no path through other neurons; e-prop
    drops exactly these terms), a loss that is a sum over steps of functions of y^t (and of the
    mean rates), symmetric feedback. The surrogate and `detach_reset` are the model's, so the
    same ones hold in both; the equality holds with either `detach_reset`.

    Returns `((E, y), grads)`, as `eqx.filter_value_and_grad(..., has_aux=True)` would, with y
    the readout (time, batch, n_out) and `grads` shaped like
    `eqx.filter(model, model.weights_filter())` (None except at w_in, w_rec, w_out, b_out),
    ready for `optax` and `eqx.apply_updates`. `loss_fn(y, target)` gets y (batch, n_out) and
    the slice of `targets` (a PyTree with a leading time axis) at the step. Memory grows with
    batch x (n_in + n_rec) x n_rec x (variables + 1), not with T. Solvers that carry state
    between steps (FSAL methods) are not supported.

    Reference: Bellec, Scherr, Subramoney, Hajek, Salaj, Legenstein & Maass (2020), A solution
    to the learning dilemma for recurrent networks of spiking neurons, Nat Commun 11:3625
    (eqs. 1-3, 13-14, 24-29).
    """
    owner = "eprop"
    if not isinstance(model, RSNN):
        raise ValueError(
            f"{owner}: model is a {type(model).__name__}; expected an nt.training.RSNN."
        )
    names = _hidden_names(owner, model.neurons)
    check_dt(owner, dt)
    inputs = jnp.asarray(inputs, model.w_in.dtype)
    if inputs.ndim != 3 or inputs.shape[-1] != model.n_in:
        raise ValueError(
            f"{owner}: inputs of shape {inputs.shape}; expected (time, batch, n_in={model.n_in})."
        )
    n_steps, batch, _ = inputs.shape
    bad = [np.shape(x) for x in jax.tree.leaves(targets) if np.shape(x)[:1] != (n_steps,)]
    if bad:
        raise ValueError(
            f"{owner}: targets with leaves of shapes {bad}; every leaf needs a leading time axis "
            f"of length {n_steps} (the inputs')."
        )
    n_rec, n_out = model.w_out.shape
    fb = model.w_out if feedback is None else jnp.asarray(feedback, model.w_out.dtype)
    if fb.shape != (n_rec, n_out):
        raise ValueError(
            f"{owner}: feedback of shape {fb.shape}; expected (n_rec, n_out) = {(n_rec, n_out)}."
        )
    state = model.init_state((batch,)) if state is None else state
    if state.y.shape != (batch, n_out):
        raise ValueError(
            f"{owner}: a state with readout of shape {state.y.shape}; expected ({batch}, {n_out})."
        )
    if state.neurons.carry is not None:
        raise ValueError(
            f"{owner}: the neurons' solver {type(model.neurons.solver).__name__} keeps state "
            "between steps; use one without (nt.integrators.ExponentialEuler, diffrax.Euler, "
            "diffrax.Heun)."
        )

    dtype = model.w_in.dtype
    n_pre = model.n_in + n_rec  # presynaptic: the inputs, then the neurons
    kappa = jnp.exp(-dt / model.tau_out)
    zeros_e = jnp.zeros((n_rec, batch, n_pre), dtype)
    zeros_g = jnp.zeros((n_rec, n_pre), dtype)
    traces = _Traces(
        eps=tuple(zeros_e for _ in names), ebar=zeros_e, zbar=jnp.zeros((batch, n_rec), dtype),
        cbar=jnp.zeros((), dtype), g_w=zeros_g, g_out=jnp.zeros_like(model.w_out),
        g_b=jnp.zeros_like(model.b_out), e_sum=None if rate_loss is None else zeros_e,
        z_sum=jnp.zeros(n_rec, dtype),
    )  # fmt: skip

    def step(carry, xs):
        state, tr, i = carry
        x, target = xs
        t = t0 + i * dt
        k = None if key is None else jax.random.fold_in(key, i)
        pre = jnp.concatenate([x, state.neurons.spike], axis=-1)  # (batch, n_pre)
        current = x @ model.w_in + state.neurons.spike @ model.w_rec  # as RSNN.__call__
        neurons, z, by_h, (dh_di, dz_di) = _neuron_jacobians(
            model.neurons, names, state.neurons, current, t, dt, k
        )
        pre3 = pre[None]

        def post(x):  # (batch, n_rec) -> (n_rec, batch, 1)
            return x.T[:, :, None]

        e = post(dz_di) * pre3
        for m, (_, dz_dh) in enumerate(by_h):
            e = e + post(dz_dh) * tr.eps[m]
        eps = []
        for n in range(len(names)):
            new = post(dh_di[n]) * pre3
            for m, (dh_dh, _) in enumerate(by_h):
                new = new + post(dh_dh[n]) * tr.eps[m]
            eps.append(new)
        y = jnp.exp(-dt / model.tau_out) * state.y + z @ model.w_out + model.b_out
        loss, dl_dy = jax.value_and_grad(loss_fn)(y, target)
        signal = dl_dy @ fb.T  # (batch, n_rec)
        ebar = kappa * tr.ebar + e
        zbar = kappa * tr.zbar + z
        cbar = kappa * tr.cbar + 1.0
        tr = _Traces(
            eps=tuple(eps), ebar=ebar, zbar=zbar, cbar=cbar,
            g_w=tr.g_w + jnp.einsum("bj,jbi->ji", signal, ebar),
            g_out=tr.g_out + zbar.T @ dl_dy, g_b=tr.g_b + cbar * jnp.sum(dl_dy, axis=0),
            e_sum=None if tr.e_sum is None else tr.e_sum + e,
            z_sum=tr.z_sum + jnp.sum(z, axis=0),
        )  # fmt: skip
        return (RSNNState(neurons=neurons, y=y), tr, i + 1), (loss, y)

    (_, tr, _), (losses, ys) = jax.lax.scan(
        step, (state, traces, jnp.asarray(0, jnp.int32)), (inputs, targets)
    )
    total = jnp.sum(losses)
    g_w = tr.g_w.T  # (n_pre, n_rec)
    if rate_loss is not None:
        per_spike = 1000.0 / (n_steps * batch * jnp.asarray(dt, dtype))  # Hz per spike
        reg, dreg = jax.value_and_grad(rate_loss)(tr.z_sum * per_spike)
        total = total + reg
        g_w = g_w + (dreg * per_spike)[None, :] * jnp.sum(tr.e_sum, axis=1).T
    n_in = model.n_in
    grads = eqx.tree_at(
        lambda m: (m.w_in, m.w_rec, m.w_out, m.b_out),
        model,
        (g_w[:n_in], g_w[n_in:], tr.g_out, tr.g_b),
    )
    return (total, ys), eqx.filter(grads, model.weights_filter())
