import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt

k = nt.kernels
RNG = np.random.default_rng(0)


def random_csr(n_pre, n_post, p, rng=RNG):
    mask = rng.random((n_pre, n_post)) < p
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int32)
    indices = np.nonzero(mask)[1].astype(np.int32)
    return mask, indptr, indices


def dense_of(mask, data):
    """The (n_pre, n_post) matrix holding `data` (scalar or per synapse) on `mask`."""
    out = np.zeros(mask.shape)
    out[mask] = data
    return out


KINDS = ("none", "all", "some", "fractional")


def inputs(n, batch=(2,), rng=RNG):
    """(4, *batch, n) float32: no spikes, all spiking, some spiking, fractional releases."""
    shape = batch + (n,)
    return np.stack(
        [
            np.zeros(shape, np.float32),
            np.ones(shape, np.float32),
            (rng.random(shape) < 0.3).astype(np.float32),
            (rng.random(shape) * (rng.random(shape) < 0.5)).astype(np.float32),
        ]
    )


SIZES = [(1, 1), (7, 5), (5, 13)]


# ---------------------------------------------------------------- dense


@pytest.mark.parametrize("shape", SIZES + [(30, 30)])
def test_event_matvec_equals_numpy(shape):
    w = RNG.normal(size=shape).astype(np.float32)
    for s in (inputs(shape[0]), inputs(shape[0], ())[2]):  # batch axes, one vector
        np.testing.assert_allclose(k.event_matvec(s, w), s @ w, rtol=1e-5, atol=1e-5)


def test_event_matvec_gradients_and_bool_spikes():
    w = RNG.normal(size=(6, 4)).astype(np.float32)
    s = RNG.random((2, 6)).astype(np.float32)
    gs, gw = jax.grad(lambda s, w: jnp.sum(jnp.sin(k.event_matvec(s, w))), (0, 1))(s, w)
    rs, rw = jax.grad(lambda s, w: jnp.sum(jnp.sin(s @ w)), (0, 1))(s, w)
    # atol: float32 sums of O(1) terms may cancel to near zero, where rtol alone is meaningless.
    np.testing.assert_allclose(gs, rs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gw, rw, rtol=1e-5, atol=1e-6)
    b = np.array([True, False, True, False, False, True])
    np.testing.assert_allclose(k.event_matvec(b, w), b.astype(np.float32) @ w, rtol=1e-6)
    s = jnp.asarray(s)
    np.testing.assert_allclose(
        jax.vmap(k.event_matvec, (0, None))(s, w), s @ w, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(jax.jit(k.event_matvec)(s, w), s @ w, rtol=1e-5, atol=1e-6)


def test_event_matvec_weight_gradient_is_the_event_outer_product():
    w = RNG.normal(size=(9, 5)).astype(np.float32)
    s = ((RNG.random((4, 9)) < 0.3) * RNG.random((4, 9))).astype(np.float32)
    c = RNG.normal(size=(4, 5)).astype(np.float32)

    def loss(w, s):
        return jnp.sum(jnp.sin(k.event_matvec(s, w)) * c)

    assert "neurotree_dense_outer" in str(jax.make_jaxpr(jax.grad(loss))(w, s))
    np.testing.assert_allclose(
        jax.grad(loss)(w, s), s.T @ (np.cos(s @ w) * c), rtol=1e-5, atol=1e-6
    )
    # Second order: the outer product's own JVP and transposes (Hessian-vector product).
    v = RNG.normal(size=w.shape).astype(np.float32)
    hvp = jax.jvp(lambda w: jax.grad(loss)(w, s), (w,), (v,))[1]
    expected = s.T @ (-np.sin(s @ w) * (s @ v) * c)
    np.testing.assert_allclose(hvp, expected, rtol=1e-4, atol=1e-5)
    mixed = jax.grad(lambda s: jnp.sum(jax.grad(loss)(w, s) * v))(s)
    ref = jax.grad(lambda s: jnp.sum(jax.grad(lambda w: jnp.sum(jnp.sin(s @ w) * c))(w) * v))(s)
    np.testing.assert_allclose(mixed, ref, rtol=1e-4, atol=1e-5)

    # Per-example gradients: vmapped spikes are not folded into the summed rows.
    def example(w, s, c):
        return jnp.sum(jnp.sin(k.event_matvec(s, w)) * c)

    per = jax.vmap(jax.grad(example), (None, 0, 0))(w, s, c)
    expected = np.einsum("bi,bj->bij", s, np.cos(s @ w) * c)
    np.testing.assert_allclose(per, expected, rtol=1e-5, atol=1e-6)


def test_event_matvec_forward_mode_vmapped_weights_and_interpret_backend():
    w = RNG.normal(size=(7, 5)).astype(np.float32)
    s = (RNG.random((3, 7)) < 0.5).astype(np.float32)
    ds, dw = (
        RNG.normal(size=s.shape).astype(np.float32),
        RNG.normal(size=w.shape).astype(np.float32),
    )
    y, dy = jax.jvp(k.event_matvec, (s, w), (ds, dw))
    np.testing.assert_allclose(y, s @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dy, ds @ w + s @ dw, rtol=1e-5, atol=1e-5)
    ws = np.stack([w, -2 * w])
    np.testing.assert_allclose(
        jax.vmap(k.event_matvec, (None, 0))(s, ws), s @ ws, rtol=1e-5, atol=1e-6
    )
    y = k.event_matvec(s, w, backend="interpret")
    np.testing.assert_allclose(y, s @ w, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- CSR


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("scalar", [True, False])
def test_csr_matvec_equals_dense(shape, transpose, scalar):
    mask, indptr, indices = random_csr(*shape, 0.4)
    data = np.float32(0.7) if scalar else RNG.normal(size=indices.size).astype(np.float32)
    dense = dense_of(mask, data)
    x = inputs(shape[0] if transpose else shape[1])
    ref = x @ dense if transpose else x @ dense.T
    for op in (k.csr_matvec, k.event_csr_matvec):
        y = op(x, indptr, indices, data, shape=shape, transpose=transpose)
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_csr_one_vector_empty_matrix_and_empty_rows():
    indptr = np.zeros(4, np.int32)
    indices = np.zeros(0, np.int32)
    y = k.event_csr_matvec(np.ones(3), indptr, indices, 1.0, shape=(3, 2), transpose=True)
    np.testing.assert_array_equal(y, np.zeros(2))
    mask = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 0]], bool)
    indptr, indices = np.array([0, 2, 2, 3], np.int32), np.array([1, 2, 0], np.int32)
    x = np.array([1.0, 5.0, 2.0], np.float32)
    for transpose, ref in [(True, x @ (2.0 * mask)), (False, (2.0 * mask) @ x)]:
        y = k.csr_matvec(x, indptr, indices, 2.0, shape=(3, 3), transpose=transpose)
        np.testing.assert_allclose(y, ref)


@pytest.mark.parametrize("transpose", [True, False])
def test_csr_gradients_equal_dense_reference(transpose):
    shape = (9, 6)
    mask, indptr, indices = random_csr(*shape, 0.5)
    pre, post = np.nonzero(mask)
    data = RNG.normal(size=indices.size).astype(np.float32)
    x = RNG.random((2, shape[0] if transpose else shape[1])).astype(np.float32)

    def loss(x, d, op):
        return jnp.sum(jnp.tanh(op(x, indptr, indices, d, shape=shape, transpose=transpose)))

    @jax.jit
    def ref(x, d):
        m = jnp.zeros(shape).at[pre, post].add(d)
        return jax.grad(lambda x, m: jnp.sum(jnp.tanh(x @ m if transpose else x @ m.T)), (0, 1))(
            x, m
        )

    grad = jax.jit(jax.grad(loss, (0, 1)), static_argnums=2)
    for d, ops in [(data, (k.csr_matvec, k.event_csr_matvec)), (np.float32(0.3), (k.csr_matvec,))]:
        gx, gm = ref(x, d)
        want_d = gm[pre, post] if d.shape else jnp.sum(gm[pre, post])
        for op in ops:
            got_x, got_d = grad(x, d, op)
            np.testing.assert_allclose(got_x, gx, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-6)


def test_csr_under_jit_and_vmap():
    shape = (8, 5)
    mask, indptr, indices = random_csr(*shape, 0.5)
    data = RNG.normal(size=indices.size).astype(np.float32)
    x = RNG.random((4, 8)).astype(np.float32)

    def f(x, d):
        return k.event_csr_matvec(x, indptr, indices, d, shape=shape, transpose=True)

    ref = x @ dense_of(mask, data)
    np.testing.assert_allclose(jax.jit(f)(x, data), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(f, (0, None))(x, data), ref, rtol=1e-5, atol=1e-6)
    ys = jax.vmap(f, (None, 0))(x, np.stack([data, 2 * data]))
    np.testing.assert_allclose(ys[1], 2 * ref, rtol=1e-5, atol=1e-6)


def test_csr_swept_weights_run_the_kernel_per_member_exactly():
    # vmap over the weights of one connectivity (a weight sweep): each member is the unbatched
    # product bit for bit, on the default backend (native here), not the vmapped reference.
    mask, indptr, indices = random_csr(300, 200, 0.05)
    x = (RNG.random((3, 300)) < 0.1).astype(np.float32)
    xs = (RNG.random((5, 3, 300)) < 0.1).astype(np.float32)
    for data in (np.linspace(0.1, 1.0, 5, dtype=np.float32),
                 RNG.normal(size=(5, indices.size)).astype(np.float32)):  # fmt: skip

        def f(x, w):
            return k.event_csr_matvec(x, indptr, indices, w, shape=(300, 200), transpose=True)

        loop = np.stack([jax.jit(f)(x, w) for w in data])
        np.testing.assert_array_equal(jax.jit(jax.vmap(f, (None, 0)))(x, data), loop)
        loop = np.stack([jax.jit(f)(a, w) for a, w in zip(xs, data)])
        np.testing.assert_array_equal(jax.jit(jax.vmap(f))(xs, data), loop)
        jaxpr = str(jax.make_jaxpr(jax.vmap(f, (None, 0)))(x, data))
        assert "neurotree_csr_matvec" in jaxpr and "scan" in jaxpr
        per = jax.vmap(jax.grad(lambda w: jnp.sum(jnp.sin(f(x, w)))))(data)
        ref = [jax.grad(lambda w: jnp.sum(jnp.sin(f(x, w))))(w) for w in data]
        np.testing.assert_allclose(per, np.stack(ref), rtol=1e-6, atol=1e-6)
    # The same for just-in-time connectivity: weights swept over one (seed, prob) matrix.
    ws = np.linspace(0.1, 1.0, 4, dtype=np.float32)

    def g(x, w):
        return k.jitc_event_matvec(x, prob=0.05, weight=w, seed=3, shape=(300, 200), transpose=True)

    loop = np.stack([jax.jit(g)(x, w) for w in ws])
    np.testing.assert_array_equal(jax.jit(jax.vmap(g, (None, 0)))(x, ws), loop)
    normal = jax.vmap(lambda m: g(x, k.Normal(m, 0.5)))(ws)
    np.testing.assert_array_equal(normal, np.stack([g(x, k.Normal(m, 0.5)) for m in ws]))


@pytest.mark.parametrize("scalar", [True, False])
@pytest.mark.parametrize("transpose", [True, False])
def test_csr_forward_mode_and_gradients_under_vmap(transpose, scalar):
    shape = (9, 6)
    mask, indptr, indices = random_csr(*shape, 0.5)
    pre, post = np.nonzero(mask)
    data = np.float32(0.7) if scalar else RNG.normal(size=indices.size).astype(np.float32)
    x = RNG.random((3, shape[0] if transpose else shape[1])).astype(np.float32)
    dx, dd = RNG.normal(size=x.shape).astype(np.float32), np.ones_like(data) * 0.5

    def op(x, d):
        return k.event_csr_matvec(x, indptr, indices, d, shape=shape, transpose=transpose)

    def ref(x, d):
        m = jnp.zeros(shape).at[pre, post].add(jnp.broadcast_to(d, pre.shape))
        return x @ m if transpose else x @ m.T

    got = jax.jvp(op, (x, data), (dx, dd))
    want = jax.jvp(ref, (x, data), (dx, dd))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # Per-example gradients (vmap of grad) and a Hessian-vector product (jvp of grad).
    per_example = jax.vmap(jax.grad(lambda x, d: jnp.sum(jnp.sin(op(x, d))), (0, 1)), (0, None))
    reference = jax.vmap(jax.grad(lambda x, d: jnp.sum(jnp.sin(ref(x, d))), (0, 1)), (0, None))
    for g, w in zip(per_example(x, data), reference(x, data)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    hvp = jax.jvp(jax.grad(lambda x: jnp.sum(jnp.sin(op(x, data)))), (x,), (dx,))[1]
    hvp_ref = jax.jvp(jax.grad(lambda x: jnp.sum(jnp.sin(ref(x, data)))), (x,), (dx,))[1]
    np.testing.assert_allclose(hvp, hvp_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("transpose", [True, False])
def test_csr_interpret_backend_through_the_primitive(transpose):
    shape = (13, 9)
    mask, indptr, indices = random_csr(*shape, 0.4)
    data = RNG.normal(size=indices.size).astype(np.float32)
    x = inputs(shape[0] if transpose else shape[1])[3]
    dense = dense_of(mask, data)

    def loss(x, d, backend):
        y = k.event_csr_matvec(
            x, indptr, indices, d, shape=shape, transpose=transpose, backend=backend
        )
        return jnp.sum(jnp.sin(y)), y

    grad = jax.grad(loss, (0, 1), has_aux=True)
    (gx, gd), y = grad(x, data, "interpret")
    (rx, rd), ref = grad(x, data, "xla")
    np.testing.assert_allclose(y, x @ dense if transpose else x @ dense.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, rx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gd, rd, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- JIT connectivity


def _np_mix(h):
    m = 0xFFFFFFFF
    h = h ^ (h >> 16)
    h = (h * 0x21F0AAAD) & m
    h = h ^ (h >> 15)
    h = (h * 0x735A2D97) & m
    return h ^ (h >> 15)


def np_jitc_dense(seed, prob, shape, weight=1.0):
    """An independent NumPy transcription of the definition in kernels/_jitc_def.py."""
    n_pre, n_post = shape
    table = np.round(np.log2(1 + np.arange(4097) / 4096) * 2**24).astype(np.int64)
    if prob == 0:
        return np.zeros(shape, np.float32)
    K = np.float32(0.0 if prob == 1 else 2.0**-24 * math.log(2) / -math.log1p(-prob))
    i = np.arange(n_pre, dtype=np.uint64)
    key = _np_mix(_np_mix(np.uint64(seed % 2**32) ^ np.uint64(0x243F6A88)) ^ i)

    def draw(kk, c):
        return _np_mix(_np_mix(key ^ np.uint64(4 * kk + c)) ^ i)

    out = np.zeros(shape, np.float32)
    j = np.full(n_pre, -1, np.int64)
    kk = 0
    while np.any(j < n_post):
        v = (draw(kk, 0) >> np.uint64(1)) + np.uint64(1)
        e = np.array([int(a).bit_length() - 1 for a in v], np.int64)
        f = (v << (np.uint64(31) - e.astype(np.uint64))) & np.uint64(0x7FFFFFFF)
        t, r = (f >> np.uint64(19)).astype(np.int64), ((f >> np.uint64(8)) & np.uint64(0x7FF))
        lg = table[t] + (((table[t + 1] - table[t]) * r.astype(np.int64)) >> 11)
        L = ((31 - e) << 24) - lg
        x = np.minimum(L.astype(np.float32) * K, np.float32(n_post))
        j = j + 1 + np.floor(x).astype(np.int64)
        a1 = (draw(kk, 1) >> np.uint64(8)).astype(np.float32)
        if isinstance(weight, k.Uniform):
            lo, hi = np.float32(weight.low), np.float32(weight.high)
            w = lo + (hi - lo) * (a1 * np.float32(2**-24))
        elif isinstance(weight, k.Normal):
            a2 = (draw(kk, 2) >> np.uint64(8)).astype(np.float32)
            u1, u2 = (a1 + 1) * np.float32(2**-24), a2 * np.float32(2**-24)
            z = np.sqrt(-2 * np.log(u1)) * np.cos(np.float32(2 * np.pi) * u2)
            w = np.float32(weight.mean) + np.float32(weight.std) * z
        else:
            w = np.full(n_pre, weight, np.float32)
        ok = j < n_post
        out[np.nonzero(ok)[0], j[ok]] = w[ok]
        kk += 1
    return out


def test_log2_table_has_no_rounding_ties():
    exact = np.log2(1 + np.arange(4097) / 4096) * 2**24
    assert np.min(np.abs(exact - np.floor(exact) - 0.5)) > 1e-6


# The operator tests share one (shape, prob) so that jitc_to_dense compiles once per weight kind.
SHAPE, PROB = (12, 9), 0.4
WEIGHTS = {"scalar": 0.7, "normal": k.Normal(0.2, 1.0), "uniform": k.Uniform(0.5, 1.5)}
OPS = [(k.jitc_matvec, True), (k.jitc_matvec, False), (k.jitc_event_matvec, True)]


def jit_dense(weight, seed=2, prob=PROB, shape=SHAPE):
    return np.asarray(k.jitc_to_dense(prob=prob, weight=weight, seed=seed, shape=shape))


@pytest.mark.parametrize(
    "seed,prob,shape,weight",
    [
        (0, PROB, SHAPE, 1.0),
        (123456789, PROB, SHAPE, k.Uniform(-1.0, 2.0)),
        (2**32 - 1, PROB, SHAPE, k.Normal(0.5, 2.0)),
        (7, 0.05, (50, 200), 0.25),
        (3, 0.9, (1, 1), 1.0),
    ],
)
def test_jitc_matches_numpy_transcription_of_the_definition(seed, prob, shape, weight):
    got = jit_dense(weight, seed, prob, shape)
    want = np_jitc_dense(seed, prob, shape, weight)
    np.testing.assert_array_equal(got != 0, want != 0)  # structure: bit for bit
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_jitc_seed_reproducible_and_distinct():
    a = jit_dense(1.0, 3)
    np.testing.assert_array_equal(a, jit_dense(1.0, 3))
    np.testing.assert_array_equal(a, jit_dense(1.0, jnp.int32(3)))
    np.testing.assert_array_equal(a, jit_dense(1.0, np.int64(3 + 2**32)))  # seed mod 2**32
    np.testing.assert_array_equal(jit_dense(1.0, -1), jit_dense(1.0, 2**32 - 1))
    assert np.mean(a != jit_dense(1.0, 4)) > 0.3  # 2 p (1 - p) = 0.48 of entries differ


def test_jitc_degrees_are_binomial_and_normal_weights_have_their_moments():
    n, p = 2000, 0.05
    m = jit_dense(k.Normal(1.5, 0.5), 11, p, (n, n))
    mask = m != 0
    for deg in (mask.sum(1), mask.sum(0)):  # out- and in-degrees
        mean, var = n * p, n * p * (1 - p)
        assert abs(deg.mean() - mean) < 4 * math.sqrt(var / n)
        assert abs(deg.var(ddof=1) - var) < 4 * var * math.sqrt(2 / (n - 1))
    # Adjacent columns are independent: P(both) = p**2.
    both = np.mean(mask[:, 1:] & mask[:, :-1])
    assert abs(both - p**2) < 4 * math.sqrt(p**2 / mask[:, 1:].size)
    vals = m[mask]  # ~200,000 weights
    assert abs(vals.mean() - 1.5) < 4 * 0.5 / math.sqrt(vals.size)
    assert abs(vals.var() - 0.25) < 4 * 0.25 * math.sqrt(2 / vals.size)


def test_jitc_uniform_weight_moments():
    m = jit_dense(k.Uniform(-1.0, 3.0), 5, 0.25, (400, 400))
    vals = m[m != 0]  # ~40,000 weights
    mean, var = 1.0, 16.0 / 12.0
    assert abs(vals.mean() - mean) < 4 * math.sqrt(var / vals.size)
    mu4 = 4.0**4 / 80  # fourth central moment of a uniform of width 4
    assert abs(vals.var() - var) < 4 * math.sqrt((mu4 - var**2) / vals.size)
    assert vals.min() >= -1.0 and vals.max() < 3.0


def test_jitc_prob_zero_and_one():
    x = RNG.random(SHAPE[0]).astype(np.float32)
    np.testing.assert_array_equal(jit_dense(0.5, prob=0.0), np.zeros(SHAPE))
    np.testing.assert_array_equal(jit_dense(0.5, prob=1.0), np.full(SHAPE, 0.5))
    y = k.jitc_event_matvec(x, prob=1.0, weight=0.5, seed=1, shape=SHAPE, transpose=True)
    np.testing.assert_allclose(y, np.full(SHAPE[1], 0.5 * x.sum()), rtol=1e-6)


@pytest.mark.parametrize("name", WEIGHTS)
def test_jitc_matvec_equals_dense(name):
    weight = WEIGHTS[name]
    m = jit_dense(weight, 9).astype(np.float64)
    # The weights enter the three products through the same code; the scalar case runs them all.
    for op, transpose in OPS if name == "scalar" else OPS[1:]:
        x = inputs(SHAPE[0] if transpose else SHAPE[1], (2, 3))
        y = op(x, prob=PROB, weight=weight, seed=9, shape=SHAPE, transpose=transpose)
        np.testing.assert_allclose(y, x @ m if transpose else x @ m.T, rtol=1e-5, atol=1e-5)


def test_jitc_one_by_one():
    m = jit_dense(1.0, 3, 0.9, (1, 1))
    assert m.shape == (1, 1)
    x = inputs(1, (2,))
    y = k.jitc_event_matvec(x, prob=0.9, weight=1.0, seed=3, shape=(1, 1), transpose=True)
    np.testing.assert_allclose(y, x @ m, rtol=1e-6)


@pytest.mark.parametrize(
    "op,transpose,name",
    [
        (k.jitc_event_matvec, True, "scalar"),
        (k.jitc_matvec, False, "scalar"),
        (k.jitc_event_matvec, True, "normal"),
        (k.jitc_matvec, True, "uniform"),
    ],
)
def test_jitc_gradients_equal_dense_reference(op, transpose, name):
    weight = WEIGHTS[name]
    x = inputs(SHAPE[0] if transpose else SHAPE[1], ())[2:]  # some spiking, fractional

    def loss(x, w):
        y = op(x, prob=PROB, weight=w, seed=2, shape=SHAPE, transpose=transpose)
        return jnp.sum(jnp.sin(y))

    w = jnp.float32(weight) if name == "scalar" else weight
    gx, gw = jax.jit(jax.grad(loss, (0, 1)))(x, w)
    # d loss / d M_ij = sum_b x_bi cos(y_bj) (transpose=True) and the weight parameters enter
    # M linearly through per-synapse bases: M = w B, mean B + std Z or low (1 - U) B + high U.
    m = jit_dense(weight).astype(np.float64)
    y = x @ m if transpose else x @ m.T
    dm = x.T @ np.cos(y) if transpose else (x.T @ np.cos(y)).T
    np.testing.assert_allclose(gx, np.cos(y) @ (m.T if transpose else m), rtol=1e-4, atol=1e-5)
    b = (m != 0).astype(np.float64)
    if name == "scalar":
        want = {"w": np.sum(dm * b)}
        got = {"w": gw}
    elif name == "normal":
        z = (m - 0.2 * b) / 1.0
        want = {"mean": np.sum(dm * b), "std": np.sum(dm * z)}
        got = {"mean": gw.mean, "std": gw.std}
    else:
        u = (m - 0.5 * b) / 1.0
        want = {"low": np.sum(dm * (b - u)), "high": np.sum(dm * u)}
        got = {"low": gw.low, "high": gw.high}
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.parametrize("name", list(WEIGHTS))
@pytest.mark.parametrize("op,transpose", OPS)
def test_jitc_forward_mode_and_interpret_backend(op, transpose, name):
    weight = WEIGHTS[name]
    w = jnp.float32(weight) if name == "scalar" else weight
    x = inputs(SHAPE[0] if transpose else SHAPE[1], ())[2:]
    dx = RNG.normal(size=x.shape).astype(np.float32)
    dw = jax.tree.map(lambda a: jnp.full_like(a, 0.3), w)

    def f(x, w, backend="auto"):
        return op(x, prob=PROB, weight=w, seed=2, shape=SHAPE, transpose=transpose,
                  backend=backend)  # fmt: skip

    def ref(x, w):
        m = k.jitc_to_dense(prob=PROB, weight=w, seed=2, shape=SHAPE)
        return x @ m if transpose else x @ m.T

    got, want = jax.jvp(f, (x, w), (dx, dw)), jax.jvp(ref, (x, w), (dx, dw))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f(x, w, "interpret"), want[0], rtol=1e-5, atol=1e-5)


def test_jitc_to_dense_is_differentiable_in_the_weight():
    def total(mean):
        return jnp.sum(k.jitc_to_dense(prob=PROB, weight=k.Normal(mean, 1.0), seed=2, shape=SHAPE))

    g = jax.jit(jax.grad(total))(0.3)
    np.testing.assert_allclose(g, np.sum(jit_dense(1.0) != 0))


def test_jitc_under_jit_and_vmap():
    x = inputs(SHAPE[0], (2,))[2:]  # (2, 2, n_pre)
    seeds = jnp.array([4, 5], jnp.int32)

    def f(x, seed, prob=PROB):
        return k.jitc_event_matvec(x, prob=prob, weight=1.0, seed=seed, shape=SHAPE, transpose=True)

    ys = jax.vmap(f)(x, seeds)  # batched spikes and seeds
    for y, xb, seed in zip(ys, x, [4, 5]):
        np.testing.assert_allclose(y, xb @ jit_dense(1.0, seed), rtol=1e-6)
    # Under jit, with a traced prob (its rate constant is then computed in float32 on the device).
    y = jax.jit(lambda x, p: f(x, 4, p))(x[0], jnp.float32(PROB))
    np.testing.assert_allclose(y, x[0] @ jit_dense(1.0, 4), rtol=1e-6)


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem():
    mask, indptr, indices = random_csr(4, 3, 0.5)
    with pytest.raises(ValueError, match=r"spikes of length 5 .*shape=\(4, 3\).*n_pre=4"):
        k.event_csr_matvec(np.ones(5), indptr, indices, 1.0, shape=(4, 3), transpose=True)
    with pytest.raises(ValueError, match=r"x of length 4 .*n_post=3"):
        k.csr_matvec(np.ones(4), indptr, indices, 1.0, shape=(4, 3))
    with pytest.raises(ValueError, match=r"indptr of shape \(5,\).*\(6,\)"):
        k.csr_matvec(np.ones(5), indptr, indices, 1.0, shape=(5, 3), transpose=True)
    with pytest.raises(ValueError, match=r"data of shape \(2,\)"):
        k.csr_matvec(np.ones(4), indptr, indices, np.ones(2), shape=(4, 3), transpose=True)
    with pytest.raises(
        ValueError, match=r"backend='gpu'\): backend must be one of \('auto', 'xla'"
    ):
        k.csr_matvec(np.ones(3), indptr, indices, 1.0, shape=(4, 3), backend="gpu")
    with pytest.raises(
        ValueError, match=r"backend='pallas'\): Pallas kernels .* not cpu.*interpret"
    ):
        k.csr_matvec(np.ones(3), indptr, indices, 1.0, shape=(4, 3), backend="pallas")
    with pytest.raises(ValueError, match=r"spikes of length 2 .*n_pre=3"):
        k.event_matvec(np.ones(2), np.ones((3, 4)))
    with pytest.raises(ValueError, match="backend"):
        k.event_matvec(np.ones(3), np.ones((3, 4)), backend="cuda")
    jit = dict(weight=1.0, seed=0, shape=(4, 3))
    with pytest.raises(ValueError, match=r"prob=1\.5.*\[0, 1\]"):
        k.jitc_matvec(np.ones(3), prob=1.5, **jit)
    with pytest.raises(ValueError, match=r"spikes of length 3 .*n_pre=4"):
        k.jitc_event_matvec(np.ones(3), prob=0.5, transpose=True, **jit)
    with pytest.raises(ValueError, match="per-synapse"):
        k.jitc_matvec(np.ones(3), prob=0.5, weight=np.ones(12), seed=0, shape=(4, 3))
    with pytest.raises(ValueError, match="seed"):
        k.jitc_matvec(np.ones(3), prob=0.5, weight=1.0, seed=1.5, shape=(4, 3))
    with pytest.raises(ValueError, match=r"backend='cpu'\): backend must be one of"):
        k.jitc_matvec(np.ones(3), prob=0.5, backend="cpu", **jit)
    with pytest.raises(ValueError, match=r"std=-1\.0"):
        k.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="low must not exceed high"):
        k.Uniform(2.0, 1.0)


def test_csr_pre_indices_argument_gives_the_same_result():
    rng = np.random.default_rng(5)
    dense = rng.random((7, 5)) < 0.4
    indptr = np.concatenate([[0], np.cumsum(dense.sum(1))]).astype(np.int32)
    indices = np.nonzero(dense)[1].astype(np.int32)
    rows = np.nonzero(dense)[0].astype(np.int32)
    data = rng.random(indices.size).astype(np.float32)
    x = rng.random(7).astype(np.float32)
    from neurotree import kernels as K

    for op in (K.csr_matvec, K.event_csr_matvec):
        a = op(x, indptr, indices, data, shape=(7, 5), transpose=True)
        b = op(x, indptr, indices, data, shape=(7, 5), transpose=True, pre_indices=rows)
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="pre_indices of shape"):
        K.csr_matvec(x, indptr, indices, data, shape=(7, 5), transpose=True, pre_indices=rows[:-1])
