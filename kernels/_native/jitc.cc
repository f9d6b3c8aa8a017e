// Just-in-time connectivity products, bit for bit the definition of kernels/_jitc_def.py:
// integer hash, fixed-point log geometric skipping, weight streams. M (n_pre, n_post) with
// weights w_ij (kind 0: the scalar coefs[0]; 1: Normal(coefs[0], coefs[1]) by Box-Muller;
// 2: Uniform(coefs[0], coefs[1])).
//   transpose=true:  y[b, j] = sum_i x[b, i] M_ij w_ij  (event: only rows with some x != 0)
//   transpose=false: y[b, i] = sum_j M_ij w_ij x[b, j]
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "common.h"

namespace neurotree {
namespace {

constexpr uint32_t kSeedSalt = 0x243F6A88u;
constexpr int kScalar = 0, kNormal = 1, kUniform = 2;

inline uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x21F0AAADu;
  h ^= h >> 15;
  h *= 0x735A2D97u;
  return h ^ (h >> 15);
}

// T[t] = round(2**24 log2(1 + t / 4096)), t = 0..4096.
const std::array<int32_t, 4097>& log2_table() {
  static const std::array<int32_t, 4097> table = [] {
    std::array<int32_t, 4097> t{};
    for (int i = 0; i <= 4096; ++i)
      t[i] = static_cast<int32_t>(std::nearbyint(std::log2(1.0 + i / 4096.0) * 16777216.0));
    return t;
  }();
  return table;
}

// L = 2**24 (-log2 u) for u = ((h >> 1) + 1) / 2**31.
inline int32_t neg_log2_fixed(uint32_t h, const int32_t* table) {
  const uint32_t v = (h >> 1) + 1u;
  const int e = 31 - __builtin_clz(v);
  const uint32_t f = (v << (31 - e)) & 0x7FFFFFFFu;
  const int32_t t = static_cast<int32_t>(f >> 19);
  const int32_t r = static_cast<int32_t>((f >> 8) & 0x7FFu);
  const int32_t lo = table[t], hi = table[t + 1];
  const int32_t lg = lo + (((hi - lo) * r) >> 11);
  return ((31 - e) << 24) - lg;
}

struct Rows {
  uint32_t seed_mix;  // mix(s ^ salt)
  float K;
  int64_t n_post;
  const int32_t* table;

  uint32_t key(uint32_t i) const { return mix32(seed_mix ^ i); }
  static uint32_t hash(uint32_t key, uint32_t i, uint32_t k, uint32_t c) {
    return mix32(mix32(key ^ (k * 4u + c)) ^ i);
  }
  int64_t skip(uint32_t h) const {
    const float limit = static_cast<float>(n_post);
    if (std::isinf(K)) return static_cast<int64_t>(limit);
    const float s = static_cast<float>(neg_log2_fixed(h, table)) * K;
    return static_cast<int64_t>(std::floor(std::min(s, limit)));
  }
  // Calls f(j, k) for the column j made by draw k of row i, in increasing order.
  template <typename F>
  void for_each(uint32_t i, uint32_t key_i, F&& f) const {
    int64_t j = -1;
    for (uint32_t k = 0;; ++k) {
      j += 1 + skip(hash(key_i, i, k, 0));
      if (j >= n_post) return;
      f(j, k);
    }
  }
};

template <typename T>
struct Weight {
  int kind;
  T c0, c1;
  T operator()(uint32_t key, uint32_t i, uint32_t k) const {
    if (kind == kNormal) {
      const uint32_t h1 = Rows::hash(key, i, k, 1), h2 = Rows::hash(key, i, k, 2);
      const float u1 = static_cast<float>((h1 >> 8) + 1u) * 0x1p-24f;
      const float u2 = static_cast<float>(h2 >> 8) * 0x1p-24f;
      const float z = std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831855f * u2);
      return c0 + c1 * static_cast<T>(z);
    }
    if (kind == kUniform) {
      const float u = static_cast<float>(Rows::hash(key, i, k, 1) >> 8) * 0x1p-24f;
      return c0 + (c1 - c0) * static_cast<T>(u);
    }
    return T(1);  // scalar: applied once to the sums
  }
};

template <typename T>
void scatter(const Rows& m, const Weight<T>& w, const T* x, int64_t batch, int64_t n_pre, T* y,
             bool event) {
  const int64_t n_post = m.n_post;
  std::fill(y, y + batch * n_post, T(0));
  for (int64_t i = 0; i < n_pre; ++i) {
    if (event) {
      bool any = false;
      for (int64_t b = 0; b < batch; ++b) any |= x[b * n_pre + i] != T(0);
      if (!any) continue;
    }
    const uint32_t iu = static_cast<uint32_t>(i), key = m.key(iu);
    m.for_each(iu, key, [&](int64_t j, uint32_t k) {
      const T wk = w(key, iu, k);
      for (int64_t b = 0; b < batch; ++b) y[b * n_post + j] += x[b * n_pre + i] * wk;
    });
  }
  if (w.kind == kScalar)
    for (int64_t s = 0; s < batch * n_post; ++s) y[s] *= w.c0;
}

template <typename T>
void gather(const Rows& m, const Weight<T>& w, const T* x, int64_t batch, int64_t n_pre, T* y) {
  const int64_t n_post = m.n_post;
  std::vector<T> acc(batch);
  for (int64_t i = 0; i < n_pre; ++i) {
    std::fill(acc.begin(), acc.end(), T(0));
    const uint32_t iu = static_cast<uint32_t>(i), key = m.key(iu);
    m.for_each(iu, key, [&](int64_t j, uint32_t k) {
      const T wk = w(key, iu, k);
      for (int64_t b = 0; b < batch; ++b) acc[b] += x[b * n_post + j] * wk;
    });
    for (int64_t b = 0; b < batch; ++b)
      y[b * n_pre + i] = w.kind == kScalar ? acc[b] * w.c0 : acc[b];
  }
}

template <typename T>
void run(ffi::AnyBuffer x, ffi::AnyBuffer coefs, uint32_t seed, float K, ffi::AnyBuffer& y,
         bool transpose, bool event, int kind) {
  const Shape2 xs = as_matrix(x), ys = as_matrix(y);
  const T* c = coefs.typed_data<T>();
  const Weight<T> w{kind, c[0], coefs.element_count() > 1 ? c[1] : T(0)};
  const int64_t n_pre = transpose ? xs.cols : ys.cols, n_post = transpose ? ys.cols : xs.cols;
  const Rows m{mix32(seed ^ kSeedSalt), K, n_post, log2_table().data()};
  if (transpose) {
    scatter(m, w, x.typed_data<T>(), xs.rows, n_pre, y.typed_data<T>(), event);
  } else {
    gather(m, w, x.typed_data<T>(), xs.rows, n_pre, y.typed_data<T>());
  }
}

ffi::Error jitc_matvec(ffi::AnyBuffer x, ffi::AnyBuffer coefs, ffi::Buffer<ffi::U32> seed,
                       ffi::Buffer<ffi::F32> K, ffi::Result<ffi::AnyBuffer> y, bool transpose,
                       bool event, int32_t kind) {
  const char* op = "neurotree_jitc_matvec";
  if (auto e = check_float(op, x.element_type()); e.failure()) return e;
  if (auto e = check_same(op, "coefs", coefs.element_type(), x.element_type()); e.failure())
    return e;
  const size_t n_coefs = kind == kScalar ? 1 : 2;
  if (kind < kScalar || kind > kUniform || coefs.element_count() != n_coefs)
    return ffi::Error::InvalidArgument("neurotree_jitc_matvec: bad kind or coefs");
  if (as_matrix(x).rows != as_matrix(*y).rows)
    return ffi::Error::InvalidArgument("neurotree_jitc_matvec: x and y batch sizes differ");
  const uint32_t s = seed.typed_data()[0];
  const float k = K.typed_data()[0];
  if (x.element_type() == ffi::DataType::F32) {
    run<float>(x, coefs, s, k, *y, transpose, event, kind);
  } else {
    run<double>(x, coefs, s, k, *y, transpose, event, kind);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace neurotree

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurotreeJitcMatvec, neurotree::jitc_matvec,
                              xla::ffi::Ffi::Bind()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::U32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<bool>("transpose")
                                  .Attr<bool>("event")
                                  .Attr<int32_t>("kind"));
