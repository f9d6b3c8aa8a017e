"""The native CPU kernels (`neurotree.kernels._native`) against dense NumPy references."""

import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from neurotree.kernels import _jitc, _jitc_def, _native

import neurotree as nt

pytestmark = pytest.mark.skipif(
    not _native.available(), reason=f"native kernels unavailable: {_native.why_unavailable()}"
)

RNG = np.random.default_rng(7)
# Sizes around the 256-byte blocks of the zero scan (64 float32 / 32 float64 entries) and the
# 32-row batches in which the event scatter prefetches its rows.
SHAPES = [(1, 1), (7, 5), (5, 13), (130, 70), (33, 300)]
DTYPES = (np.float32, np.float64)
BATCHES = (1, 3)


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def inputs(batch, n, dtype):
    """Spike-like inputs (batch, n): none, all, some, fractional releases, negative zeros."""
    shape = (batch, n)
    some = RNG.random(shape) < 0.2
    return [
        np.zeros(shape, dtype),
        np.ones(shape, dtype),
        some.astype(dtype),
        (RNG.random(shape) * some).astype(dtype),
        np.where(some, RNG.normal(size=shape), -0.0).astype(dtype),
    ]


def x64(dtype):
    return jax.enable_x64(dtype == np.float64)


def random_csr(n_pre, n_post, p):
    mask = RNG.random((n_pre, n_post)) < p
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int32)
    return mask, indptr, np.nonzero(mask)[1].astype(np.int32)


# ---------------------------------------------------------------- CSR


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("event", [True, False])
@pytest.mark.parametrize("scalar", [True, False])
def test_csr_matvec_equals_numpy(shape, transpose, event, scalar):
    mask, indptr, indices = random_csr(*shape, 0.3)
    n_in = shape[0] if transpose else shape[1]
    for dtype in DTYPES:
        data = dtype(0.7) if scalar else RNG.normal(size=indices.size).astype(dtype)
        dense = np.zeros(shape)
        dense[mask] = data
        m = dense if transpose else dense.T
        with x64(dtype):
            for batch in BATCHES:
                for x in inputs(batch, n_in, dtype):
                    y = _native.csr_matvec(
                        x, indptr, indices, data, shape=shape, transpose=transpose, event=event
                    )
                    assert y.shape == (batch, m.shape[1]) and y.dtype == dtype
                    np.testing.assert_allclose(y, x.astype(np.float64) @ m, **tol(dtype))


def test_csr_matvec_empty_rows_and_matrix():
    indptr = np.array([0, 0, 2, 2, 3], np.int32)  # rows 0 and 2 empty
    indices = np.array([1, 4, 0], np.int32)
    data = np.array([1.0, 2.0, 3.0], np.float32)
    x = np.ones((2, 4), np.float32)
    y = _native.csr_matvec(x, indptr, indices, data, shape=(4, 5), transpose=True, event=True)
    np.testing.assert_array_equal(y, [[3, 1, 0, 0, 2]] * 2)
    empty = np.zeros(4, np.int32), np.zeros(0, np.int32), np.float32(1.0)
    y = _native.csr_matvec(x[:, :3], *empty, shape=(3, 6), transpose=True, event=True)
    np.testing.assert_array_equal(y, np.zeros((2, 6)))
    none = np.zeros(1, np.int32), np.zeros(0, np.int32), np.float32(1.0)  # n_pre = 0
    y = _native.csr_matvec(x[:, :0], *none, shape=(0, 4), transpose=True, event=True)
    np.testing.assert_array_equal(y, np.zeros((2, 4)))
    y = _native.csr_matvec(x[:0], indptr, indices, data, shape=(4, 5), transpose=True, event=True)
    assert y.shape == (0, 5)


def test_csr_matvec_in_jit_scan_and_vmap():
    shape = (50, 40)
    mask, indptr, indices = random_csr(*shape, 0.2)
    data = RNG.normal(size=indices.size).astype(np.float32)
    dense = np.zeros(shape, np.float32)
    dense[mask] = data
    spikes = (RNG.random((6, 2, shape[0])) < 0.2).astype(np.float32)

    def step(g, s):
        y = _native.csr_matvec(s, indptr, indices, data, shape=shape, transpose=True, event=True)
        return 0.5 * g + y, y

    g, ys = jax.jit(lambda sp: jax.lax.scan(step, jnp.zeros((2, shape[1])), sp))(spikes)
    np.testing.assert_allclose(ys, spikes @ dense, rtol=1e-5, atol=1e-5)
    f = jax.vmap(lambda s: step(0.0, s)[1])  # a batch of (2, n_pre) blocks, run one by one
    np.testing.assert_allclose(f(spikes), spikes @ dense, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- dense


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("event", [True, False])
def test_dense_matvec_equals_numpy(shape, event):
    for dtype in DTYPES:
        w = RNG.normal(size=shape).astype(dtype)
        with x64(dtype):
            for batch in BATCHES:
                for x in inputs(batch, shape[0], dtype):
                    y = jax.jit(lambda x, w: _native.dense_matvec(x, w, event=event))(x, w)
                    assert y.shape == (batch, shape[1]) and y.dtype == dtype
                    expected = x.astype(np.float64) @ w.astype(np.float64)
                    np.testing.assert_allclose(y, expected, **tol(dtype))


# Columns covering every register block of the dense kernels (1 to 12 SIMD vectors of 8 float32
# or 4 float64, a half vector, a scalar tail); 2,500 rows are split over several threads.
DENSE_COLUMNS = (1, 2, 3, 4, 6, 8, 13, 40, 95, 96, 97, 100, 200)


@pytest.mark.parametrize("n_post", DENSE_COLUMNS)
@pytest.mark.parametrize("event", [True, False])
def test_dense_kernels_cover_every_column_block(n_post, event):
    n_pre = 37
    for dtype in DTYPES:
        w = RNG.normal(size=(n_pre, n_post)).astype(dtype)
        with x64(dtype):
            for batch in (1, 5, 2500):
                ct = RNG.normal(size=(batch, n_post)).astype(dtype)
                for x in inputs(batch, n_pre, dtype)[2:]:
                    y = jax.jit(lambda x, w: _native.dense_matvec(x, w, event=event))(x, w)
                    g = jax.jit(lambda x, c: _native.dense_outer(x, c, event=event))(x, ct)
                    assert g.shape == (n_pre, n_post) and g.dtype == dtype
                    x_, w_, c_ = (a.astype(np.float64) for a in (x, w, ct))
                    np.testing.assert_allclose(y, x_ @ w_, **tol(dtype))
                    # g sums `batch` products: float32 rounding grows with sqrt(batch).
                    atol = 1e-12 if dtype == np.float64 else 1e-5 * np.sqrt(batch)
                    np.testing.assert_allclose(g, x_.T @ c_, rtol=tol(dtype)["rtol"], atol=atol)


def test_dense_outer_is_deterministic_and_propagates_nan():
    # Partial sums per fixed chunk of rows, added in chunk order: the same bits on every run,
    # whichever thread ran which chunk.
    x = (RNG.random((3000, 200)) < 0.1).astype(np.float32)
    ct = RNG.normal(size=(3000, 64)).astype(np.float32)
    f = jax.jit(lambda x, c: _native.dense_outer(x, c, event=True))
    first = np.asarray(f(x, ct))
    for _ in range(5):
        np.testing.assert_array_equal(f(x, ct), first)
    # A NaN spike is an event, as in the forward product: it reaches its row of the gradient.
    x[0, 3] = np.nan
    g = np.asarray(f(x, ct))
    assert np.isnan(g[3]).all() and not np.isnan(np.delete(g, 3, axis=0)).any()
    w = RNG.normal(size=(200, 16)).astype(np.float32)
    y = np.asarray(jax.jit(lambda x, w: _native.dense_matvec(x, w, event=True))(x, w))
    assert np.isnan(y[0]).all() and not np.isnan(y[1:]).any()


# ---------------------------------------------------------------- JIT connectivity

WEIGHTS = {
    "scalar": lambda: 0.7,
    "normal": lambda: nt.kernels.Normal(0.5, 2.0),
    "uniform": lambda: nt.kernels.Uniform(-1.0, 3.0),
}


JITC = jax.jit(_native.jitc_matvec, static_argnames=("shape", "transpose", "event", "kind"))


@functools.cache
def jitc_ref(shape, prob, kind, seed, dtype):
    """`jitc_to_dense` (the XLA reference) in `dtype`."""
    with x64(dtype):
        m = nt.kernels.jitc_to_dense(prob=prob, weight=WEIGHTS[kind](), seed=seed, shape=shape)
        assert m.dtype == dtype
        return np.asarray(m)


def jitc_args(prob, weight, seed, dtype):
    kind, coefs = _jitc._weight_spec("test", weight)
    K, _ = _jitc_def.rate_constant("test", prob)
    coefs = tuple(jnp.asarray(c, dtype) for c in coefs)
    return dict(coefs=coefs, seed=_jitc_def.as_seed("test", seed), K=K, kind=kind)


def jitc_dense(shape, prob, weight, seed, dtype, **native_kw):
    """The whole native JIT matrix, read off identity inputs."""
    args = jitc_args(prob, weight, seed, dtype)
    transpose = native_kw["transpose"]
    eye = np.eye(shape[0] if transpose else shape[1], dtype=dtype)
    m = _native.jitc_matvec(eye, **args, shape=shape, **native_kw)
    return np.asarray(m if transpose else m.T)


F32, F64 = DTYPES


@pytest.mark.parametrize(
    "shape, prob, seed, dtype",
    [((1, 1), 0.5, 0, F32), ((50, 70), 0.1, 123, F32), ((50, 70), 0.1, 123, F64),
     ((13, 200), 0.5, -7, F32), ((13, 200), 0.5, -7, F64), ((300, 9), 0.02, 2**40 + 5, F32),
     ((5, 6), 1.0, 3, F32), ((5, 6), 0.0, 3, F32), ((64, 1000), 0.003, 99, F32)],
)  # fmt: skip
@pytest.mark.parametrize("kind", WEIGHTS)
def test_jitc_matrix_equals_jitc_to_dense(shape, prob, seed, dtype, kind):
    weight = WEIGHTS[kind]()
    ref = jitc_ref(shape, prob, kind, seed, dtype)
    with x64(dtype):
        for transpose, event in ((True, True), (True, False), (False, False)):
            m = jitc_dense(shape, prob, weight, seed, dtype, transpose=transpose, event=event)
            # The structure is bit-exact; so are scalar and uniform weights.
            np.testing.assert_array_equal(m != 0, ref != 0)
            if kind == "normal":  # log, sqrt, cos in float32: a few ulp apart from XLA's
                np.testing.assert_allclose(m, ref, rtol=0, atol=1e-5)
            else:
                np.testing.assert_array_equal(m, ref)


@pytest.mark.parametrize("kind", WEIGHTS)
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("event", [True, False])
def test_jitc_matvec_equals_numpy(kind, transpose, event):
    shape, prob, seed = (70, 90), 0.15, 11
    weight = WEIGHTS[kind]()
    n_in = shape[0] if transpose else shape[1]
    for dtype in DTYPES:
        with x64(dtype):
            ref = jitc_ref(shape, prob, kind, seed, dtype)
            m = ref.astype(np.float64) if transpose else ref.T.astype(np.float64)
            args = jitc_args(prob, weight, seed, dtype)
            for batch in BATCHES:
                for x in inputs(batch, n_in, dtype):
                    y = JITC(x, **args, shape=shape, transpose=transpose, event=event)
                    assert y.shape == (batch, m.shape[1]) and y.dtype == dtype
                    atol = 1e-4 if kind == "normal" else tol(dtype)["atol"]
                    np.testing.assert_allclose(y, x.astype(np.float64) @ m, rtol=1e-5, atol=atol)


# ---------------------------------------------------------------- build fallback

PROBE = """
import numpy as np
from neurotree.kernels import _native as n
print(n.available())
try:
    n.csr_matvec(np.ones((1, 1), np.float32), [0, 0], [], 1.0, shape=(1, 1), transpose=True,
                 event=True)
except n.Unavailable as e:
    print("raised:", e)
"""


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"CXX": "/nonexistent/c++"}, "/nonexistent/c++"),
        ({"NEUROTREE_NATIVE": "0"}, "NEUROTREE_NATIVE=0"),
    ],
)
def test_build_falls_back_cleanly(tmp_path, env, reason):
    env = {**os.environ, "NEUROTREE_CACHE": str(tmp_path / "cache"), **env}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    available, raised = out.stdout.strip().split("\n", 1)
    assert available == "False" and raised.startswith("raised:") and reason in raised, out.stdout
    assert not (tmp_path / "cache").exists()  # nothing compiled, nothing left behind
