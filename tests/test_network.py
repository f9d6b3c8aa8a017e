import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

syn_ = nt.synapses
DT = 0.1


def exc(pre, post, comm, **kw):
    return nt.AlignPost(pre, post, comm, syn_.Expon(5.0), syn_.COBA(E=0.0), **kw)


def e_i_network(seed=0, n_e=40, n_i=10, p=0.2):
    def lif(n):
        return nt.neurons.LIF(n, tau=20.0, v_rest=-60.0, v_reset=-60.0, v_th=-50.0, tau_ref=5.0)

    fp = nt.conn.FixedProb(p, seed=seed)
    fp2 = nt.conn.FixedProb(p, seed=seed + 1)

    def inh(pre, post, conn):
        return nt.AlignPost(
            pre, post, nt.comm.EventCSR(conn, 6.7), syn_.Expon(10.0), syn_.COBA(E=-80.0)
        )

    return nt.Network(
        populations={"E": lif(n_e), "I": lif(n_i)},
        projections={
            "E2E": exc("E", "E", nt.comm.EventCSR(fp(n_e, n_e), 0.6)),
            "E2I": exc("E", "I", nt.comm.EventCSR(fp(n_e, n_i), 0.6)),
            "I2E": inh("I", "E", fp2(n_i, n_e)),
            "I2I": inh("I", "I", fp2(n_i, n_i)),
        },
    )


def test_spike_at_step_n_moves_the_post_membrane_at_step_n_plus_delay():
    for steps in [1, 2, 25]:
        net = nt.Network(
            populations={
                "src": nt.inputs.SpikeTimes(1, times=[0.5], indices=[0]),
                "dst": nt.neurons.LIF(1, v_th=100.0),
            },
            projections={
                "p": nt.AlignPost("src", "dst", nt.comm.OneToOne(1, 3.0), syn_.Expon(2.0),
                                  syn_.CUBA(), delay=steps * DT)
            },
        )  # fmt: skip
        _, v = nt.simulate(
            net,
            net.init_state(dt=DT),
            dt=DT,
            n_steps=60,
            monitor=lambda s, o: s.populations["dst"].v[0],
        )
        # The source emits in step 5 (it starts at t = 0.5 ms).
        assert np.flatnonzero(np.asarray(v) != 0.0)[0] == 5 + steps


def test_alignpost_projections_with_equal_synapses_share_one_state():
    net = e_i_network()
    # E2E and E2I target different populations; E2E and I2E target E but differ in tau and E.
    assert net.groups == ()
    fp = nt.conn.FixedProb(0.2, seed=3)
    merged = nt.Network(
        populations={"A": nt.neurons.LIF(20), "B": nt.neurons.LIF(20), "C": nt.neurons.LIF(30)},
        projections={
            "A2C": exc("A", "C", nt.comm.EventCSR(fp(20, 30), 0.5)),
            "B2C": exc("B", "C", nt.comm.EventCSR(fp(20, 30), 0.7)),
        },
    )
    assert merged.groups == (("A2C", "B2C"),)
    state = merged.init_state()
    assert state.projections["A2C"].syn is not None and state.projections["B2C"].syn is None


def test_shared_synapse_gives_the_sum_of_separate_projections():
    fp = nt.conn.FixedProb(0.3, seed=4)
    ca, cb = fp(20, 30), nt.conn.FixedProb(0.3, seed=5)(20, 30)
    a = exc("A", "C", nt.comm.EventCSR(ca, 0.5))
    b = exc("B", "C", nt.comm.EventCSR(cb, 0.7))

    def drive(n):
        return nt.inputs.PoissonInput(n, 200.0)

    net = nt.Network(
        populations={
            "A": drive(20),
            "B": drive(20),
            "C": nt.neurons.LIF(30, v_rest=-60.0, v_th=1e3),
        },
        projections={"A2C": a, "B2C": b},
    )
    assert net.groups == (("A2C", "B2C"),)
    key = jax.random.key(0)

    def monitor(s, o):
        return s.populations["A"].spike, s.populations["B"].spike, s.populations["C"].v

    _, (sa, sb, v) = nt.simulate(
        net, net.init_state(), dt=DT, n_steps=100, key=key, monitor=monitor
    )
    # Replay the recorded spikes through the two projections separately.
    state_a, state_b = a.init_state(), b.init_state()
    lif = net.populations["C"]
    c = lif.init_state()
    for k in range(100):
        pre_a = sa[k - 1] if k else jnp.zeros(20)
        pre_b = sb[k - 1] if k else jnp.zeros(20)
        state_a, ia = a(state_a, pre_a, v=c.v, t=k * DT, dt=DT)
        state_b, ib = b(state_b, pre_b, v=c.v, t=k * DT, dt=DT)
        c, _ = lif(c, ia + ib, t=k * DT, dt=DT)
        np.testing.assert_allclose(c.v, v[k], rtol=1e-5, atol=1e-5)
    assert float(jnp.abs(v[-1]).max()) > 0.1


def nmda_network(max_delay_b=None, tau_b=100.0):
    """Poisson "P" onto two LIF populations through AlignPre NMDA projections with STP."""
    fp = nt.conn.FixedProb(0.3, seed=7)

    def nmda(post, n, w, tau, max_delay=None):
        return nt.AlignPre(
            "P", post, nt.comm.EventCSR(fp(20, n), w), syn_.NMDA(tau_decay=tau),
            syn_.MgBlock(E=0.0), 1.0, syn_.STP(U=0.3), max_delay=max_delay,
        )  # fmt: skip

    lif = dict(v_rest=-65.0, v_reset=-65.0, v_th=-50.0, tau=20.0)
    return nt.Network(
        populations={
            "P": nt.inputs.PoissonInput(20, 150.0),
            "A": nt.neurons.LIF(30, **lif),
            "B": nt.neurons.LIF(10, **lif),
        },
        projections={
            "P2A": nmda("A", 30, 0.4, 100.0),
            "P2B": nmda("B", 10, 0.9, tau_b, max_delay_b),
        },
    )


def test_alignpre_projections_from_one_population_share_their_pre_side_state():
    shared, separate = nmda_network(), nmda_network(max_delay_b=1.5)
    assert shared.groups == (("P2A", "P2B"),) and separate.groups == ()
    s0 = shared.init_state(dt=DT)
    assert all(getattr(s0.projections["P2B"], f) is None for f in ("syn", "stp", "delay"))
    assert s0.projections["P2A"].syn is not None and s0.projections["P2A"].delay is not None

    def run(net):
        def monitor(s, o):
            return s.populations["A"].v, s.populations["B"].v

        state = net.init_state(dt=DT)
        return nt.simulate(net, state, dt=DT, n_steps=300, key=jax.random.key(1), monitor=monitor)

    (va, vb), (wa, wb) = run(shared)[1], run(separate)[1]
    np.testing.assert_allclose(va, wa, atol=1e-4)
    np.testing.assert_allclose(vb, wb, atol=1e-4)
    assert float(va[-1].max() - va[0].max()) > 1.0  # the NMDA input moved A


def test_a_shared_state_refuses_members_that_no_longer_match():
    net = nmda_network()
    state = net.init_state(dt=DT)
    changed = eqx.tree_at(lambda n: n.projections["P2B"].syn.tau_decay, net, 50.0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="'P2A' and 'P2B' share one synaptic state.*STP and delay"):
        changed(state, t=0.0, dt=DT, key=key)

    @eqx.filter_jit
    def step(model):  # the parameters are traced here: the check runs with the step
        return model(state, t=0.0, dt=DT, key=key)[0].populations["A"].v

    step(net)
    with pytest.raises(Exception, match="'P2A' and 'P2B' share one synaptic state"):
        step(changed).block_until_ready()
    post = nt.Network(
        populations={"A": nt.neurons.LIF(5), "B": nt.neurons.LIF(5)},
        projections={
            "A2B": exc("A", "B", nt.comm.OneToOne(5, 1.0)),
            "B2B": exc("B", "B", nt.comm.OneToOne(5, 1.0)),
        },
    )
    assert post.groups == (("A2B", "B2B"),)
    retau = eqx.tree_at(lambda n: n.projections["B2B"].syn.tau, post, 2.0)
    with pytest.raises(ValueError, match="'A2B' and 'B2B'.*synapse and output were equal"):
        retau(post.init_state(), t=0.0, dt=DT)


def test_size_mismatch_names_the_projection_and_both_sizes():
    comm = nt.comm.EventCSR(nt.conn.FixedProb(0.1, seed=0)(30, 10), 1.0)
    with pytest.raises(ValueError, match=r"projection 'E2I' \('E' -> 'I'\) connects 30 -> 10 "
                       r"neurons .* but 'E' has 40 and 'I' has 10"):  # fmt: skip
        nt.Network(
            populations={"E": nt.neurons.LIF(40), "I": nt.neurons.LIF(10)},
            projections={"E2I": exc("E", "I", comm)},
        )


def test_construction_errors():
    lif = nt.neurons.LIF(3)
    one = nt.comm.OneToOne(3, 1.0)
    with pytest.raises(ValueError, match=r"names post population 'X'.*has no population 'X'"):
        nt.Network({"E": lif}, {"p": exc("E", "X", one)})
    with pytest.raises(ValueError, match="without '.'"):
        nt.Network({"E.x": lif})
    with pytest.raises(ValueError, match="needs at least one population"):
        nt.Network({})
    with pytest.raises(
        ValueError, match=r"which is a Network; name one of its populations, e.g. 'A.E'"
    ):
        nt.Network({"A": nt.Network({"E": lif}), "B": lif}, {"p": exc("B", "A", one)})
    with pytest.raises(ValueError, match="`v` in its state"):
        nt.Network({"E": lif, "W": nt.neurons.WilsonCowan(3)}, {"p": exc("E", "W", one)})
    net = nt.Network({"E": lif})
    with pytest.raises(ValueError, match=r"no population 'Q' \(there are \['E'\]\)"):
        net(net.init_state(), {"Q": 1.0}, t=0.0, dt=DT)


def test_inputs_may_be_functions_of_time_and_name_nested_populations():
    inner = nt.Network({"E": nt.neurons.LIF(2, v_th=1e3)})
    net = nt.Network({"area": inner, "X": nt.neurons.LIF(1, v_th=1e3)})
    inputs = {"area.E": nt.inputs.Ramp(0.0, 10.0, t_start=0.0, t_end=10.0), "X": lambda t: 2.0}

    def monitor(s, o):
        return s.populations["area"].populations["E"].v

    _, v = nt.simulate(net, net.init_state(), inputs, dt=DT, n_steps=50, monitor=monitor)
    lif = inner.populations["E"]
    ramp = nt.inputs.Ramp(0.0, 10.0, t_start=0.0, t_end=10.0)
    _, v_ref = nt.simulate(lif, lif.init_state(), ramp, dt=DT, n_steps=50, monitor=lambda s, o: s.v)
    np.testing.assert_allclose(v, v_ref, rtol=1e-6)


def test_nested_networks_equal_the_flat_network():
    conn = nt.conn.FixedProb(0.3, seed=1)
    poisson = nt.inputs.PoissonInput(20, 300.0)
    lif = nt.neurons.LIF(20, tau=10.0, v_reset=0.0, v_th=5.0)

    def cuba(pre, post, w, **kw):
        return nt.AlignPost(
            pre, post, nt.comm.EventCSR(conn(20, 20), w), syn_.Expon(5.0), syn_.CUBA(), **kw
        )

    def area():
        return nt.Network({"E": lif}, {"rec": cuba("E", "E", 0.3)})

    nested = nt.Network(
        populations={"src": poisson, "V1": area(), "V2": area()},
        projections={
            "in": cuba("src", "V1.E", 2.0),
            "ff": cuba("V1.E", "V2.E", 2.0, delay=0.5),
        },
    )
    flat = nt.Network(
        populations={"src": poisson, "V1": lif, "V2": lif},
        projections={
            "in": cuba("src", "V1", 2.0),
            "ff": cuba("V1", "V2", 2.0, delay=0.5),
            "r1": cuba("V1", "V1", 0.3),
            "r2": cuba("V2", "V2", 0.3),
        },
    )
    key = jax.random.key(7)

    def spikes_nested(s, o):
        return o["V1"]["E"], o["V2"]["E"]

    _, (a1, a2) = nt.simulate(nested, nested.init_state(dt=DT), dt=DT, n_steps=300, key=key,
                              monitor=spikes_nested)  # fmt: skip
    # Same keys: population order is sorted by name in both (src is index 2 of [V1, V2, src]).
    _, (b1, b2) = nt.simulate(flat, flat.init_state(dt=DT), dt=DT, n_steps=300, key=key,
                              monitor=lambda s, o: (o["V1"], o["V2"]))  # fmt: skip
    assert float(a2.sum()) > 10
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)


def test_network_runs_under_jit_vmap_and_grad():
    net = e_i_network()
    drive = {"E": 15.0, "I": 15.0}

    def rate(w_scale):
        scaled = eqx.tree_at(lambda n: n.projections["E2E"].comm.weight, net,
                             net.projections["E2E"].comm.weight * w_scale)  # fmt: skip
        _, out = nt.simulate(scaled, scaled.init_state(), drive, dt=DT, n_steps=600,
                             monitor=lambda s, o: o["E"].sum())  # fmt: skip
        return out.sum()

    rates = jax.jit(jax.vmap(rate))(jnp.array([0.5, 1.0, 2.0]))
    assert float(rates[0]) > 0 and bool(jnp.all(jnp.diff(rates) >= 0))
    g = jax.grad(rate)(1.0)
    assert np.isfinite(float(g)) and float(g) != 0.0


def test_batch_shape_runs_independent_trials():
    net = e_i_network()
    state = net.init_state((3,))
    drive = {"E": jnp.array([[0.0], [14.0], [18.0]]), "I": 14.0}
    _, out = nt.simulate(net, state, drive, dt=DT, n_steps=600,
                         monitor=lambda s, o: o["E"].sum(-1))  # fmt: skip
    counts = np.asarray(out.sum(0))
    assert counts[0] == 0 and counts[1] > 0 and counts[2] > counts[1]
