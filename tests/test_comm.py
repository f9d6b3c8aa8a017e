import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
import neurotree.comm as comm
from neurotree.conn import CSR as Conn

RNG = np.random.default_rng(1)


def random_conn(n_pre, n_post, p):
    mask = RNG.random((n_pre, n_post)) < p
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))])
    return mask, Conn(indptr, np.nonzero(mask)[1], (n_pre, n_post))


def matrix_from_synapses(c):
    """The dense (n_pre, n_post) matrix that synapses() and plastic_weight() describe."""
    pre, post = (np.asarray(a) for a in c.synapses())
    assert pre.dtype == np.int32 and post.dtype == np.int32
    w = np.asarray(c.plastic_weight()).ravel()
    assert w.shape == pre.shape == post.shape
    m = np.zeros((c.n_pre, c.n_post))
    np.add.at(m, (pre, post), w)
    return m


def layers():
    """(layer, its dense matrix built independently)."""
    mask, conn = random_conn(7, 5, 0.4)
    nnz = conn.nnz
    w_syn = RNG.normal(size=nnz).astype(np.float32)
    w_dense = RNG.normal(size=(6, 4)).astype(np.float32)
    w_sq = RNG.normal(size=(4, 4)).astype(np.float32)
    w_vec = RNG.normal(size=5).astype(np.float32)
    per_syn = np.zeros((7, 5))
    per_syn[mask] = w_syn
    no_diag = 1.0 - np.eye(4)
    w_blocks = RNG.normal(size=(2, 3)).astype(np.float32)
    return {
        "Dense": (comm.Dense(w_dense), w_dense),
        "EventDense": (comm.EventDense(w_dense), w_dense),
        "CSR-scalar": (comm.CSR(conn, 0.5), 0.5 * mask),
        "CSR": (comm.CSR(conn, w_syn), per_syn),
        "EventCSR": (comm.EventCSR(conn, w_syn), per_syn),
        "EventCSR-scalar": (comm.EventCSR(conn, -1.5), -1.5 * mask),
        "OneToOne-scalar": (comm.OneToOne(5, 2.0), 2.0 * np.eye(5)),
        "OneToOne": (comm.OneToOne(5, w_vec), np.diag(w_vec)),
        "AllToAll-scalar": (comm.AllToAll(3, 6, 0.25), np.full((3, 6), 0.25)),
        "AllToAll-noself": (comm.AllToAll(4, 4, 0.5, include_self=False), 0.5 * no_diag),
        "AllToAll-matrix": (comm.AllToAll(4, 4, w_sq), w_sq),
        "AllToAll-matrix-noself": (comm.AllToAll(4, 4, w_sq, include_self=False), w_sq * no_diag),
        "BlockAllToAll": (
            comm.BlockAllToAll((2, 3), (1, 2, 1), w_blocks),
            np.repeat(np.repeat(w_blocks, [2, 3], axis=0), [1, 2, 1], axis=1),
        ),
        "OneByOne": (comm.EventCSR(Conn([0, 1], [0], (1, 1)), 3.0), np.full((1, 1), 3.0)),
    }


LAYERS = layers()


@pytest.mark.parametrize("name", LAYERS)
def test_layer_equals_its_dense_matrix(name):
    c, m = LAYERS[name]
    assert isinstance(c, comm.Comm)
    assert (c.n_pre, c.n_post) == m.shape
    np.testing.assert_allclose(matrix_from_synapses(c), m, rtol=1e-6)
    x = RNG.random((2, 3, c.n_pre)).astype(np.float32) * (RNG.random((2, 3, c.n_pre)) < 0.5)
    x[0, 0] = 0.0  # no spikes
    x[0, 1] = 1.0  # all spiking
    for xb in (x, x[1, 2]):  # batch axes, one vector
        y = c(xb)
        assert y.shape == xb.shape[:-1] + (c.n_post,)
        np.testing.assert_allclose(y, xb @ m, rtol=1e-5, atol=1e-6)
    # A weight in plastic_weight()'s layout overrides the stored one.
    np.testing.assert_allclose(c(x, weight=2 * c.plastic_weight()), 2 * (x @ m), rtol=1e-5)


@pytest.mark.parametrize("name", LAYERS)
def test_outer_synapses_and_plastic_weight_agree(name):
    c, m = LAYERS[name]
    a = RNG.random((2, c.n_pre)).astype(np.float32)
    b = RNG.random((2, c.n_post)).astype(np.float32)
    out = np.asarray(c.outer(a, b))
    assert out.shape == (2,) + c.plastic_weight().shape
    pre, post = (np.asarray(i) for i in c.synapses())
    flat = out.reshape(2, -1)
    present = (matrix_from_synapses(c) != 0) | (m != 0)
    keep = present[pre, post]  # AllToAll(include_self=False) keeps its diagonal at zero
    np.testing.assert_allclose(flat[:, keep], a[:, pre[keep]] * b[:, post[keep]], rtol=1e-6)
    np.testing.assert_array_equal(flat[:, ~keep], 0.0)


@pytest.mark.parametrize("name", ["Dense", "CSR", "EventCSR-scalar", "OneToOne", "AllToAll-noself"])
def test_weight_gradient_equals_dense_reference(name):
    c, m = LAYERS[name]
    x = RNG.random((3, c.n_pre)).astype(np.float32)

    def loss(c):
        return jnp.sum(jnp.sin(c(x)))

    g = eqx.filter_grad(loss)(c).weight
    # d loss / d M = x^T cos(x M); each synapse's weight collects its entry of that matrix.
    dm = x.T @ np.cos(x @ m)
    pre, post = (np.asarray(i) for i in c.synapses())
    per_syn = dm[pre, post].reshape(c.plastic_weight().shape)
    if c.weight.ndim == 0:
        want = np.sum(np.asarray(c.outer(np.ones(c.n_pre), np.ones(c.n_post))) * per_syn)
    else:
        want = per_syn * (np.asarray(c.plastic_weight()) != 0 if "noself" in name else 1)
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-5)
    gx = jax.grad(lambda x: jnp.sum(jnp.sin(c(x))))(x)
    np.testing.assert_allclose(gx, np.cos(x @ m) @ m.T, rtol=1e-4, atol=1e-5)


def test_layers_under_jit_and_vmap():
    c, m = LAYERS["EventCSR"]
    x = RNG.random((4, c.n_pre)).astype(np.float32)
    np.testing.assert_allclose(eqx.filter_jit(lambda c, x: c(x))(c, x), x @ m, rtol=1e-5)
    np.testing.assert_allclose(jax.vmap(c)(x), x @ m, rtol=1e-5)
    # A batch of layers (weights swept) with one input.
    conn = Conn(np.asarray(c.indptr), np.asarray(c.indices), (c.n_pre, c.n_post))
    cs = eqx.filter_vmap(lambda w: comm.EventCSR(conn, w))(jnp.stack([c.weight, 2 * c.weight]))
    ys = eqx.filter_vmap(lambda c: c(x))(cs)
    np.testing.assert_allclose(ys[1], 2 * (x @ m), rtol=1e-5)


# ---------------------------------------------------------------- JIT connectivity

SHAPE, PROB = (12, 9), 0.4  # as in test_kernels, so jitc_to_dense compiles once


@pytest.mark.parametrize("weight", [0.7, comm.Normal(0.2, 1.0)], ids=["scalar", "normal"])
def test_jitconn_equals_jitc_to_dense(weight):
    c = comm.JITConn(*SHAPE, PROB, weight, seed=9)
    m = np.asarray(nt.kernels.jitc_to_dense(prob=PROB, weight=weight, seed=9, shape=SHAPE))
    assert 0 < np.count_nonzero(m) < m.size
    x = RNG.random((2, 3, SHAPE[0])).astype(np.float32) * (RNG.random((2, 3, SHAPE[0])) < 0.5)
    np.testing.assert_allclose(c(x), x @ m, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c(x, weight=weight), x @ m, rtol=1e-5, atol=1e-6)


def test_jitconn_trainable_weight_and_seed_sweep():
    c = comm.JITConn(*SHAPE, PROB, comm.Normal(0.2, 1.0), seed=9)
    x = RNG.random((2, SHAPE[0])).astype(np.float32)
    g = eqx.filter_grad(lambda c: jnp.sum(c(x)))(c)
    mask = np.asarray(nt.kernels.jitc_to_dense(prob=PROB, weight=1.0, seed=9, shape=SHAPE)) != 0
    np.testing.assert_allclose(g.weight.mean, np.sum(x @ mask), rtol=1e-5)
    cs = eqx.filter_vmap(lambda s: comm.JITConn(*SHAPE, PROB, 1.0, s))(jnp.arange(2))
    ys = eqx.filter_vmap(lambda c: c(x))(cs)
    for seed in (0, 1):
        m = np.asarray(nt.kernels.jitc_to_dense(prob=PROB, weight=1.0, seed=seed, shape=SHAPE))
        np.testing.assert_allclose(ys[seed], x @ m, rtol=1e-5)


def test_jitconn_has_no_stored_synapses():
    c = comm.JITConn(4, 3, 0.5, 1.0, seed=0)
    for call in (c.plastic_weight, lambda: c.outer(np.ones(4), np.ones(3)), c.synapses):
        with pytest.raises(ValueError, match="never stored"):
            call()


# ---------------------------------------------------------------- errors


def test_errors_name_the_layer_and_the_sizes():
    _, conn = random_conn(4, 3, 0.5)
    c = comm.EventCSR(conn, 1.0)
    with pytest.raises(ValueError, match=r"EventCSR\(n_pre=4, n_post=3\): x of size 5.*n_pre=4"):
        c(np.ones(5))
    with pytest.raises(ValueError, match=r"b_post of size 4.*n_post=3"):
        c.outer(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match=r"weight of shape \(2,\)"):
        c(np.ones(4), weight=np.ones(2))
    with pytest.raises(ValueError, match=rf"weight of shape \(7,\).*\({conn.nnz},\)"):
        comm.CSR(conn, np.ones(7) if conn.nnz != 7 else np.ones(8))
    with pytest.raises((ValueError, TypeError), match="conn"):  # TypeError: jaxtyping's check
        comm.CSR(np.ones((4, 3)), 1.0)
    with pytest.raises(ValueError, match=r"Dense: weight of shape \(3,\)"):
        comm.Dense(np.ones(3))
    with pytest.raises(ValueError, match=r"Dense\(n_pre=3, n_post=2\): x of size 2"):
        comm.Dense(np.ones((3, 2)))(np.ones(2))
    with pytest.raises(ValueError, match=r"OneToOne\(n=0\)"):
        comm.OneToOne(0, 1.0)
    with pytest.raises(ValueError, match=r"weight of shape \(4,\).*\(3,\)"):
        comm.OneToOne(3, np.ones(4))
    with pytest.raises(ValueError, match=r"include_self=False.*n_pre == n_post"):
        comm.AllToAll(3, 4, 1.0, include_self=False)
    with pytest.raises(ValueError, match=r"weight of shape \(4, 3\)"):
        comm.AllToAll(3, 4, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"BlockAllToAll: weight of shape \(2, 2\).*\(2, 3\)"):
        comm.BlockAllToAll((1, 2), (1, 1, 1), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"BlockAllToAll\(post_sizes=5\): expected a non-empty"):
        comm.BlockAllToAll((1, 2), 5, np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"BlockAllToAll\(pre_sizes=0\): pre_sizes must be"):
        comm.BlockAllToAll((1, 0), (1,), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"JITConn\(prob=1\.5\).*\[0, 1\]"):
        comm.JITConn(4, 3, 1.5, 1.0, seed=0)
    with pytest.raises(ValueError, match=r"JITConn\(n_post=-3\)"):
        comm.JITConn(4, -3, 0.5, 1.0, seed=0)
    with pytest.raises(ValueError, match="per-synapse"):
        comm.JITConn(4, 3, 0.5, np.ones(12), seed=0)
    with pytest.raises(ValueError, match=r"JITConn\(seed=0\.5\)"):
        comm.JITConn(4, 3, 0.5, 1.0, seed=0.5)
    with pytest.raises(ValueError, match=r"JITConn\(n_pre=4, n_post=3\): x of size 3"):
        comm.JITConn(4, 3, 0.5, 1.0, seed=0)(np.ones(3))
