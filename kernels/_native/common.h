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

// The unsigned integer type of T's bits, and a 32-byte vector of them (GCC/Clang extension).
template <typename T>
struct Bits;
template <>
struct Bits<float> {
  typedef uint32_t U;
  typedef uint32_t V __attribute__((vector_size(32)));
};
template <>
struct Bits<double> {
  typedef uint64_t U;
  typedef uint64_t V __attribute__((vector_size(32)));
};

// Calls f(i) for every i < n with x[i] != 0 (NaN counts as non-zero, -0 as zero), in increasing
// order. Blocks of 256 bytes are tested at once by OR-ing their bits without the sign bit, so a
// mostly-zero spike vector is scanned at memory speed.
template <typename T, typename F>
inline void for_each_nonzero(const T* x, int64_t n, F&& f) {
  using U = typename Bits<T>::U;
  using V = typename Bits<T>::V;
  constexpr int64_t kLanes = sizeof(V) / sizeof(T), kVectors = 8, kBlock = kLanes * kVectors;
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    V acc = {};
    for (int64_t q = 0; q < kVectors; ++q) {
      V v;
      std::memcpy(&v, x + i + q * kLanes, sizeof v);
      acc |= v;
    }
    acc <<= 1;
    U any = 0;
    for (int64_t k = 0; k < kLanes; ++k) any |= acc[k];
    if (any == 0) continue;
    for (int64_t k = 0; k < kBlock; ++k)
      if (x[i + k] != T(0)) f(i + k);
  }
  for (; i < n; ++i)
    if (x[i] != T(0)) f(i);
}

}  // namespace neurotree

#endif  // NEUROTREE_NATIVE_COMMON_H_
