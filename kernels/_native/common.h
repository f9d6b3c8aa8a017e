// Shared helpers of the neurotree native CPU kernels (XLA typed FFI).
#ifndef NEUROTREE_NATIVE_COMMON_H_
#define NEUROTREE_NATIVE_COMMON_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "xla/ffi/api/ffi.h"

namespace neurotree {

namespace ffi = xla::ffi;

// (rows, columns) of a buffer read as a matrix: every leading axis is a batch axis.
struct Shape2 {
  int64_t rows;
  int64_t cols;
};

inline Shape2 as_matrix(const ffi::AnyBuffer& b) {
  auto dims = b.dimensions();
  if (dims.size() == 0) return {1, 1};
  int64_t rows = 1;
  for (size_t a = 0; a + 1 < dims.size(); ++a) rows *= dims[a];
  return {rows, dims[dims.size() - 1]};
}

inline ffi::Error check_float(const char* op, ffi::DataType t) {
  if (t == ffi::DataType::F32 || t == ffi::DataType::F64) return ffi::Error::Success();
  return ffi::Error::InvalidArgument(std::string(op) + ": x must be float32 or float64");
}

inline ffi::Error check_same(const char* op, const char* name, ffi::DataType a, ffi::DataType b) {
  if (a == b) return ffi::Error::Success();
  return ffi::Error::InvalidArgument(std::string(op) + ": " + name + " must have x's dtype");
}

// Whether any of the n_words 64-bit words at p has a bit set outside the sign bits of its T
// lanes: i.e. whether any of those T values is non-zero (NaN counts as non-zero, -0 as zero).
template <typename T>
inline bool any_nonzero(const T* p, int64_t n_words) {
  constexpr uint64_t kMagnitude =
      sizeof(T) == 4 ? 0x7FFFFFFF7FFFFFFFull : 0x7FFFFFFFFFFFFFFFull;
  uint64_t acc = 0;
  for (int64_t w = 0; w < n_words; ++w) {
    uint64_t word;
    std::memcpy(&word, reinterpret_cast<const char*>(p) + 8 * w, 8);
    acc |= word;
  }
  return (acc & kMagnitude) != 0;
}

// Calls f(i) for every i < n with x[i] != 0 (NaN counts as non-zero, -0 as zero), in increasing
// order. 256-byte blocks are tested at once, then the 32-byte groups of a non-zero block, so a
// mostly-zero spike vector is scanned at memory speed and each spike costs a few tests.
template <typename T, typename F>
inline void for_each_nonzero(const T* x, int64_t n, F&& f) {
  constexpr int64_t kGroup = 32 / sizeof(T), kBlock = 8 * kGroup;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    if (!any_nonzero(x + i, 32)) continue;
    for (int64_t g = i; g < i + kBlock; g += kGroup) {
      if (!any_nonzero(x + g, 4)) continue;
      for (int64_t k = g; k < g + kGroup; ++k)
        if (x[k] != T(0)) f(k);
    }
  }
  for (; i < n; ++i)
    if (x[i] != T(0)) f(i);
}

}  // namespace neurotree

#endif  // NEUROTREE_NATIVE_COMMON_H_
