import numpy as np
import pytest

import neurotree.conn as conn
from neurotree.conn import _fixed_num, _fixed_prob

Z = 5.0  # tolerance in standard errors for statistical checks


def assert_valid(csr, shape):
    """A well-formed CSR of `shape`: rows strictly increasing (sorted, no duplicate synapses)."""
    assert isinstance(csr, conn.CSR)
    assert csr.shape == shape
    assert csr.indptr.dtype == np.int32 and csr.indices.dtype == np.int32
    assert csr.indptr.shape == (shape[0] + 1,) and csr.indptr[0] == 0
    assert csr.indptr[-1] == csr.nnz and np.all(np.diff(csr.indptr) >= 0)
    if csr.nnz:
        assert csr.indices.min() >= 0 and csr.indices.max() < shape[1]
        pre = csr.pre_indices()
        same_row = pre[1:] == pre[:-1]
        assert np.all(np.diff(csr.indices)[same_row] > 0)


def degrees(csr):
    """(out-degree of every pre neuron, in-degree of every post neuron)."""
    in_deg = np.zeros(csr.n_post, np.int64)
    for s in range(0, csr.nnz, 2**22):  # bincount copies to int64: keep the copies small
        in_deg += np.bincount(csr.indices[s : s + 2**22], minlength=csr.n_post)
    return np.diff(csr.indptr), in_deg


def assert_binomial(sample, n, p):
    """Mean and variance of i.i.d. Binomial(n, p) counts, each within Z standard errors."""
    sample = np.asarray(sample, float)
    k = sample.size
    mean, var = n * p, n * p * (1 - p)
    assert abs(sample.mean() - mean) < Z * np.sqrt(var / k)
    # SE of the sample variance: var * sqrt(2 / (k - 1) + excess_kurtosis / k)
    kurt = (1 - 6 * p * (1 - p)) / var
    assert abs(sample.var(ddof=1) - var) < Z * var * np.sqrt(2 / (k - 1) + kurt / k)


# --- FixedProb ------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [None, 3000])
@pytest.mark.parametrize("shape", [(3000, 2000), (2500, 2500)])
def test_fixed_prob_degrees_are_binomial(monkeypatch, block, shape):
    if block is not None:  # many row blocks, several draws per block
        monkeypatch.setattr(_fixed_prob, "_BLOCK_SYNAPSES", block)
    p = 0.03
    csr = conn.FixedProb(p, seed=3)(*shape)
    assert_valid(csr, shape)
    square = shape[0] == shape[1]
    n_cols, n_rows = shape[1] - square, shape[0] - square
    out_deg, in_deg = degrees(csr)
    assert_binomial(out_deg, n_cols, p)
    assert_binomial(in_deg, n_rows, p)
    n_pairs = shape[0] * n_cols
    assert abs(csr.nnz - n_pairs * p) < Z * np.sqrt(n_pairs * p * (1 - p))
    if square:
        assert not np.any(csr.indices == csr.pre_indices())


def test_fixed_prob_is_uniform_over_positions():
    # Neighbours of the skipped diagonal, the first and last columns and row starts are hit
    # with probability p like any other pair (no edge effects of the skipping).
    n, p = 3000, 0.3
    d = conn.FixedProb(p, seed=1)(n, n).to_dense()
    sd = np.sqrt((n - 1) * p * (1 - p))
    i = np.arange(n - 1)
    for hits in (d[i, i + 1], d[i + 1, i], d[:, 0][1:], d[:, -1][:-1], d[0, 1:], d[-1, :-1]):
        assert abs(hits.sum() - (n - 1) * p) < Z * sd
    # every column of a rectangular block: chi-square of the column counts
    d = conn.FixedProb(0.1, seed=2)(2000, 500).to_dense()
    counts = d.sum(axis=0)
    chi2 = np.sum((counts - 200.0) ** 2 / (2000 * 0.1 * 0.9))
    assert abs(chi2 - 500) < Z * np.sqrt(2 * 500)


def test_fixed_prob_extremes_and_self():
    assert conn.FixedProb(0.0)(50, 40).nnz == 0
    full = conn.FixedProb(1.0)(30, 20).to_dense()
    assert full.all()
    no_self = conn.FixedProb(1.0)(30, 30).to_dense()
    assert np.array_equal(no_self, ~np.eye(30, dtype=bool))
    assert conn.FixedProb(1.0, allow_self=True)(30, 30).to_dense().all()
    # allow_self only matters for square (recurrent) projections
    assert np.diag(conn.FixedProb(0.9, allow_self=False)(40, 41).to_dense()).sum() > 20
    assert_valid(conn.FixedProb(0.5)(1, 1), (1, 1))
    sparse = conn.FixedProb(1e-9, seed=1)(200_000, 300_000)  # 60 expected, work ~ synapses
    assert_valid(sparse, (200_000, 300_000))
    assert abs(sparse.nnz - 60) < Z * np.sqrt(60)


# --- FixedPreNum / FixedPostNum -------------------------------------------------------------


@pytest.mark.parametrize("n_pre,n_post,n", [(500, 300, 20), (400, 400, 20), (50, 40, 45)])
def test_fixed_pre_num_exact_in_degrees(n_pre, n_post, n):
    csr = conn.FixedPreNum(n, seed=4)(n_pre, n_post)
    assert_valid(csr, (n_pre, n_post))
    out_deg, in_deg = degrees(csr)
    assert np.all(in_deg == n) and csr.nnz == n * n_post
    square = n_pre == n_post
    if square:
        assert not np.any(csr.indices == csr.pre_indices())
    # each post neuron picks any given pre neuron with probability n / available
    assert_binomial(out_deg, n_post - square, n / (n_pre - square))


@pytest.mark.parametrize("n_pre,n_post,n", [(300, 500, 20), (400, 400, 20), (40, 50, 45)])
def test_fixed_post_num_exact_out_degrees(n_pre, n_post, n):
    csr = conn.FixedPostNum(n, seed=4)(n_pre, n_post)
    assert_valid(csr, (n_pre, n_post))
    out_deg, in_deg = degrees(csr)
    assert np.all(out_deg == n) and csr.nnz == n * n_pre
    square = n_pre == n_post
    if square:
        assert not np.any(csr.indices == csr.pre_indices())
    assert_binomial(in_deg, n_pre - square, n / (n_post - square))


def test_fixed_num_blocks_limits_and_self(monkeypatch):
    monkeypatch.setattr(_fixed_num, "_BLOCK_SYNAPSES", 100)
    monkeypatch.setattr(_fixed_num, "_BLOCK_DENSE", 100)
    for n in (0, 1, 10, 29, 30):  # sparse, complement (dense) and full paths
        for builder in (conn.FixedPreNum, conn.FixedPostNum):
            csr = builder(n, seed=1)(31, 31)
            assert_valid(csr, (31, 31))
            d = csr.to_dense()
            assert np.all(d.sum(axis=0 if builder is conn.FixedPreNum else 1) == n)
            assert not np.diag(d).any()
    full = conn.FixedPostNum(31, allow_self=True)(31, 31).to_dense()
    assert full.all()
    # probability a given pair is picked: n / 30 for every off-diagonal pair
    counts = sum(conn.FixedPreNum(10, seed=s)(31, 31).to_dense() for s in range(60))
    off = counts[~np.eye(31, dtype=bool)]
    assert abs(off.mean() - 60 * 10 / 30) < 1e-9  # exact: every column has 10 of 30
    chi2 = np.sum((off - 20.0) ** 2 / (60 * (1 / 3) * (2 / 3)))
    assert chi2 < off.size + Z * np.sqrt(2 * off.size)


def test_fixed_num_too_many_raises():
    with pytest.raises(ValueError, match=r"FixedPreNum\(n=40\).*only 30 are available"):
        conn.FixedPreNum(40)(30, 10)
    with pytest.raises(ValueError, match=r"FixedPostNum\(n=30\).*only 29 are available"):
        conn.FixedPostNum(30)(30, 30)
    assert conn.FixedPostNum(30, allow_self=True)(30, 30).nnz == 900


# --- OneToOne / AllToAll --------------------------------------------------------------------


def test_one_to_one_and_all_to_all():
    eye = conn.OneToOne()(7, 7)
    assert_valid(eye, (7, 7))
    assert np.array_equal(eye.to_dense(), np.eye(7, dtype=bool))
    with pytest.raises(ValueError, match="n_pre == n_post"):
        conn.OneToOne()(7, 8)
    full = conn.AllToAll()(6, 6)
    assert_valid(full, (6, 6))
    assert full.to_dense().all()
    no_self = conn.AllToAll(allow_self=False)(6, 6)
    assert_valid(no_self, (6, 6))
    assert np.array_equal(no_self.to_dense(), ~np.eye(6, dtype=bool))
    assert conn.AllToAll(allow_self=False)(3, 5).to_dense().all()


# --- GaussianProb ---------------------------------------------------------------------------


def grid_distance2(shape, periodic):
    """Squared Euclidean distance between all pairs of grid points, (n, n)."""
    pos = np.stack(np.unravel_index(np.arange(int(np.prod(shape))), shape), axis=1)
    delta = np.abs(pos[:, None, :] - pos[None, :, :])
    if periodic:
        delta = np.minimum(delta, np.array(shape) - delta)
    return np.sum(delta**2, axis=-1)


@pytest.mark.parametrize(
    "shape,sigma,periodic", [((40, 40), 3.0, False), ((40, 40), 3.0, True), ((600,), 20.0, True)]
)
def test_gaussian_probability_matches_profile(shape, sigma, periodic):
    n = int(np.prod(shape))
    csr = conn.GaussianProb(sigma, shape, periodic=periodic, seed=5)(n, n)
    assert_valid(csr, (n, n))
    d = csr.to_dense()
    assert not np.diag(d).any()
    d2 = grid_distance2(shape, periodic)
    off = ~np.eye(n, dtype=bool)
    r2, which = np.unique(d2[off], return_inverse=True)
    pairs = np.bincount(which)  # hits at each distance ~ Binomial(pairs, exp(-r2 / 2 s^2))
    hits = np.bincount(which, weights=d[off])
    p = np.exp(-r2 / (2 * sigma**2))
    var = pairs * p * (1 - p)
    common = var >= 10  # else too few expected hits for a normal approximation: pool them
    assert np.all(np.abs(hits - pairs * p)[common] < Z * np.sqrt(var[common]))
    rare_hits, rare_mean, rare_var = (
        hits[~common].sum(),
        (pairs * p)[~common].sum(),
        var[~common].sum(),
    )
    assert abs(rare_hits - rare_mean) < Z * np.sqrt(rare_var) + 2
    if periodic:  # translation invariant: every neuron has the same expected degree
        deg = d.sum(axis=1)
        expected = np.exp(-d2[0][1:] / (2 * sigma**2))
        assert abs(deg.mean() - expected.sum()) < Z * np.sqrt(np.sum(expected * (1 - expected)))


def test_gaussian_periodic_wrap_is_symmetric():
    # On a ring of 60 with sigma 4, neuron 0 reaches 59, 58, ... as often as 1, 2, ...
    shape, sigma = (60,), 4.0
    counts = sum(
        conn.GaussianProb(sigma, shape, periodic=True, seed=s)(60, 60).to_dense() for s in range(20)
    )
    pos = np.arange(60)
    offset = (pos[None, :] - pos[:, None]) % 60  # j - i wrapped to [0, 60)
    forward = np.array([counts[offset == k].sum() for k in range(1, 30)])
    backward = np.array([counts[offset == 60 - k].sum() for k in range(1, 30)])
    trials = 20 * 60
    p = np.exp(-(np.arange(1, 30) ** 2) / (2 * sigma**2))
    sd = np.sqrt(2 * trials * p * (1 - p))
    assert np.all(np.abs(forward - backward) < Z * sd + 2)  # + 2: rare hits at tiny p
    assert forward[0] > 0.8 * trials and forward[-1] == backward[-1] == 0
    # without wrapping the end neurons reach about half as many partners as the middle ones
    deg = sum(np.diff(conn.GaussianProb(sigma, shape, seed=s)(60, 60).indptr) for s in range(20))
    assert deg[[0, -1]].mean() < 0.7 * deg[[29, 30]].mean()


def test_gaussian_extremes_and_errors():
    wide = conn.GaussianProb(1e6, (5, 4), allow_self=True)(20, 20)
    assert wide.to_dense().all()
    narrow = conn.GaussianProb(0.05, (30,))(30, 30)  # exp(-200) per neighbour
    assert narrow.nnz == 0
    with pytest.raises(ValueError, match=r"prod\(shape\) = 20; got n_pre=20, n_post=21"):
        conn.GaussianProb(1.0, (5, 4))(20, 21)
    with pytest.raises(ValueError, match=r"GaussianProb\(sigma=0.0\)"):
        conn.GaussianProb(0.0, (5,))
    with pytest.raises(ValueError, match=r"GaussianProb\(shape=\(5, 0\)\)"):
        conn.GaussianProb(1.0, (5, 0))


# --- SmallWorld -----------------------------------------------------------------------------


def clustering(d):
    """Mean local clustering coefficient of an undirected graph (dense bool adjacency)."""
    a = d.astype(float)
    deg = a.sum(axis=1)
    triangles2 = np.einsum("ij,jk,ki->i", a, a, a)  # 2 x triangles through i
    return np.mean(triangles2 / (deg * (deg - 1)))


def test_small_world_lattice_and_rewiring():
    n, k = 60, 6
    lattice = conn.SmallWorld(k, 0.0)(n, n)
    assert_valid(lattice, (n, n))
    d = lattice.to_dense()
    pos = np.arange(n)
    ring = (pos[:, None] - pos[None, :]) % n
    assert np.array_equal(d, (np.minimum(ring, n - ring) <= k // 2) & (ring != 0))
    assert clustering(d) == pytest.approx(3 * (k - 2) / (4 * (k - 1)), abs=1e-12)
    c = []
    for p in (0.1, 1.0):
        g = conn.SmallWorld(k, p, seed=2)(n, n)
        assert_valid(g, (n, n))
        dg = g.to_dense()
        assert np.array_equal(dg, dg.T) and not np.diag(dg).any()
        assert g.nnz == n * k  # degree sum conserved: n k / 2 edges, both directions
        c.append(clustering(dg))
    assert 0.6 > c[0] > c[1]
    assert c[1] < 0.25  # random graph: about k / n = 0.1


def test_small_world_dense_and_errors():
    g = conn.SmallWorld(8, 1.0, seed=3)(9, 9)  # k = n - 1: complete graph, nothing to rewire
    assert np.array_equal(g.to_dense(), ~np.eye(9, dtype=bool))
    with pytest.raises(ValueError, match=r"SmallWorld\(k=3\): k must be a positive even"):
        conn.SmallWorld(3, 0.1)
    with pytest.raises(ValueError, match=r"k must be smaller than the number of nodes n=10"):
        conn.SmallWorld(10, 0.1)(10, 10)
    with pytest.raises(ValueError, match=r"SmallWorld\(p_rewire=1.5\)"):
        conn.SmallWorld(4, 1.5)
    with pytest.raises(ValueError, match="n_pre == n_post"):
        conn.SmallWorld(4, 0.1)(10, 12)


# --- ScaleFree ------------------------------------------------------------------------------


def test_scale_free_degrees_are_heavy_tailed():
    n, m = 20000, 3
    g = conn.ScaleFree(m, seed=1)(n, n)
    assert_valid(g, (n, n))
    pre, post = g.pre_indices().astype(np.int64), g.indices.astype(np.int64)
    assert np.array_equal(np.sort(pre * n + post), np.sort(post * n + pre))  # undirected
    deg = np.diff(g.indptr)
    assert not np.any(g.indices == g.pre_indices())
    assert g.nnz == 2 * m * (n - m)  # mean degree 2 m (n - m) / n
    assert deg.min() >= m and deg.max() > 20 * deg.mean()
    # P(k) ~ k^-3: slope of the log-binned density between k = 10 and 200
    edges = np.unique(np.geomspace(10, 200, 9).astype(int))
    hist, _ = np.histogram(deg, edges)
    density = hist / np.diff(edges)
    centers = np.sqrt(edges[:-1] * edges[1:])
    slope = np.polyfit(np.log(centers), np.log(density), 1)[0]
    assert -3.6 < slope < -2.4


# --- common ---------------------------------------------------------------------------------

BUILDERS = [
    lambda s: conn.FixedProb(0.1, seed=s),
    lambda s: conn.FixedPreNum(5, seed=s),
    lambda s: conn.FixedPostNum(5, seed=s),
    lambda s: conn.GaussianProb(2.0, (8, 5), seed=s),
    lambda s: conn.GaussianProb(2.0, (40,), periodic=True, allow_self=True, seed=s),
    lambda s: conn.SmallWorld(4, 0.3, seed=s),
    lambda s: conn.ScaleFree(2, seed=s),
]


@pytest.mark.parametrize("make", BUILDERS)
def test_reproducible_by_seed(make):
    a, b, c = make(1)(40, 40), make(1)(40, 40), make(2)(40, 40)
    assert_valid(a, (40, 40))
    assert isinstance(make(1), conn.Builder)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert not (a.nnz == c.nnz and np.array_equal(a.indices, c.indices))
    assert a.shape == (40, 40)
    assert make(np.int64(1))(np.int64(40), 40).nnz == a.nnz


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: conn.FixedProb(1.5), r"FixedProb\(p=1.5\): p must be a probability in \[0, 1\]"),
        (lambda: conn.FixedProb(-0.1), r"FixedProb\(p=-0.1\)"),
        (lambda: conn.FixedProb(float("nan")), r"FixedProb\(p=nan\)"),
        (lambda: conn.FixedProb(0.1, seed=-1), r"FixedProb\(seed=-1\)"),
        (lambda: conn.FixedProb(0.1)(0, 5), r"n_pre=0\): n_pre must be a positive integer"),
        (lambda: conn.FixedProb(0.1)(5, -2), r"n_post=-2"),
        (lambda: conn.FixedPreNum(-1), r"FixedPreNum\(n=-1\): n must be a non-negative"),
        (lambda: conn.FixedPostNum(-3), r"FixedPostNum\(n=-3\)"),
        (lambda: conn.GaussianProb(-1.0, (4,)), r"GaussianProb\(sigma=-1.0\)"),
        (lambda: conn.ScaleFree(0), r"ScaleFree\(m=0\): m must be a positive integer"),
        (lambda: conn.ScaleFree(5)(5, 5), r"m must be smaller than the number of nodes n=5"),
    ],
)
def test_bad_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.slow
def test_four_million_neurons_with_80_synapses_each():
    n, k = 4_000_000, 80
    for builder in (conn.FixedProb(k / n), conn.FixedPreNum(k), conn.FixedPostNum(k)):
        csr = builder(n, n)
        out_deg, in_deg = degrees(csr)
        assert abs(csr.nnz - n * k) < Z * np.sqrt(n * k)
        assert abs(out_deg.mean() - k) < 0.01 and abs(in_deg.mean() - k) < 0.01
        if isinstance(builder, conn.FixedPreNum):
            assert np.all(in_deg == k)
        if isinstance(builder, conn.FixedPostNum):
            assert np.all(out_deg == k)
        assert csr.indices.min() >= 0 and csr.indices.max() < n
        del csr, out_deg, in_deg
