// Dense product y[b, j] = sum_i x[b, i] W[i, j] for W (n_pre, n_post), row by row (an axpy per
// row of W, shared by the whole batch); with event, the rows where x[b, i] = 0 are skipped.
#include <algorithm>

#include "common.h"

namespace neurotree {
namespace {

template <typename T>
void axpy(T v, const T* w, int64_t n, T* y) {
  for (int64_t j = 0; j < n; ++j) y[j] += v * w[j];
}

template <typename T>
void rows_axpy(const T* x, int64_t batch, int64_t n_pre, const T* w, int64_t n_post, T* y,
               bool event) {
  std::fill(y, y + batch * n_post, T(0));
  if (event && batch == 1) {
    for_each_nonzero(x, n_pre, [&](int64_t i) { axpy(x[i], w + i * n_post, n_post, y); });
    return;
  }
  for (int64_t i = 0; i < n_pre; ++i) {
    for (int64_t b = 0; b < batch; ++b) {
      const T v = x[b * n_pre + i];
      if (!event || v != T(0)) axpy(v, w + i * n_post, n_post, y + b * n_post);
    }
  }
}

ffi::Error dense_matvec(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> y,
                        bool event) {
  const char* op = "neurotree_dense_matvec";
  if (auto e = check_float(op, x.element_type()); e.failure()) return e;
  if (auto e = check_same(op, "weights", w.element_type(), x.element_type()); e.failure())
    return e;
  const Shape2 xs = as_matrix(x), ws = as_matrix(w), ys = as_matrix(*y);
  if (w.dimensions().size() != 2 || xs.cols != ws.rows || ys.rows != xs.rows ||
      ys.cols != ws.cols)
    return ffi::Error::InvalidArgument("neurotree_dense_matvec: shapes of x, W and y disagree");
  if (x.element_type() == ffi::DataType::F32) {
    rows_axpy(x.typed_data<float>(), xs.rows, xs.cols, w.typed_data<float>(), ws.cols,
              y->typed_data<float>(), event);
  } else {
    rows_axpy(x.typed_data<double>(), xs.rows, xs.cols, w.typed_data<double>(), ws.cols,
              y->typed_data<double>(), event);
  }
  return ffi::Error::Success();
}

}  // namespace
}  // namespace neurotree

XLA_FFI_DEFINE_HANDLER_SYMBOL(NeurotreeDenseMatvec, neurotree::dense_matvec,
                              xla::ffi::Ffi::Bind()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<bool>("event"));
