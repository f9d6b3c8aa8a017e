// Dense products with W (n_pre, n_post), x (B, n_pre):
//   dense_matvec: y[b, j] = sum_i x[b, i] W[i, j]
//   dense_outer:  g[i, j] = sum_b x[b, i] ct[b, j]        (the weight gradient x^T ct)
// With event, the entries x[b, i] = 0 are skipped: each row of x is first compacted into the
// list of its non-zero columns (NaN counts as non-zero, -0 as zero), then only those rows of W
// (or of g) are touched, up to 12 SIMD registers of columns at a time. Rows of x are split over XLA's
// intra-op threads; dense_outer gives each of a fixed number of row chunks its own partial g
// and adds them in chunk order, so the result does not depend on which thread ran what.
#include <algorithm>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "common.h"
#include "parallel.h"

namespace neurotree {
namespace {

// 32-byte SIMD vectors (AVX; two SSE/NEON registers elsewhere) and 16-byte half vectors.
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(32)));
  typedef T half __attribute__((vector_size(16)));
  static constexpr int kLanes = 32 / sizeof(T);
};

template <typename V, typename T>
inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V, typename T>
inline void store(T* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// For every byte m, the positions of its set bits, packed to the front.
struct BitPositions {
  int32_t at[256][8];
};

constexpr BitPositions make_bit_positions() {
  BitPositions p{};
  for (int m = 0; m < 256; ++m) {
    int k = 0;
    for (int b = 0; b < 8; ++b)
      if ((m >> b) & 1) p.at[m][k++] = b;
  }
  return p;
}

constexpr BitPositions kBitPositions = make_bit_positions();

// Writes the columns i < n with x[i] != 0 to idx (capacity n + 8), in increasing order; returns
// how many. Branch-free: 8 (float) or 4 (double) values per compare.
template <typename T>
int64_t compact(const T* x, int64_t n, int32_t* idx) {
  int64_t k = 0, i = 0;
#ifdef __AVX2__
  if constexpr (sizeof(T) == 4) {
    const __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
      const unsigned m =
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), zero, _CMP_NEQ_UQ));
      const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kBitPositions.at[m]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + k),
                          _mm256_add_epi32(at, _mm256_set1_epi32(static_cast<int32_t>(i))));
      k += __builtin_popcount(m);
    }
  } else {
    const __m256d zero = _mm256_setzero_pd();
    for (; i + 4 <= n; i += 4) {
      const unsigned m =
          _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(x + i), zero, _CMP_NEQ_UQ));
      const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kBitPositions.at[m]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + k),
                          _mm256_add_epi32(at, _mm256_set1_epi32(static_cast<int32_t>(i))));
      k += __builtin_popcount(m);
    }
  }
#endif
  for (; i < n; ++i) {
    idx[k] = static_cast<int32_t>(i);
    k += x[i] != T(0);
  }
  return k;
}

// All columns: the non-event product.
inline int64_t all_columns(int64_t n, int32_t* idx) {
  for (int64_t i = 0; i < n; ++i) idx[i] = static_cast<int32_t>(i);
  return n;
}

// y[c0 : c0 + NV vectors (+ a half vector if H)] = sum_s x(s) W[idx[s], c0 : ...], in
// increasing s.
template <typename T, int NV, bool H, typename A>
inline void gather_block(const int32_t* idx, int64_t k, const A& x, const T* w, int64_t n_post,
                         int64_t c0, T* y) {
  using V = typename Vec<T>::type;
  using Half = typename Vec<T>::half;
  constexpr int L = Vec<T>::kLanes;
  V acc[NV > 0 ? NV : 1];
  Half tail{};
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) acc[v] = V{};
  for (int64_t s = 0; s < k; ++s) {
    const T a = x(s);
    const T* row = w + static_cast<int64_t>(idx[s]) * n_post + c0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] += a * load<V>(row + v * L);
    if constexpr (H) tail += a * load<Half>(row + NV * L);
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) store(y + c0 + v * L, acc[v]);
  if constexpr (H) store(y + c0 + NV * L, tail);
}

// g[idx[s], c0 : c0 + NV vectors (+ a half vector if H)] += x[idx[s]] ct[c0 : ...] for every s.
template <typename T, int NV, bool H>
inline void scatter_block(const int32_t* idx, int64_t k, const T* x, const T* ct, int64_t n_post,
                          int64_t c0, T* g) {
  using V = typename Vec<T>::type;
  using Half = typename Vec<T>::half;
  constexpr int L = Vec<T>::kLanes;
  V c[NV > 0 ? NV : 1];
  Half tail{};
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) c[v] = load<V>(ct + c0 + v * L);
  if constexpr (H) tail = load<Half>(ct + c0 + NV * L);
  for (int64_t s = 0; s < k; ++s) {
    const T a = x[idx[s]];
    T* row = g + static_cast<int64_t>(idx[s]) * n_post + c0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) store(row + v * L, load<V>(row + v * L) + a * c[v]);
    if constexpr (H) store(row + NV * L, load<Half>(row + NV * L) + a * tail);
  }
}

constexpr int kMaxVectors = 12;

template <typename Block, bool H>
inline void last_block(int64_t n_vectors, int64_t c0, Block& block) {
  switch (n_vectors) {
    case 12: block.template run<12, H>(c0); break;
    case 11: block.template run<11, H>(c0); break;
    case 10: block.template run<10, H>(c0); break;
    case 9: block.template run<9, H>(c0); break;
    case 8: block.template run<8, H>(c0); break;
    case 7: block.template run<7, H>(c0); break;
    case 6: block.template run<6, H>(c0); break;
    case 5: block.template run<5, H>(c0); break;
    case 4: block.template run<4, H>(c0); break;
    case 3: block.template run<3, H>(c0); break;
    case 2: block.template run<2, H>(c0); break;
    case 1: block.template run<1, H>(c0); break;
    default:
      if constexpr (H) block.template run<0, H>(c0);
      break;
  }
}

// Calls block.run<NV, H>(c0) over the first columns of a row: blocks of kMaxVectors vectors,
// the last one with the half vector if there is room for one; returns the columns done.
template <typename T, typename Block>
inline int64_t vector_blocks(int64_t n_post, Block& block) {
  constexpr int L = Vec<T>::kLanes;
  int64_t n_vectors = n_post / L;
  const bool half = n_post % L >= L / 2;
  int64_t c0 = 0;
  for (; n_vectors > kMaxVectors; n_vectors -= kMaxVectors, c0 += kMaxVectors * L)
    block.template run<kMaxVectors, false>(c0);
  if (half) {
    last_block<Block, true>(n_vectors, c0, block);
  } else {
    last_block<Block, false>(n_vectors, c0, block);
  }
  return c0 + n_vectors * L + (half ? L / 2 : 0);
}

template <typename T, typename A>
struct Gather {
  const int32_t* idx;
  int64_t k;
  const A& x;
  const T* w;
  int64_t n_post;
  T* y;
  template <int NV, bool H>
  void run(int64_t c0) {
    gather_block<T, NV, H>(idx, k, x, w, n_post, c0, y);
  }
};

template <typename T>
struct Scatter {
  const int32_t* idx;
  int64_t k;
  const T* x;
  const T* ct;
  int64_t n_post;
  T* g;
  template <int NV, bool H>
  void run(int64_t c0) {
    scatter_block<T, NV, H>(idx, k, x, ct, n_post, c0, g);
  }
};

// y = sum_s x(s) W[idx[s], :], in increasing s.
template <typename T, typename A>
void gather_row(const int32_t* idx, int64_t k, const A& x, const T* w, int64_t n_post, T* y) {
  Gather<T, A> block{idx, k, x, w, n_post, y};
  for (int64_t j = vector_blocks<T>(n_post, block); j < n_post; ++j) {
    T acc = 0;
    for (int64_t s = 0; s < k; ++s) acc += x(s) * w[static_cast<int64_t>(idx[s]) * n_post + j];
    y[j] = acc;
  }
}

template <typename T>
void scatter_row(const int32_t* idx, int64_t k, const T* x, const T* ct, int64_t n_post, T* g) {
  Scatter<T> block{idx, k, x, ct, n_post, g};
  for (int64_t j = vector_blocks<T>(n_post, block); j < n_post; ++j)
    for (int64_t s = 0; s < k; ++s) g[static_cast<int64_t>(idx[s]) * n_post + j] += x[idx[s]] * ct[j];
}

// Rows [b0, b1) of x, compacted one at a time, with f(row, idx, k).
template <typename T, typename F>
void for_rows(const T* x, int64_t n_pre, int64_t b0, int64_t b1, bool event, F&& f) {
  std::vector<int32_t> idx(n_pre + 8);
  const int64_t all = event ? 0 : all_columns(n_pre, idx.data());
  for (int64_t b = b0; b < b1; ++b) {
    const T* xb = x + b * n_pre;
    f(b, idx.data(), event ? compact(xb, n_pre, idx.data()) : all);
  }
}

// Rows per chunk: at least `min_work` multiply-adds (at 10% spikes) per task, to pay for
// scheduling it, else the batch split into `parts`.
inline int64_t rows_per_chunk(int64_t batch, int64_t n_pre, int64_t n_post, int64_t parts,
                              int64_t min_work) {
  const int64_t per_row = std::max<int64_t>(1, n_pre * n_post / 10);
  return std::max((min_work + per_row - 1) / per_row, (batch + parts - 1) / parts);
}

template <typename T>
void matvec(xla::ffi::ThreadPool* pool, const T* x, int64_t batch, int64_t n_pre, const T* w,
            int64_t n_post, T* y, bool event) {
  const int64_t rows = rows_per_chunk(batch, n_pre, n_post, 4 * pool_threads(pool), 1 << 18);
  const int64_t n_chunks = (batch + rows - 1) / rows;
  parallel_chunks(pool, n_chunks, [&](int64_t c) {
    for_rows(x, n_pre, c * rows, std::min(batch, (c + 1) * rows), event,
             [&](int64_t b, const int32_t* idx, int64_t k) {
               const T* xb = x + b * n_pre;
               gather_row(idx, k, [&](int64_t s) { return xb[idx[s]]; }, w, n_post,
                          y + b * n_post);
             });
  });
}

// g[i, :] = sum over the rows b with x[b, i] != 0 (increasing b) of x[b, i] ct[b, :]: the
// events sorted by column, then each row of g accumulated in registers and written once (for
// batches whose ct stays in cache; half the memory traffic of updating g event by event).
template <typename T>
void outer_by_columns(const T* x, int64_t batch, int64_t n_pre, const T* ct, int64_t n_post,
                      T* g, bool event) {
  std::vector<int32_t> start(n_pre + 1, 0), rows, cols;
  std::vector<T> values;
  rows.reserve(batch * n_pre / 4 + 64);
  cols.reserve(batch * n_pre / 4 + 64);
  for_rows(x, n_pre, 0, batch, event, [&](int64_t b, const int32_t* idx, int64_t k) {
    for (int64_t s = 0; s < k; ++s) {
      rows.push_back(static_cast<int32_t>(b));
      cols.push_back(idx[s]);
      ++start[idx[s] + 1];
    }
  });
  for (int64_t i = 0; i < n_pre; ++i) start[i + 1] += start[i];
  std::vector<int32_t> next(start.begin(), start.end() - 1), by_col(rows.size());
  values.resize(rows.size());
  for (size_t e = 0; e < rows.size(); ++e) {
    const int32_t at = next[cols[e]]++;
    by_col[at] = rows[e];
    values[at] = x[static_cast<int64_t>(rows[e]) * n_pre + cols[e]];
  }
  for (int64_t i = 0; i < n_pre; ++i) {
    const int32_t* b = by_col.data() + start[i];
    const T* v = values.data() + start[i];
    gather_row(b, start[i + 1] - start[i], [v](int64_t s) { return v[s]; }, ct, n_post,
               g + i * n_post);
  }
}

template <typename T>
void outer(xla::ffi::ThreadPool* pool, const T* x, int64_t batch, int64_t n_pre, const T* ct,
           int64_t n_post, T* g, bool event) {
  // Each chunk beyond the first also zeroes and adds a partial g: worth it for large batches.
  const int64_t rows = rows_per_chunk(batch, n_pre, n_post, pool_threads(pool),
                                      std::max<int64_t>(1 << 18, 16 * n_pre * n_post));
  const int64_t n_chunks = std::max<int64_t>(1, (batch + rows - 1) / rows);
  const int64_t size = n_pre * n_post;
  if (n_chunks == 1 && batch * n_post * static_cast<int64_t>(sizeof(T)) <= (int64_t{1} << 18)) {
    outer_by_columns(x, batch, n_pre, ct, n_post, g, event);
    return;
  }
  std::vector<T> partial((n_chunks - 1) * size, T(0));
  std::fill(g, g + size, T(0));
  parallel_chunks(pool, n_chunks, [&](int64_t c) {
    T* gc = c == 0 ? g : partial.data() + (c - 1) * size;
    for_rows(x, n_pre, c * rows, std::min(batch, (c + 1) * rows), event,
             [&](int64_t b, const int32_t* idx, int64_t k) {
               scatter_row(idx, k, x + b * n_pre, ct + b * n_post, n_post, gc);
             });
  });
  for (int64_t c = 1; c < n_chunks; ++c) {
    const T* p = partial.data() + (c - 1) * size;
    for (int64_t s = 0; s < size; ++s) g[s] += p[s];
  }
}

ffi::Error dense_matvec(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer w,
                        ffi::Result<ffi::AnyBuffer> y, bool event) {
  const char* op = "neurotree_dense_matvec";
  if (auto e = check_float(op, x.element_type()); e.failure()) return e;
  if (auto e = check_same(op, "weights", w.element_type(), x.element_type()); e.failure())
    return e;
  const Shape2 xs = as_matrix(x), ws = as_matrix(w), ys = as_matrix(*y);
  if (w.dimensions().size() != 2 || xs.cols != ws.rows || ys.rows != xs.rows ||
      ys.cols != ws.cols)
    return ffi::Error::InvalidArgument("neurotree_dense_matvec: shapes of x, W and y disagree");
  if (x.element_type() == ffi::DataType::F32) {
    matvec(&pool, x.typed_data<float>(), xs.rows, xs.cols, w.typed_data<float>(), ws.cols,
           y->typed_data<float>(), event);
  } else {
    matvec(&pool, x.typed_data<double>(), xs.rows, xs.cols, w.typed_data<double>(), ws.cols,
           y->typed_data<double>(), event);
  }
  return ffi::Error::Success();
}

ffi::Error dense_outer(ffi::ThreadPool pool, ffi::AnyBuffer x, ffi::AnyBuffer ct,
                       ffi::Result<ffi::AnyBuffer> g, bool event) {
  const char* op = "neurotree_dense_outer";
  if (auto e = check_float(op, x.element_type()); e.failure()) return e;
  if (auto e = check_same(op, "ct", ct.element_type(), x.element_type()); e.failure()) return e;
  const Shape2 xs = as_matrix(x), cs = as_matrix(ct), gs = as_matrix(*g);
  if (g->dimensions().size() != 2 || cs.rows != xs.rows || gs.rows != xs.cols ||
      gs.cols != cs.cols)
    return ffi::Error::InvalidArgument("neurotree_dense_outer: shapes of x, ct and g disagree");
  if (x.element_type() == ffi::DataType::F32) {
    outer(&pool, x.typed_data<float>(), xs.rows, xs.cols, ct.typed_data<float>(), cs.cols,
          g->typed_data<float>(), event);
  } else {
    outer(&pool, x.typed_data<double>(), xs.rows, xs.cols, ct.typed_data<double>(), cs.cols,
          g->typed_data<double>(), event);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace neurotree

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurotreeDenseMatvec, neurotree::dense_matvec,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<bool>("event"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurotreeDenseOuter, neurotree::dense_outer,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<bool>("event"));
