"""The Pallas kernels: equality with dense NumPy references in interpret mode (CPU), and
lowering to Triton for the `cuda` platform (no GPU needed).

Interpret mode compiles one XLA program per kernel variant and shape, so the cases share
shapes and pack their inputs into the batch axis: no spikes, all spiking and fractional
releases are rows of one x2.
"""

import jax
import jax.numpy as jnp
import neurotree.kernels as k
import numpy as np
import pytest
from neurotree.kernels import _pallas as pk
from neurotree.kernels._jitc import _weight_spec
from neurotree.kernels._jitc_def import as_seed, rate_constant

RNG = np.random.default_rng(1)
SHAPE = (37, 45)  # a multiple of no block size
MODES = [(True, True), (True, False), (False, False)]  # (transpose, event)


def spikes(n, dtype=np.float32):
    """(3, n): no spikes, all spiking, fractional releases on about half of the entries."""
    frac = RNG.random(n) * (RNG.random(n) < 0.5)
    return np.stack([np.zeros(n), np.ones(n), frac]).astype(dtype)


def random_csr(shape, p=0.4, dtype=np.float32):
    """(dense mask, indptr, indices) with every fifth row empty."""
    mask = RNG.random(shape) < p
    mask[::5] = False
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int32)
    return mask, indptr, np.nonzero(mask)[1].astype(np.int32)


def product(x, m, transpose):
    return x @ m if transpose else x @ m.T


def assert_close(y, want, dtype=np.float32):
    assert y.shape == want.shape and y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(y), want, rtol=tol, atol=tol)


# ---------------------------------------------------------------- CSR


@pytest.mark.parametrize("transpose,event", MODES)
@pytest.mark.parametrize("scalar", [True, False])
def test_csr_equals_dense(transpose, event, scalar):
    mask, indptr, indices = random_csr(SHAPE)
    data = np.float32(0.7) if scalar else RNG.normal(size=indices.size).astype(np.float32)
    dense = np.zeros(SHAPE)
    dense[mask] = data
    x = spikes(SHAPE[0] if transpose else SHAPE[1])
    y = pk.csr_matvec(
        x, indptr, indices, data, shape=SHAPE, transpose=transpose, event=event,
        interpret=True, block_rows=8, block_cols=8,
    )  # fmt: skip
    assert_close(y, product(x, dense, transpose))


def test_csr_float64_one_vector_default_blocks():
    mask, indptr, indices = random_csr(SHAPE)
    with jax.enable_x64(True):
        data = RNG.normal(size=indices.size)
        dense = np.zeros(SHAPE)
        dense[mask] = data
        for transpose in (True, False):
            x = spikes(SHAPE[0] if transpose else SHAPE[1], np.float64)[2:]
            y = pk.csr_matvec(
                x, indptr, indices, data, shape=SHAPE, transpose=transpose, event=True,
                interpret=True,
            )  # fmt: skip
            assert_close(y, product(x, dense, transpose), np.float64)


def test_csr_without_synapses_or_rows():
    x = np.ones((2, 3), np.float32)
    for shape, transpose in [((3, 5), True), ((4, 3), False), ((0, 3), False)]:
        indptr, indices = np.zeros(shape[0] + 1, np.int32), np.zeros(0, np.int32)
        y = pk.csr_matvec(
            x, indptr, indices, np.float32(1), shape=shape, transpose=transpose, event=True,
            interpret=True,
        )  # fmt: skip
        np.testing.assert_array_equal(y, np.zeros((2, shape[1] if transpose else shape[0])))


# ---------------------------------------------------------------- dense


@pytest.mark.parametrize("event", [True, False])
def test_dense_equals_numpy(event):
    w = RNG.normal(size=SHAPE).astype(np.float32)
    x = spikes(SHAPE[0])
    y = pk.dense_matvec(x, w, event=event, interpret=True, block_k=8, block_n=16)
    assert_close(y, x @ w.astype(np.float64))


def test_dense_float64_one_vector_default_blocks():
    with jax.enable_x64(True):
        w = RNG.normal(size=SHAPE)
        x = spikes(SHAPE[0], np.float64)[2:]
        assert_close(pk.dense_matvec(x, w, event=True, interpret=True), x @ w, np.float64)


# ---------------------------------------------------------------- JIT connectivity

WEIGHTS = {"scalar": 0.7, "normal": k.Normal(0.2, 1.0), "uniform": k.Uniform(0.5, 1.5)}


def jitc(x, weight, seed, prob, transpose, event, shape=SHAPE, **kw):
    kind, coefs = _weight_spec("test", weight)
    K, _ = rate_constant("test", prob)
    seed = as_seed("test", seed)
    return pk.jitc_matvec(
        x, coefs, seed, K, shape=shape, transpose=transpose, event=event, kind=kind,
        interpret=True, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("transpose,event", MODES)
@pytest.mark.parametrize("name", WEIGHTS)
def test_jitc_is_bit_exact_and_equals_dense(transpose, event, name):
    """Rows of the identity give the matrix itself (every product is 1 * w, summed with
    zeros), which must equal `jitc_to_dense` bit for bit; spike rows follow."""
    weight = WEIGHTS[name]
    n_in = SHAPE[0] if transpose else SHAPE[1]
    x = np.concatenate([np.eye(n_in, dtype=np.float32), spikes(n_in)])
    cases = [(9, 0.3)]
    if name == "scalar":  # same kernel, other rate constants: prob = 1 (K = 0), 0 (K = inf)
        cases += [(2**32 - 1, 1.0), (5, 0.0)]
    for seed, prob in cases:
        m = np.asarray(k.jitc_to_dense(prob=prob, weight=weight, seed=seed, shape=SHAPE))
        y = np.asarray(jitc(x, weight, seed, prob, transpose, event, block_rows=8))
        np.testing.assert_array_equal(y[:n_in], m if transpose else m.T)
        assert_close(y[n_in:], product(x[n_in:], m.astype(np.float64), transpose))


def test_jitc_float64_one_vector_default_blocks():
    weight = WEIGHTS["uniform"]
    with jax.enable_x64(True):
        m = np.asarray(k.jitc_to_dense(prob=0.2, weight=weight, seed=4, shape=SHAPE))
        assert m.dtype == np.float64
        for transpose in (True, False):
            x = spikes(SHAPE[0] if transpose else SHAPE[1], np.float64)[2:]
            y = jitc(x, weight, 4, 0.2, transpose, True)
            assert_close(y, product(x, m, transpose), np.float64)


# ---------------------------------------------------------------- lowering to Triton


def lowers_to_triton(f, *args):
    text = jax.jit(f).trace(*args).lower(lowering_platforms=("cuda",)).as_text()
    assert "__gpu$xla.gpu.triton" in text


DTYPES = ["float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_csr_lowers_for_cuda(dtype):
    _, indptr, indices = random_csr(SHAPE)
    with jax.enable_x64(dtype == "float64"):
        for transpose, event in MODES:
            x = jnp.ones((3, SHAPE[0] if transpose else SHAPE[1]), dtype)
            for data in (jnp.asarray(0.5, dtype), jnp.ones(indices.size, dtype)):

                def f(x, indptr, indices, data, transpose=transpose, event=event):
                    return pk.csr_matvec(
                        x, indptr, indices, data, shape=SHAPE, transpose=transpose, event=event
                    )

                lowers_to_triton(f, x, indptr, indices, data)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_lowers_for_cuda(dtype):
    with jax.enable_x64(dtype == "float64"):
        x, w = jnp.ones((3, SHAPE[0]), dtype), jnp.ones(SHAPE, dtype)
        for event in (True, False):
            lowers_to_triton(lambda x, w, event=event: pk.dense_matvec(x, w, event=event), x, w)


@pytest.mark.parametrize("dtype", DTYPES)
def test_jitc_lowers_for_cuda(dtype):
    with jax.enable_x64(dtype == "float64"):
        for transpose, event in MODES:
            x = jnp.ones((3, SHAPE[0] if transpose else SHAPE[1]), dtype)
            for weight in WEIGHTS.values():
                kind, coefs = _weight_spec("test", weight)
                coefs = tuple(jnp.asarray(c, dtype) for c in coefs)

                def f(x, coefs, seed, K, transpose=transpose, event=event, kind=kind):
                    return pk.jitc_matvec(
                        x, coefs, seed, K, shape=SHAPE, transpose=transpose, event=event, kind=kind
                    )

                lowers_to_triton(f, x, coefs, jnp.uint32(3), jnp.float32(1e-8))
