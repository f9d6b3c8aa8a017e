import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

S = nt.synapses
DTYPE = jnp.zeros(()).dtype
FLOAT64 = DTYPE == jnp.float64
EPS = float(jnp.finfo(DTYPE).eps)


@eqx.filter_jit
def _run(syn, inputs, dt):
    def step(state, args):
        n, x = args
        return syn(state, x, t=n * dt, dt=dt)

    n = jnp.arange(inputs.shape[0], dtype=inputs.dtype)
    return jax.lax.scan(step, syn.init_state(inputs.shape[1:]), (n, inputs))


def run(syn, inputs, dt):
    """Step `syn` over `inputs` (n_steps, *shape); return (final state, g record).

    Compiled once per synapse type and input shape (dt is traced), to keep the file fast."""
    return _run(syn, jnp.asarray(inputs, DTYPE), jnp.asarray(dt, DTYPE))


def impulse(n_steps, at=0, shape=(1,)):
    x = np.zeros((n_steps,) + shape)
    x[at] = 1.0
    return x


def dual_kernel(t, tau_rise, tau_decay):
    tp = tau_rise * tau_decay / (tau_decay - tau_rise) * np.log(tau_decay / tau_rise)
    A = 1.0 / (np.exp(-tp / tau_decay) - np.exp(-tp / tau_rise))
    return A * (np.exp(-t / tau_decay) - np.exp(-t / tau_rise)), tp


# ---------------------------------------------------------------- linear kernels


@pytest.mark.parametrize("dt", [0.1, 0.37, 2.0])
def test_expon_and_dual_expon_are_exact_at_any_dt(dt):
    # An input in step 0 (applied at t = dt) is seen k steps later as kernel(k dt). Exact up to
    # rounding: the decay factor per step is rounded once, so the relative error after n steps
    # is at most about n eps (measured: up to 1.0 n eps for Expon, 0.03 n eps for DualExpon).
    n = 300
    t = dt * np.arange(n)
    _, g = run(S.Expon(tau=8.0), impulse(n), dt)
    np.testing.assert_allclose(np.asarray(g[:, 0]), np.exp(-t / 8.0), rtol=2 * n * EPS)
    _, g = run(S.DualExpon(tau_rise=1.5, tau_decay=9.0), impulse(n), dt)
    expected, _ = dual_kernel(t, 1.5, 9.0)
    # g is a difference of two O(1) numbers: its error is absolute.
    np.testing.assert_allclose(np.asarray(g[:, 0]), expected, rtol=0, atol=0.2 * n * EPS)


def test_dual_expon_unit_input_peaks_at_one():
    tau_rise, tau_decay = 2.0, 7.0
    _, tp = dual_kernel(0.0, tau_rise, tau_decay)
    dt = tp / 40  # the peak falls on the grid, 40 steps after the input
    syn = S.DualExpon(tau_rise=tau_rise, tau_decay=tau_decay)
    np.testing.assert_allclose(float(syn.t_peak), tp, rtol=1e-6)
    _, g = run(syn, impulse(200), dt)
    g = np.asarray(g[:, 0])
    assert int(np.argmax(g)) == 40
    np.testing.assert_allclose(g[40], 1.0, rtol=0, atol=20 * EPS)
    assert g.max() <= 1.0 + 20 * EPS


def test_alpha_accuracy_at_dt_01():
    # ExponentialRK2 on the Jordan block: max error (dt / tau)^2 / 12, as the docstring states.
    dt, n = 0.1, 800
    t = dt * np.arange(n)
    for tau, bound in [(8.0, 1.5e-5), (4.0, 6e-5), (2.0, 2.3e-4)]:
        _, g = run(S.Alpha(tau=tau), impulse(n), dt)
        err = np.max(np.abs(np.asarray(g[:, 0]) - t / tau * np.exp(1 - t / tau)))
        assert bound / 3 < err < bound, (tau, err)  # the stated accuracy is the actual one
    assert isinstance(S.Alpha().solver, nt.integrators.ExponentialRK2)


def test_alpha_converges_at_second_order():
    with jax.enable_x64(True):
        errs, dts, n = [], [0.4, 0.2, 0.1, 0.05], 800
        for dt in dts:
            t = dt * np.arange(n)
            _, g = run(S.Alpha(tau=5.0), impulse(n), dt)
            errs.append(np.max(np.abs(np.asarray(g[:, 0]) - t / 5.0 * np.exp(1 - t / 5.0))))
        slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
        assert abs(slope - 2.0) < 0.1, (slope, errs)


@pytest.mark.parametrize("make", [S.Expon, S.DualExpon, S.Alpha], ids=lambda m: m.__name__)
def test_linear_synapses_are_linear(make):
    syn = make()
    rng = np.random.default_rng(0)
    n, dt = 200, 0.1
    a = (rng.random((n, 3)) < 0.05) * rng.normal(1.0, 0.3, (n, 3))
    b = (rng.random((n, 3)) < 0.05) * rng.normal(-0.5, 0.3, (n, 3))
    ga, gb, gab, g3a = (np.asarray(run(syn, x, dt)[1]) for x in (a, b, a + b, 3.0 * a))
    scale = np.max(np.abs(gab))
    np.testing.assert_allclose(gab, ga + gb, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(g3a, 3.0 * ga, rtol=0, atol=1e-5 * scale)


def test_linear_flags():
    for cls in (S.Expon, S.DualExpon, S.Alpha):
        assert cls.linear is True and cls().linear is True
    for cls in (S.AMPA, S.GABAa, S.NMDA):
        assert cls.linear is False and cls().linear is False
    for cls in (S.Expon, S.DualExpon, S.Alpha, S.AMPA, S.GABAa, S.NMDA):
        assert issubclass(cls, S.Synapse)
    for cls, needs_v in ((S.CUBA, False), (S.COBA, True), (S.MgBlock, True)):
        assert issubclass(cls, S.Output) and cls.needs_v is needs_v


def test_expon_with_a_stateful_solver_keeps_its_carry():
    syn = S.Expon(tau=5.0, solver=diffrax.Tsit5())
    state, g = run(syn, impulse(100, at=10), 0.1)
    assert state.carry is not None
    t = 0.1 * np.arange(90)
    np.testing.assert_allclose(np.asarray(g[10:, 0]), np.exp(-t / 5.0), rtol=1e-5)
    assert np.all(np.asarray(g[:10]) == 0)


# ---------------------------------------------------------------- kinetic AMPA / GABAa


def on_steps(g, alpha, beta, T, dt):
    """Classify each step of a g record as transmitter on (True) or off (False)."""
    g = np.asarray(g, np.float64)
    prev = np.concatenate([[0.0], g[:-1]])
    g_inf, rate = alpha * T / (alpha * T + beta), alpha * T + beta
    on = g_inf + (prev - g_inf) * np.exp(-rate * dt)
    off = prev * np.exp(-beta * dt)
    tol = 1e-5 if not FLOAT64 else 1e-12
    is_on = np.abs(g - on) <= tol
    assert np.all(is_on | (np.abs(g - off) <= tol))
    return is_on


@pytest.mark.parametrize("cls", [S.AMPA, S.GABAa], ids=lambda c: c.__name__)
@pytest.mark.parametrize("T_dur,dt", [(0.5, 0.1), (1.0, 0.1), (0.5, 0.03), (1.0, 0.3)])
def test_transmitter_pulse_lasts_round_T_dur_over_dt_steps(cls, T_dur, dt):
    syn = cls(T_dur=T_dur)
    k = round(T_dur / dt)
    _, g = run(syn, impulse(60, at=7), dt)
    is_on = on_steps(g[:, 0], float(syn.alpha), float(syn.beta), float(syn.T), dt)
    assert np.array_equal(np.nonzero(is_on)[0], np.arange(7, 7 + k))
    # A second spike during the pulse restarts it.
    x = impulse(60, at=7)
    x[7 + k - 1] = 1.0
    _, g = run(syn, x, dt)
    is_on = on_steps(g[:, 0], float(syn.alpha), float(syn.beta), float(syn.T), dt)
    assert np.array_equal(np.nonzero(is_on)[0], np.arange(7, 7 + 2 * k - 1))


def test_kinetic_rises_to_steady_state_and_decays_with_beta():
    syn = S.AMPA(alpha=0.98, beta=0.18, T=0.5, T_dur=60.0)
    dt = 0.1
    _, g = run(syn, impulse(1000), dt)
    g = np.asarray(g[:, 0], np.float64)
    g_inf = 0.98 * 0.5 / (0.98 * 0.5 + 0.18)
    assert np.all(np.diff(g[:100]) > 0) and np.all(np.diff(g[:600]) >= 0)
    np.testing.assert_allclose(g[599], g_inf, rtol=1e-6)
    np.testing.assert_allclose(g[601:] / g[600:-1], np.exp(-0.18 * dt), rtol=1e-5)


def kinetic_reference(spike_steps, n, dt, alpha, beta, T, T_dur, h=1e-3):
    """float64 RK4 at step h of dg/dt = alpha [T] (1 - g) - beta g; a spike in step n switches
    [T] on over [n dt, n dt + round(T_dur / dt) dt). Returns g at the end of every step."""
    k = round(T_dur / dt)
    per = round(dt / h)
    on = np.zeros(n * per, bool)
    for s in spike_steps:
        on[s * per : (s + k) * per] = True
    f = lambda g, c: alpha * c * (1 - g) - beta * g  # noqa: E731
    g, out = 0.0, []
    for i in range(n * per):
        c = T * on[i]
        k1 = f(g, c)
        k2 = f(g + h / 2 * k1, c)
        k3 = f(g + h / 2 * k2, c)
        k4 = f(g + h * k3, c)
        g += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if (i + 1) % per == 0:
            out.append(g)
    return np.array(out)


@pytest.mark.parametrize("cls", [S.AMPA, S.GABAa], ids=lambda c: c.__name__)
def test_kinetic_matches_fine_float64_integration(cls):
    syn = cls()
    dt, n = 0.1, 400
    spikes = [5, 30, 33, 150, 151, 152]
    x = np.zeros((n, 1))
    x[spikes] = 1.0
    _, g = run(syn, x, dt)
    p = {name: float(getattr(syn, name)) for name in ("alpha", "beta", "T", "T_dur")}
    ref = kinetic_reference(spikes, n, dt, **p)
    assert ref.max() > 0.05
    np.testing.assert_allclose(np.asarray(g[:, 0]), ref, rtol=0, atol=2e-6 if not FLOAT64 else 1e-9)


# ---------------------------------------------------------------- NMDA


def nmda_reference(spike_times, t_end, tau_decay=100.0, tau_rise=2.0, a=0.5, h=2e-3):
    """float64 RK4 of Wang's NMDA gating with x += 1 at `spike_times` (on the h grid)."""
    jumps = {round(t / h) for t in spike_times}
    f = lambda s, x: (-s / tau_decay + a * x * (1 - s), -x / tau_rise)  # noqa: E731
    s = x = 0.0
    out = []
    for k in range(round(t_end / h) + 1):
        x += k in jumps
        out.append(s)
        k1 = f(s, x)
        k2 = f(s + h / 2 * k1[0], x + h / 2 * k1[1])
        k3 = f(s + h / 2 * k2[0], x + h / 2 * k2[1])
        k4 = f(s + h * k3[0], x + h * k3[1])
        s += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        x += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return np.array(out)


def test_nmda_matches_fine_integration_at_the_stated_accuracy():
    dt, n = 0.1, 1500
    steps = [int(round(10 * i / dt)) for i in range(10)]  # 100 Hz burst of 10 spikes
    x = np.zeros((n, 1))
    x[steps] = 1.0
    _, s = run(S.NMDA(), x, dt)
    ref = nmda_reference([(k + 1) * dt for k in steps], n * dt)
    ref = ref[np.round(dt * np.arange(1, n + 1) / 2e-3).astype(int)]
    err = np.max(np.abs(np.asarray(s[:, 0]) - ref))
    assert 0.9 < ref.max() < 1.0
    assert err < 2e-4, err  # docstring: 1.7e-4 at dt = 0.1 ms


@pytest.mark.parametrize("dt", [0.1, 1.0, 5.0])
def test_nmda_saturates_below_one(dt):
    x = np.full((200, 2), 5.0)  # a strong input every step
    x[:, 1] = 0.0
    x[0, 1] = 50.0
    _, s = run(S.NMDA(), x, dt)
    s = np.asarray(s)
    assert np.all(s >= 0) and np.all(s <= 1.0)
    assert s[:, 0].max() > 0.99


# ---------------------------------------------------------------- outputs


def test_outputs():
    g = jnp.array([0.0, 0.5, 2.0])
    v = jnp.array([-80.0, -60.0, 10.0])
    np.testing.assert_array_equal(np.asarray(S.CUBA()(g, None)), np.asarray(g))
    np.testing.assert_allclose(np.asarray(S.COBA(E=-70.0)(g, v)), [0.0, 0.5 * -10.0, 2.0 * -80.0])
    mg = S.MgBlock()
    assert float(mg.cc_Mg) == 1.0 and float(mg.E) == 0.0  # Wang (2002)'s [Mg] = 1 mM
    for vi in [-100.0, -80.0, -60.0, -40.0, -20.0, 0.0, 20.0]:
        expected = 1.5 * (0.0 - vi) / (1.0 + 1.0 / 3.57 * np.exp(-0.062 * vi))
        np.testing.assert_allclose(float(mg(1.5, vi)), expected, rtol=1e-6, atol=1e-6)
    # Published shape: at -60 mV the Mg block leaves about 8 % of the conductance.
    np.testing.assert_allclose(float(mg(1.0, -60.0)) / 60.0, 0.0796, atol=2e-4)
    mg12 = S.MgBlock(E=0.0, cc_Mg=1.2)
    expected = -1.0 * (0.0 + 50.0) / (1.0 + 1.2 / 3.57 * np.exp(0.062 * 50.0))
    np.testing.assert_allclose(float(mg12(-1.0, -50.0)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="needs the post membrane potential"):
        S.COBA(E=0.0)(g, None)
    with pytest.raises(ValueError, match="needs the post membrane potential"):
        mg(g, None)
    grad = jax.grad(lambda E: S.COBA(E=E)(1.0, -65.0))(0.0)
    assert float(grad) == 1.0


# ---------------------------------------------------------------- STP


def tm_recursion(U, tau_f, tau_d, interval, n_spikes):
    """Closed-form event-to-event Tsodyks-Markram releases (Tsodyks et al. 1998 form)."""
    u, x, releases = 0.0, 1.0, []
    for _ in range(n_spikes):
        u_plus = u + U * (1 - u)
        r = u_plus * x
        releases.append(r)
        u = u_plus * np.exp(-interval / tau_f)
        x = 1 + (x - r - 1) * np.exp(-interval / tau_d)
    return np.array(releases)


@pytest.mark.parametrize(
    "U,tau_f,tau_d", [(0.15, 1500.0, 200.0), (0.1, 1000.0, 50.0), (0.5, 20.0, 500.0)]
)
def test_stp_release_sequence_matches_tsodyks_markram_recursion(U, tau_f, tau_d):
    dt, every, n_spikes = 0.5, 50, 12  # 40 Hz
    stp = S.STP(U=U, tau_f=tau_f, tau_d=tau_d)
    x = np.zeros((every * n_spikes, 1))
    x[3::every] = 1.0
    _, r = run(stp, x, dt)
    r = np.asarray(r[:, 0])
    assert np.all(r[x[:, 0] == 0] == 0)
    expected = tm_recursion(U, tau_f, tau_d, every * dt, n_spikes)
    # Float precision (measured: within 1 eps in float32 and float64).
    np.testing.assert_allclose(r[3::every], expected, rtol=0, atol=8 * EPS)


def test_stp_paired_pulse_facilitation_and_depression():
    def ppr(U, tau_f, tau_d):
        x = np.zeros((300, 1))
        x[[0, 200]] = 1.0  # 20 ms apart
        _, r = run(S.STP(U=U, tau_f=tau_f, tau_d=tau_d), x, 0.1)
        return float(r[200, 0] / r[0, 0])

    assert ppr(0.1, 1000.0, 50.0) > 1.2  # facilitating: small U, tau_f >> tau_d
    assert ppr(0.5, 5.0, 800.0) < 0.6  # depressing: large U, tau_d >> tau_f
    np.testing.assert_allclose(float(run(S.STP(U=0.2), impulse(2), 0.1)[1][0, 0]), 0.2)


# ---------------------------------------------------------------- STDP


class DenseComm(eqx.Module):
    """Stand-in for nt.comm.Dense: a dense (n_pre, n_post) weight."""

    def outer(self, a_pre, b_post):
        return a_pre[..., :, None] * b_post[..., None, :]


@eqx.filter_jit
def _run_stdp(stdp, w, pre, post, dt, comm):
    def step(carry, spikes):
        state, w = carry
        state, w = stdp(state, w, spikes[0], spikes[1], comm, dt=dt)
        return (state, w), None

    state = stdp.init_state(pre.shape[-1], post.shape[-1], pre.shape[1:-1])
    return jax.lax.scan(step, (state, w), (pre, post))[0][1]


def run_stdp(stdp, w, pre, post, dt, comm=DenseComm()):
    """The weight after stepping `stdp` over spike records pre (n, ..., n_pre), post."""
    pre, post, w = (jnp.asarray(a, DTYPE) for a in (pre, post, w))
    return _run_stdp(stdp, w, pre, post, jnp.asarray(dt, DTYPE), comm)


def pair(n, i_pre, i_post):
    pre, post = np.zeros((n, 1)), np.zeros((n, 1))
    pre[i_pre], post[i_post] = 1.0, 1.0
    return pre, post


@pytest.mark.parametrize("lag", [-120, -37, -1, 0, 1, 5, 60, 200])
def test_stdp_pair_window(lag):
    stdp = S.STDP(tau_pre=17.0, tau_post=34.0, A_pre=0.01, A_post=-0.006)
    dt, w0 = 0.1, 0.5
    start = 10 + max(0, -lag)
    pre, post = pair(400, start, start + lag)
    dw = float(run_stdp(stdp, jnp.full((1, 1), w0), pre, post, dt)[0, 0]) - w0
    delta = lag * dt  # t_post - t_pre
    expected = 0.01 * np.exp(-delta / 17.0) if delta >= 0 else -0.006 * np.exp(delta / 34.0)
    np.testing.assert_allclose(dw, expected, rtol=1e-4 if not FLOAT64 else 1e-10, atol=EPS)


def test_stdp_all_to_all_pairs_sum_and_clipping():
    rng = np.random.default_rng(1)
    n, dt = 600, 0.5
    pre = (rng.random((n, 2)) < 0.01).astype(float)
    post = (rng.random((n, 3)) < 0.01).astype(float)
    stdp = S.STDP(w_min=-10.0, w_max=10.0)  # never clips here
    w = np.asarray(run_stdp(stdp, jnp.zeros((2, 3)), pre, post, dt))
    expected = np.zeros((2, 3))
    for i in range(2):
        for j in range(3):
            for tp in np.nonzero(pre[:, i])[0]:
                for tq in np.nonzero(post[:, j])[0]:
                    d = (tq - tp) * dt
                    expected[i, j] += (
                        0.01 * np.exp(-d / 20.0) if d >= 0 else -0.0105 * np.exp(d / 20.0)
                    )
    assert np.abs(expected).max() > 0.01
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-6)
    # The same through the library's dense communication layer.
    comm = nt.comm.Dense(jnp.zeros((2, 3)))
    w_dense = run_stdp(stdp, comm.plastic_weight(), pre, post, dt, comm)
    np.testing.assert_allclose(np.asarray(w_dense), w, rtol=0, atol=1e-7)
    # Clipping at w_max and w_min.
    stdp = S.STDP(A_pre=0.3, A_post=-0.3, w_min=0.0, w_max=1.0)
    pre, post = pair(50, 5, 6)
    assert float(run_stdp(stdp, jnp.full((1, 1), 0.9), pre, post, dt)[0, 0]) == 1.0
    pre, post = pair(50, 6, 5)
    assert float(run_stdp(stdp, jnp.full((1, 1), 0.1), pre, post, dt)[0, 0]) == 0.0
    # A batch axis: each batch element learns on its own.
    pre_b = np.stack([pair(50, 5, 6)[0], pair(50, 6, 5)[0]], axis=1)
    post_b = np.stack([pair(50, 5, 6)[1], pair(50, 6, 5)[1]], axis=1)
    w = np.asarray(run_stdp(stdp, jnp.full((2, 1, 1), 0.5), pre_b, post_b, dt))
    np.testing.assert_allclose(
        w[:, 0, 0], [0.5 + 0.3 * np.exp(-0.5 / 20), 0.5 - 0.3 * np.exp(-0.5 / 20)], rtol=1e-6
    )


# ---------------------------------------------------------------- transforms


def test_gradients_flow_to_inputs_and_parameters():
    dt, n = 0.1, 30
    x = jnp.asarray(impulse(n, at=2), DTYPE)
    T = (n - 3) * dt  # from the input (applied at the end of step 2) to the end of the run

    def last_g(args):
        syn, x = args
        return run(syn, x, dt)[1][-1, 0]

    # Expon: g_end = x_2 exp(-T / tau).
    g_syn, g_x = eqx.filter_grad(last_g)((S.Expon(tau=8.0), x))
    np.testing.assert_allclose(float(g_syn.tau), T / 64.0 * np.exp(-T / 8.0), rtol=1e-4)
    np.testing.assert_allclose(float(g_x[2, 0]), np.exp(-T / 8.0), rtol=1e-5)
    # AMPA: the pulse indicator x + (1 - x) held passes the gradient to a spike, except while
    # the pulse of the spike in step 2 holds (steps 2-6), when another spike changes nothing.
    g_syn, g_x = eqx.filter_grad(last_g)((S.AMPA(), x))
    g_x = np.asarray(g_x[:, 0])
    assert g_x[2] > 0 and np.all(g_x[3:7] == 0) and np.all(g_x[7:] > 0)
    assert float(g_syn.beta) < 0 and float(g_syn.alpha) > 0

    # STP: a first spike at rest releases U.
    g_syn, g_x = eqx.filter_grad(lambda a: run(a[0], a[1], dt)[1].sum())((S.STP(U=0.2), x))
    np.testing.assert_allclose(float(g_syn.U), 1.0, rtol=1e-5)
    # d(s u x)/ds with u = s U (from rest): 2 s U x = 2 U.
    np.testing.assert_allclose(float(g_x[2, 0]), 2 * 0.2, rtol=1e-5)

    # STDP: the weight change reaches the spikes.
    pre, post = pair(40, 5, 9)
    grad_pre = jax.grad(lambda p: run_stdp(S.STDP(), jnp.full((1, 1), 0.5), p, post, dt)[0, 0])(
        jnp.asarray(pre)
    )
    np.testing.assert_allclose(float(grad_pre[5, 0]), 0.01 * np.exp(-0.4 / 20), rtol=1e-4)


def test_vmap_over_a_parameter_equals_loop():
    taus = jnp.array([2.0, 5.0, 11.0])
    x = impulse(50, at=1, shape=(2,))

    def g_of(syn):
        return run(syn, x, 0.1)[1]

    swept = eqx.filter_vmap(lambda tau: g_of(S.AMPA(beta=1.0 / tau)))(taus)
    assert swept.shape == (3, 50, 2)
    for k, tau in enumerate(np.asarray(taus)):
        np.testing.assert_allclose(
            np.asarray(swept[k]), np.asarray(g_of(S.AMPA(beta=1.0 / float(tau)))), rtol=1e-6
        )
    assert not np.allclose(np.asarray(swept[0]), np.asarray(swept[2]))


def test_per_element_parameters_broadcast_to_the_state():
    syn = S.Expon(tau=jnp.array([2.0, 4.0, 8.0]))
    _, g = run(syn, impulse(20, shape=(3,)), 0.5)
    np.testing.assert_allclose(
        np.asarray(g[10]), np.exp(-5.0 / np.array([2.0, 4.0, 8.0])), rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"tau of shape \(3,\)"):
        syn.init_state((4,))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: S.Expon(tau=0.0), r"Expon\(tau=0\.0\)"),
        (lambda: S.Expon(tau=-3.0), r"tau=-3\.0"),
        (lambda: S.DualExpon(tau_rise=5.0, tau_decay=2.0), r"tau_rise=5\.0, tau_decay=2\.0"),
        (lambda: S.DualExpon(tau_rise=3.0, tau_decay=3.0), r"tau_rise=3\.0"),
        (lambda: S.Alpha(tau=-1.0), r"Alpha\(tau=-1\.0\)"),
        (lambda: S.AMPA(T_dur=0.0), r"AMPA\(T_dur=0\.0\)"),
        (lambda: S.GABAa(beta=-0.25), r"GABAa\(beta=-0\.25\)"),
        (lambda: S.AMPA(T=-1.0), r"T=-1\.0"),
        (lambda: S.NMDA(tau_rise=-2.0), r"NMDA\(tau_rise=-2\.0\)"),
        (lambda: S.NMDA(a=-0.5), r"a=-0\.5"),
        (lambda: S.MgBlock(beta=0.0), r"MgBlock\(beta=0\.0\)"),
        (lambda: S.MgBlock(cc_Mg=-1.0), r"cc_Mg=-1\.0"),
        (lambda: S.STP(U=1.5), r"STP\(U=1\.5\)"),
        (lambda: S.STP(U=0.0), r"U=0\.0"),
        (lambda: S.STP(tau_d=0.0), r"tau_d=0\.0"),
        (lambda: S.STDP(tau_pre=-20.0), r"STDP\(tau_pre=-20\.0\)"),
        (lambda: S.STDP(w_min=1.0, w_max=0.5), r"w_min=1\.0, w_max=0\.5"),
        (lambda: S.STDP().init_state(0, 3), "n_pre=0"),
        (lambda: S.Expon().init_state((-1,)), "shape"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: S.Expon()(S.Expon().init_state((3,)), 1.0, t=0.0, dt=0.0), r"dt=0\.0"),
        (lambda: S.NMDA()(S.NMDA().init_state((3,)), 1.0, t=0.0, dt=-0.1), r"dt=-0\.1"),
        (lambda: S.Alpha()(S.Alpha().init_state((3,)), jnp.ones(4), t=0.0, dt=0.1),
         r"x of shape \(4,\)"),
        (lambda: S.AMPA(T_dur=0.04)(S.AMPA(T_dur=0.04).init_state((3,)), 1.0, t=0.0, dt=0.1),
         r"AMPA\(T_dur=0\.04\).*dt=0\.1"),
        (lambda: S.STP()(S.STP().init_state(3), jnp.ones(2), t=0.0, dt=0.1), "spike of shape"),
        (lambda: S.STDP()(S.STDP().init_state(2, 3), jnp.zeros((2, 3)), jnp.zeros(3),
                          jnp.zeros(3), DenseComm(), dt=0.1), r"pre_spike of shape \(3,\)"),
    ],
)  # fmt: skip
def test_bad_calls_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
