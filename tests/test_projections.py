import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

syn_ = nt.synapses
DT = 0.1


def run(proj, pre_spikes, *, v=None, post_spikes=None, dt=DT, state=None):
    """Step `proj` over a (n_steps, ..., n_pre) spike array; return (state, currents)."""
    state = proj.init_state(pre_spikes.shape[1:-1], dt=dt) if state is None else state

    def step(state, xs):
        k, s, ps = xs
        return proj(state, s, v=v, post_spike=ps, t=k * dt, dt=dt)

    n = pre_spikes.shape[0]
    ps = (
        jnp.zeros((n,) + pre_spikes.shape[1:-1] + (proj.n_post,))
        if post_spikes is None
        else post_spikes
    )
    return jax.lax.scan(step, state, (jnp.arange(n), pre_spikes, ps))


def one_spike(n_steps, at, n_pre=1):
    """Pre spikes as a projection sees them: the spike emitted at step `at` is read at at + 1."""
    return jnp.zeros((n_steps, n_pre)).at[at + 1, 0].set(1.0)


def random_csr(n_pre, n_post, p, seed):
    dense = np.random.default_rng(seed).random((n_pre, n_post)) < p
    indptr = np.concatenate([[0], np.cumsum(dense.sum(1))])
    return nt.conn.CSR(indptr, np.nonzero(dense)[1], (n_pre, n_post))


@pytest.mark.parametrize("Proj", [nt.AlignPost, nt.AlignPre])
@pytest.mark.parametrize("steps", [1, 2, 3, 37])
def test_single_spike_arrives_exactly_round_delay_over_dt_steps_later(Proj, steps):
    delay = None if steps == 1 and Proj is nt.AlignPre else steps * DT
    proj = Proj("A", "B", nt.comm.OneToOne(1, 2.0), syn_.Expon(5.0), syn_.CUBA(), delay=delay)
    emitted = 4
    _, current = run(proj, one_spike(60, emitted))
    first = int(np.flatnonzero(np.asarray(current[:, 0]))[0])
    assert first == emitted + steps
    np.testing.assert_allclose(current[first, 0], 2.0, rtol=1e-6)


@pytest.mark.parametrize("Proj", [nt.AlignPost, nt.AlignPre])
def test_per_synapse_delays_each_synapse_arrives_on_its_own_step(Proj):
    # Pre neuron 0 projects to post 0, 1, 2 with delays of 1, 2 and 5 steps.
    csr = nt.conn.CSR([0, 3], [0, 1, 2], (1, 3))
    delays = jnp.array([1, 2, 5]) * DT
    comm = nt.comm.CSR(csr, jnp.array([1.0, 2.0, 3.0]))
    proj = Proj("A", "B", comm, syn_.Expon(5.0), syn_.CUBA(), delay=delays)
    emitted = 3
    _, current = run(proj, one_spike(20, emitted))
    for j, d in enumerate([1, 2, 5]):
        nz = np.flatnonzero(np.asarray(current[:, j]))
        assert nz[0] == emitted + d
        np.testing.assert_allclose(current[nz[0], j], j + 1.0, rtol=1e-6)


@pytest.mark.parametrize("Proj", [nt.AlignPost, nt.AlignPre])
@pytest.mark.parametrize("per_synapse", [False, True])
def test_gradient_flows_through_delayed_spikes(Proj, per_synapse):
    csr = nt.conn.CSR([0, 1], [0], (1, 1))
    delay = jnp.array([4 * DT]) if per_synapse else 4 * DT
    proj = Proj("A", "B", nt.comm.CSR(csr, 1.5), syn_.Expon(5.0), syn_.CUBA(), delay=delay)

    def total(amplitude):
        spikes = jnp.zeros((12, 1)).at[2, 0].set(amplitude)
        _, current = run(proj, spikes)
        return current[:, 0].sum()

    decay = np.exp(-DT / 5.0)
    # A spike read at step 2 (emitted at 1) reaches the synapse at step 5; 7 steps of decay after.
    expected = 1.5 * sum(decay**k for k in range(7))
    np.testing.assert_allclose(jax.grad(total)(1.0), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "syn",
    [syn_.Expon(4.0), syn_.DualExpon(1.0, 6.0), syn_.Alpha(3.0)],
    ids=lambda s: type(s).__name__,
)
@pytest.mark.parametrize("delay", [None, 3 * DT, "per-synapse"])
def test_align_pre_and_align_post_give_the_same_currents_for_linear_synapses(syn, delay):
    n_pre, n_post = 30, 20
    csr = random_csr(n_pre, n_post, 0.3, 0)
    w = jax.random.uniform(jax.random.key(1), (csr.nnz,))
    if delay == "per-synapse":
        delay = jnp.asarray(np.random.default_rng(2).integers(1, 6, csr.nnz) * DT)
    spikes = (jax.random.uniform(jax.random.key(3), (200, 2, n_pre)) < 0.1).astype(float)
    v = jnp.linspace(-70.0, -50.0, n_post)
    kw = dict(comm=nt.comm.CSR(csr, w), syn=syn, out=syn_.COBA(E=0.0), delay=delay)
    _, post = run(nt.AlignPost("A", "B", **kw), spikes, v=v)
    _, pre = run(nt.AlignPre("A", "B", **kw), spikes, v=v)
    assert float(jnp.abs(post).max()) > 1.0
    np.testing.assert_allclose(post, pre, rtol=2e-5, atol=1e-4)


def test_stp_scales_what_is_delivered():
    stp = syn_.STP(U=0.5, tau_f=10.0, tau_d=100.0)
    proj = nt.AlignPost("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(1e6), syn_.CUBA(), stp=stp)
    spikes = jnp.zeros((50, 1)).at[jnp.array([5, 15, 25]), 0].set(1.0)
    _, current = run(proj, spikes)
    jumps = np.diff(np.concatenate([[0.0], np.asarray(current[:, 0])]))
    # Release sequence with the model's own recursion (checked analytically in test_synapses).
    stp_state = stp.init_state((1,))
    releases = []
    for k in range(50):
        stp_state, r = stp(stp_state, spikes[k], t=k * DT, dt=DT)
        releases.append(float(r[0]))
    np.testing.assert_allclose(jumps, releases, atol=1e-5)
    assert releases[5] == pytest.approx(0.5) and releases[15] < 0.5


def test_stdp_weights_live_in_the_projection_state():
    stdp = syn_.STDP(tau_pre=20.0, tau_post=20.0, A_pre=0.01, A_post=-0.012, w_max=1.0)
    comm = nt.comm.Dense(jnp.full((1, 1), 0.5))
    proj = nt.AlignPost("A", "B", comm, syn_.Expon(5.0), syn_.CUBA(), stdp=stdp)
    pre = jnp.zeros((40, 1)).at[5, 0].set(1.0)
    post = jnp.zeros((40, 1)).at[15, 0].set(1.0)  # 10 steps = 1 ms after the pre spike
    state, _ = run(proj, pre, post_spikes=post)
    np.testing.assert_allclose(state.weight[0, 0], 0.5 + 0.01 * np.exp(-1.0 / 20.0), rtol=1e-5)
    assert proj.comm.weight[0, 0] == 0.5  # the module is unchanged


def test_batched_state_gives_each_trial_its_own_buffer():
    proj = nt.AlignPost("A", "B", nt.comm.OneToOne(2, 1.0), syn_.Expon(5.0), syn_.CUBA(), delay=0.5)
    spikes = jnp.zeros((30, 3, 2)).at[3, 1, 0].set(1.0).at[7, 2, 1].set(1.0)
    _, current = run(proj, spikes)
    assert np.flatnonzero(np.asarray(current[:, 1, 0]))[0] == 3 + 4
    assert np.flatnonzero(np.asarray(current[:, 2, 1]))[0] == 7 + 4
    assert float(jnp.abs(current[:, 0]).max()) == 0.0


def test_delay_errors():
    def make(d):
        return nt.AlignPost("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(), syn_.CUBA(), delay=d)

    with pytest.raises(
        ValueError, match=r"delay=0.05, dt=0.1\): a delay must be at least one step"
    ):
        make(0.05).init_state(dt=0.1)
    with pytest.raises(ValueError, match="delays must be positive"):
        make(-1.0)
    with pytest.raises(ValueError, match="pass the step, init_state"):
        make(1.0).init_state()
    proj = make(1.0)
    state = proj.init_state(dt=0.1)
    with pytest.raises(ValueError, match="holds 10 steps, and round"):
        proj(state, jnp.zeros(1), t=0.0, dt=0.05)
    with pytest.raises(ValueError, match="max_delay=0.5\\): the delays reach 1.0 ms"):
        nt.AlignPost(
            "A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(), syn_.CUBA(), 1.0, max_delay=0.5
        )
    with pytest.raises(ValueError, match="max_delay without a delay"):
        nt.AlignPost("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(), syn_.CUBA(), max_delay=1.0)
    with pytest.raises(ValueError, match="delay is traced.*pass max_delay"):
        jax.jit(make)(1.0)
    with pytest.raises(ValueError, match="one delay per synapse"):
        nt.AlignPost(
            "A",
            "B",
            nt.comm.CSR(nt.conn.CSR([0, 2], [0, 1], (1, 2)), 1.0),
            syn_.Expon(),
            syn_.CUBA(),
            delay=jnp.ones(3),
        )


def test_traced_dt_mismatch_is_caught_at_run_time():
    proj = nt.AlignPost("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(), syn_.CUBA(), delay=1.0)
    state = proj.init_state(dt=0.1)
    f = jax.jit(lambda dt: proj(state, jnp.zeros(1), t=0.0, dt=dt)[1])
    f(0.1)
    with pytest.raises(Exception, match="holds 10 steps"):
        f(0.05).block_until_ready()


@pytest.mark.parametrize("Proj", [nt.AlignPost, nt.AlignPre])
def test_a_buffer_sized_for_a_finer_step_still_delays_exactly(Proj):
    # Built at dt 0.1 (10 slots), run at dt 0.25: the delay is round(1 / 0.25) = 4 steps.
    proj = Proj("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(5.0), syn_.CUBA(), delay=1.0)
    _, current = run(proj, one_spike(20, 2), dt=0.25, state=proj.init_state(dt=0.1))
    assert int(np.flatnonzero(np.asarray(current[:, 0]))[0]) == 2 + 4


@pytest.mark.parametrize("Proj", [nt.AlignPost, nt.AlignPre])
@pytest.mark.parametrize("per_synapse", [False, True])
def test_delays_sweep_under_vmap_with_a_max_delay(Proj, per_synapse):
    csr = nt.conn.CSR([0, 2], [0, 1], (1, 2))

    def first_arrival(d):
        delay = jnp.stack([d, 2 * d]) if per_synapse else d
        proj = Proj(
            "A", "B", nt.comm.CSR(csr, 1.0), syn_.Expon(5.0), syn_.CUBA(), delay, max_delay=2.0
        )
        _, current = run(proj, one_spike(40, 3))
        return jnp.argmax(current != 0, axis=0)

    delays = jnp.array([0.1, 0.3, 0.7, 1.0])
    first = np.asarray(jax.vmap(first_arrival)(delays))
    steps = np.rint(np.asarray(delays) / DT).astype(int)
    np.testing.assert_array_equal(first[:, 0], 3 + steps)
    np.testing.assert_array_equal(first[:, 1], 3 + (2 * steps if per_synapse else steps))


def test_a_network_with_delays_is_a_filter_jit_argument_and_builds_inside_jit():
    def build(delay):
        lif = nt.neurons.LIF(2, v_rest=0.0, v_reset=0.0, v_th=1.0, tau=10.0)
        proj = nt.AlignPost(
            "A", "B", nt.comm.OneToOne(2, 5.0), syn_.Expon(2.0), syn_.CUBA(), delay=delay
        )
        return nt.Network({"A": lif, "B": lif}, {"AB": proj}, inputs={"A": 2.0})

    @eqx.filter_jit
    def simulate(model):
        state = model.init_state(key=jax.random.key(0), dt=DT)
        return nt.simulate(
            model, state, duration=20.0, dt=DT, monitor=lambda s, o: s.populations["B"].v
        )[1]

    eager = simulate(build(1.5))
    inside = eqx.filter_jit(lambda: simulate(build(1.5)))()
    np.testing.assert_allclose(inside, eager, rtol=1e-6)
    assert float(jnp.abs(eager).max()) > 0


def test_construction_errors():
    comm, syn, out = nt.comm.OneToOne(3, 1.0), syn_.Expon(), syn_.CUBA()
    with pytest.raises(ValueError, match="nonlinear in its input.*AlignPre"):
        nt.AlignPost("A", "B", comm, syn_.NMDA(), out)
    nt.AlignPre("A", "B", comm, syn_.NMDA(), out)
    with pytest.raises((ValueError, TypeError), match=r"comm"):  # beartype may speak first
        nt.AlignPost("A", "B", "dense", syn, out)
    with pytest.raises(ValueError, match="pre=''\\): pre must be the name"):
        nt.AlignPost("", "B", comm, syn, out)
    proj = nt.AlignPost("A", "B", comm, syn, syn_.COBA(E=0.0))
    with pytest.raises(ValueError, match="needs the post membrane potential"):
        proj(proj.init_state(), jnp.zeros(3), t=0.0, dt=0.1)
    with pytest.raises(ValueError, match=r"pre spikes of shape \(4,\); expected a last axis of 3"):
        proj(proj.init_state(), jnp.zeros(4), v=jnp.zeros(3), t=0.0, dt=0.1)


def test_projection_is_a_pytree_that_jit_and_vmap_reach():
    def current(tau):
        proj = nt.AlignPost("A", "B", nt.comm.OneToOne(1, 1.0), syn_.Expon(tau), syn_.CUBA())
        _, c = run(proj, one_spike(10, 0))
        return c[-1, 0]

    taus = jnp.array([2.0, 5.0])
    out = eqx.filter_vmap(current)(taus)
    np.testing.assert_allclose(out, np.exp(-8 * DT / np.asarray(taus)), rtol=1e-5)
