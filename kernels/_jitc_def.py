"""The definition of just-in-time (JIT) connectivity, bit for bit.

A JIT matrix M of shape (n_pre, n_post) is a pure function of (seed, prob, shape) and is never
stored: every operator regenerates the rows it needs. Every implementation (this XLA reference,
the native CPU kernel, the Pallas kernel) must produce exactly the synapses defined here; the
steps below use only 32-bit integer arithmetic, one table lookup, one int -> float32 conversion
and one float32 multiplication, all exactly specified by IEEE 754, so they agree on every device.
All integers are uint32 with wrap-around unless stated.

1. Seed. `s = seed mod 2**32` (Python ints and integer arrays alike; negative int32 seeds wrap
   as two's complement).

2. Hash. `mix` is Wellons' lowbias32 finaliser (hash-prospector, 2022 constants):

       h ^= h >> 16; h *= 0x21F0AAAD; h ^= h >> 15; h *= 0x735A2D97; h ^= h >> 15

   For row i (0 <= i < n_pre), draw k (0, 1, 2, ...) and stream c (0: structure, 1 and 2:
   weights):

       key_i      = mix(mix(s ^ 0x243F6A88) ^ i)
       H(i, k, c) = mix(mix(key_i ^ (4 k + c)) ^ i)

3. Geometric skip of draw k of row i, from h = H(i, k, 0). With v = (h >> 1) + 1 in [1, 2**31]
   (u = v / 2**31 in (0, 1]):

       e  = 31 - clz(v)                        # floor(log2 v), 0..31
       f  = (v << (31 - e)) & 0x7FFFFFFF       # fraction of v / 2**e - 1, 31 bits
       t  = f >> 19;  r = (f >> 8) & 0x7FF     # 12-bit table index, 11-bit interpolant
       lg = T[t] + (((T[t + 1] - T[t]) * r) >> 11)
       L  = ((31 - e) << 24) - lg              # int32 in [0, 31 * 2**24]: 2**24 (-log2 u)
       S  = floor(min(float32(L) * K, float32(n_post)))   # int32; S = n_post when prob = 0

   with the table T[t] = round(2**24 log2(1 + t / 4096)), t = 0..4096 (int32, T[4096] = 2**24;
   no entry lies near a rounding tie, so any float64 log2 reproduces it) and the rate constant
   K = float32(2**-24 ln(2) / -ln(1 - prob)), evaluated in float64 from a concrete prob (K = 0
   for prob = 1; prob = 0 has no synapses). For a traced prob, K is evaluated in float32 on the
   device; it may then differ in its last bit between platforms. Up to the fixed-point log
   (error < 1e-7), S = floor(ln(u) / ln(1 - prob)), a geometric number of skipped columns.

4. Row i's synapses are the columns j_0 < j_1 < ... below n_post of

       j_{-1} = -1,   j_k = j_{k-1} + 1 + S(i, k),

   generated until the first j_k >= n_post (rows are never truncated). Each column is thus
   present independently with probability prob; row degrees are Binomial(n_post, prob).

5. Weight of the synapse made by draw k of row i, with a_c = H(i, k, c) >> 8 (24 bits):
   - a scalar weight w: every synapse has w;
   - `Uniform(low, high)`: w = low + (high - low) * (a_1 * 2**-24), uniform in [low, high);
   - `Normal(mean, std)`: Box-Muller, w = mean + std * sqrt(-2 ln u_1) cos(2 pi u_2) with
     u_1 = (a_1 + 1) * 2**-24 in (0, 1] and u_2 = a_2 * 2**-24, z evaluated in float32 (its
     log, sqrt and cos may differ by a few ulp between platforms; the structure never does).

The orientation follows the rest of the kernels: transpose=True is pre -> post delivery,
y_j = sum_i x_i M_ij w_ij; transpose=False is y_i = sum_j M_ij w_ij x_j, the exact transpose.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._common import as_float, concrete

_M1 = np.uint32(0x21F0AAAD)
_M2 = np.uint32(0x735A2D97)
SEED_SALT = np.uint32(0x243F6A88)
LOG2_TABLE_BITS = 12
LOG2_TABLE = np.round(
    np.log2(1.0 + np.arange(2**LOG2_TABLE_BITS + 1) / 2**LOG2_TABLE_BITS) * 2**24
).astype(np.int32)
MAX_N_POST = 2**29  # keeps 4 k + c and the chunked column sums inside 32 bits


def mix32(h):
    h = h ^ (h >> 16)
    h = h * _M1
    h = h ^ (h >> 15)
    h = h * _M2
    return h ^ (h >> 15)


def row_key(seed, row):
    """key_i for uint32 `seed` and uint32 `row` (arrays broadcast)."""
    return mix32(mix32(seed ^ SEED_SALT) ^ row)


def draw_hash(key, row, k, stream: int):
    """H(i, k, c) from key_i, the uint32 row i and the uint32 draw k."""
    return mix32(mix32(key ^ (k * np.uint32(4) + np.uint32(stream))) ^ row)


def neg_log2_fixed(h):
    """L = 2**24 (-log2 u) for u = ((h >> 1) + 1) / 2**31, int32, exactly as in step 3."""
    v = (h >> 1) + np.uint32(1)
    e = np.uint32(31) - jax.lax.clz(v)
    f = (v << (np.uint32(31) - e)) & np.uint32(0x7FFFFFFF)
    t = (f >> 19).astype(jnp.int32)
    r = ((f >> 8) & np.uint32(0x7FF)).astype(jnp.int32)
    table = jnp.asarray(LOG2_TABLE)
    lo, hi = table[t], table[t + 1]
    lg = lo + (((hi - lo) * r) >> 11)
    return ((np.int32(31) - e.astype(jnp.int32)) << 24) - lg


def geometric_skip(h, K, n_post: int):
    """S(i, k) of step 3 from h = H(i, k, 0) and the float32 rate constant K."""
    x = neg_log2_fixed(h).astype(jnp.float32) * K
    x = jnp.where(jnp.isinf(K), np.float32(n_post), jnp.minimum(x, np.float32(n_post)))
    return jnp.floor(x).astype(jnp.int32)


def unit_uniform(h):
    """a * 2**-24 in [0, 1) for a = h >> 8, float32 and exact."""
    return (h >> 8).astype(jnp.float32) * np.float32(2**-24)


def unit_normal(h1, h2):
    """Box-Muller z (float32) from H(i, k, 1) and H(i, k, 2)."""
    u1 = ((h1 >> 8) + np.uint32(1)).astype(jnp.float32) * np.float32(2**-24)
    u2 = unit_uniform(h2)
    return jnp.sqrt(np.float32(-2.0) * jnp.log(u1)) * jnp.cos(np.float32(2 * np.pi) * u2)


def rate_constant(fn: str, prob) -> tuple[Array, float | None]:
    """K of step 3 as a float32 array, and prob as a Python float when it is concrete."""
    p = concrete(prob)
    if p is not None:
        if p.shape != () or not np.issubdtype(p.dtype, np.number) or p.dtype == bool:
            raise ValueError(f"{fn}(prob={prob!r}): prob must be a scalar probability.")
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{fn}(prob={p}): prob must be a probability in [0, 1].")
        if p == 0.0:
            K = np.float32(np.inf)
        elif p == 1.0:
            K = np.float32(0.0)
        else:
            K = np.float32(2.0**-24 * math.log(2.0) / -math.log1p(-p))
        return jnp.asarray(K), p
    prob = jnp.asarray(prob, jnp.float32)
    if prob.shape != ():
        raise ValueError(f"{fn}: prob of shape {prob.shape}; expected a scalar probability.")
    q = jnp.where((prob > 0) & (prob < 1), prob, np.float32(0.5))  # finite untaken branches
    K = np.float32(2.0**-24 * math.log(2.0)) / -jnp.log1p(-q)
    K = jnp.where(prob <= 0, np.float32(np.inf), jnp.where(prob >= 1, np.float32(0.0), K))
    return K.astype(jnp.float32), None


def as_seed(fn: str, seed) -> Array:
    """seed mod 2**32 as a uint32 scalar array (traced seeds are cast the same way)."""
    if isinstance(seed, bool) or seed is None:
        raise ValueError(f"{fn}(seed={seed!r}): seed must be an integer or an integer array.")
    if isinstance(seed, int):
        return jnp.asarray(np.uint32(seed & 0xFFFFFFFF))
    s = concrete(seed)
    arr = s if s is not None else seed
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.shape != ():
        raise ValueError(
            f"{fn}(seed={seed!r}): seed must be a Python int or an integer array of shape (); "
            f"got dtype {arr.dtype} and shape {arr.shape}."
        )
    if s is not None:
        return jnp.asarray(s.astype(np.uint32))
    return seed.astype(jnp.uint32)


class Normal(eqx.Module):
    """Normally distributed JIT weights: w = mean + std * z, z ~ N(0, 1) by Box-Muller.

    `mean` and `std` are in the unit of the synaptic variable (like a scalar weight) and are
    trainable; the z of each synapse is fixed by (seed, row, draw).
    """

    mean: Float[Array, ""]
    std: Float[Array, ""]

    def __init__(self, mean: ArrayLike, std: ArrayLike):
        self.mean = _scalar("Normal", "mean", mean)
        self.std = _scalar("Normal", "std", std)
        v = concrete(self.std)
        if v is not None and not v >= 0:
            raise ValueError(f"Normal(std={v}): std must be non-negative.")


class Uniform(eqx.Module):
    """Uniformly distributed JIT weights in [low, high).

    `low` and `high` are in the unit of the synaptic variable and are trainable; the uniform
    variate of each synapse is fixed by (seed, row, draw).
    """

    low: Float[Array, ""]
    high: Float[Array, ""]

    def __init__(self, low: ArrayLike, high: ArrayLike):
        self.low = _scalar("Uniform", "low", low)
        self.high = _scalar("Uniform", "high", high)
        lo, hi = concrete(self.low), concrete(self.high)
        if lo is not None and hi is not None and not lo <= hi:
            raise ValueError(f"Uniform(low={lo}, high={hi}): low must not exceed high.")


def _scalar(owner: str, name: str, value) -> Array:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{owner}({name}={value!r}): {name} must be a number.")
    arr = as_float(value)
    if arr.shape != ():
        raise ValueError(f"{owner}({name}): shape {arr.shape}; {name} must be a scalar.")
    return arr
