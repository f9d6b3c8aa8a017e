// CSR matrix-vector products. M (n_pre, n_post): row i holds data[s] (or the scalar data) at
// column indices[s] for indptr[i] <= s < indptr[i + 1].
//   transpose=true:  y[b, j] = sum_i x[b, i] M[i, j]  (scatter the rows; with event, only the
//                    rows where x[b, i] != 0)
//   transpose=false: y[b, i] = sum_j M[i, j] x[b, j]  (gather along each row)
// Out-of-range columns are dropped, as by the XLA reference's segment sum.
#include <algorithm>

#include "common.h"

namespace neurotree {
namespace {

struct Csr {
  const int32_t* indptr;
  const int32_t* indices;
  int64_t n_pre;
  int64_t nnz;
  int64_t start(int64_t i) const { return std::clamp<int64_t>(indptr[i], 0, nnz); }
  int64_t stop(int64_t i) const { return std::clamp<int64_t>(indptr[i + 1], start(i), nnz); }
};

inline bool in_range(int32_t j, int64_t n) {
  return static_cast<uint64_t>(static_cast<int64_t>(j)) < static_cast<uint64_t>(n);
}

constexpr int64_t kPrefetchRows = 32;

// Asks for the cache lines of p[start:stop] (no effect on the results).
template <typename E>
inline void prefetch(const E* p, int64_t start, int64_t stop) {
  const char* a = reinterpret_cast<const char*>(p + start);
  const char* b = reinterpret_cast<const char*>(p + stop);
  for (; a < b; a += 64) __builtin_prefetch(a);
}

template <typename T>
void scatter(const Csr& m, const T* data, bool scalar, const T* x, int64_t batch, T* y,
             int64_t n_post, bool event) {
  std::fill(y, y + batch * n_post, T(0));
  for (int64_t b = 0; b < batch; ++b) {
    const T* xb = x + b * m.n_pre;
    T* yb = y + b * n_post;
    auto row = [&](int64_t i) {
      const T v = xb[i];
      const int64_t s1 = m.stop(i);
      if (scalar) {
        const T vw = v * data[0];
        for (int64_t s = m.start(i); s < s1; ++s) {
          const int32_t j = m.indices[s];
          if (in_range(j, n_post)) yb[j] += vw;
        }
      } else {
        for (int64_t s = m.start(i); s < s1; ++s) {
          const int32_t j = m.indices[s];
          if (in_range(j, n_post)) yb[j] += v * data[s];
        }
      }
    };
    if (event) {
      // A spiking row's synapses are rarely in cache (a 4,000-neuron network's indices take
      // megabytes): collect a batch of rows, prefetch their synapses, then deliver them, so the
      // memory latencies overlap instead of adding up.
      int64_t rows[kPrefetchRows];
      int64_t n_rows = 0;
      auto flush = [&]() {
        for (int64_t r = 0; r < n_rows; ++r) {
          prefetch(m.indices, m.start(rows[r]), m.stop(rows[r]));
          if (!scalar) prefetch(data, m.start(rows[r]), m.stop(rows[r]));
        }
        for (int64_t r = 0; r < n_rows; ++r) row(rows[r]);
        n_rows = 0;
      };
      for_each_nonzero(xb, m.n_pre, [&](int64_t i) {
        rows[n_rows++] = i;
        if (n_rows == kPrefetchRows) flush();
      });
      flush();
    } else {
      for (int64_t i = 0; i < m.n_pre; ++i) row(i);
    }
  }
}

template <typename T>
void gather(const Csr& m, const T* data, bool scalar, const T* x, int64_t batch, int64_t n_post,
            T* y) {
  for (int64_t b = 0; b < batch; ++b) {
    const T* xb = x + b * n_post;
    for (int64_t i = 0; i < m.n_pre; ++i) {
      T acc = 0;
      const int64_t s1 = m.stop(i);
      for (int64_t s = m.start(i); s < s1; ++s) {
        const int32_t j = m.indices[s];
        if (in_range(j, n_post)) acc += xb[j] * (scalar ? data[0] : data[s]);
      }
      y[b * m.n_pre + i] = acc;
    }
  }
}

template <typename T>
void run(ffi::AnyBuffer x, const Csr& m, ffi::AnyBuffer data, ffi::AnyBuffer& y, bool transpose,
         bool event) {
  const Shape2 xs = as_matrix(x), ys = as_matrix(y);
  const bool scalar = data.dimensions().size() == 0;
  const T* d = data.typed_data<T>();
  if (transpose) {
    scatter(m, d, scalar, x.typed_data<T>(), xs.rows, y.typed_data<T>(), ys.cols, event);
  } else {
    gather(m, d, scalar, x.typed_data<T>(), xs.rows, xs.cols, y.typed_data<T>());
  }
}

ffi::Error csr_matvec(ffi::AnyBuffer x, ffi::Buffer<ffi::S32> indptr,
                      ffi::Buffer<ffi::S32> indices, ffi::AnyBuffer data,
                      ffi::Result<ffi::AnyBuffer> y, bool transpose, bool event) {
  const char* op = "neurotree_csr_matvec";
  if (auto e = check_float(op, x.element_type()); e.failure()) return e;
  if (auto e = check_same(op, "data", data.element_type(), x.element_type()); e.failure())
    return e;
  const int64_t n_pre = static_cast<int64_t>(indptr.element_count()) - 1;
  const int64_t nnz = static_cast<int64_t>(indices.element_count());
  if (n_pre < 0) return ffi::Error::InvalidArgument("neurotree_csr_matvec: empty indptr");
  if (data.dimensions().size() != 0 && static_cast<int64_t>(data.element_count()) != nnz)
    return ffi::Error::InvalidArgument("neurotree_csr_matvec: data must be a scalar or (nnz,)");
  const Shape2 xs = as_matrix(x), ys = as_matrix(*y);
  if (xs.rows != ys.rows || (transpose ? xs.cols : ys.cols) != n_pre)
    return ffi::Error::InvalidArgument("neurotree_csr_matvec: x, y and indptr disagree");
  const Csr m{indptr.typed_data(), indices.typed_data(), n_pre, nnz};
  if (x.element_type() == ffi::DataType::F32) {
    run<float>(x, m, data, *y, transpose, event);
  } else {
    run<double>(x, m, data, *y, transpose, event);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace neurotree

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurotreeCsrMatvec, neurotree::csr_matvec,
                              xla::ffi::Ffi::Bind()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::S32>>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<bool>("transpose")
                                  .Attr<bool>("event"));
