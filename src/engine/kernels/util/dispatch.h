// Type dispatch: calls fn with a value of the C++ type for a DataType,
//   dispatch_all(t.dtype(), [&](auto tag) { using T = decltype(tag); ... });
// Each helper covers a set of types and raises kUnsupported for others.
#pragma once

#include <string>

#include "pier/engine.h"

namespace pier::kernels {

[[noreturn]] void unsupported_type(DataType t, const char* what);

template <typename F>
decltype(auto) dispatch_float(DataType t, F&& fn) {  // float, double, float16, bfloat16
  switch (t) {
    case DataType::kFloat: return fn(float{});
    case DataType::kDouble: return fn(double{});
    case DataType::kFloat16: return fn(Float16{});
    case DataType::kBFloat16: return fn(BFloat16{});
    default: unsupported_type(t, "floating-point op");
  }
}

template <typename F>
decltype(auto) dispatch_int(DataType t, F&& fn) {  // all integer types
  switch (t) {
    case DataType::kInt8: return fn(int8_t{});
    case DataType::kInt16: return fn(int16_t{});
    case DataType::kInt32: return fn(int32_t{});
    case DataType::kInt64: return fn(int64_t{});
    case DataType::kUInt8: return fn(uint8_t{});
    case DataType::kUInt16: return fn(uint16_t{});
    case DataType::kUInt32: return fn(uint32_t{});
    case DataType::kUInt64: return fn(uint64_t{});
    default: unsupported_type(t, "integer op");
  }
}

template <typename F>
decltype(auto) dispatch_numeric(DataType t, F&& fn) {  // float + int types
  switch (t) {
    case DataType::kFloat: return fn(float{});
    case DataType::kDouble: return fn(double{});
    case DataType::kFloat16: return fn(Float16{});
    case DataType::kBFloat16: return fn(BFloat16{});
    case DataType::kInt8: return fn(int8_t{});
    case DataType::kInt16: return fn(int16_t{});
    case DataType::kInt32: return fn(int32_t{});
    case DataType::kInt64: return fn(int64_t{});
    case DataType::kUInt8: return fn(uint8_t{});
    case DataType::kUInt16: return fn(uint16_t{});
    case DataType::kUInt32: return fn(uint32_t{});
    case DataType::kUInt64: return fn(uint64_t{});
    default: unsupported_type(t, "numeric op");
  }
}

template <typename F>
decltype(auto) dispatch_all(DataType t, F&& fn) {  // numeric + bool + string
  switch (t) {
    case DataType::kBool: return fn(bool{});
    case DataType::kString: return fn(std::string{});
    default: return dispatch_numeric(t, std::forward<F>(fn));
  }
}

// Dispatch on element size only, for ops that just move bytes (Transpose,
// Gather, Concat...). Strings are not covered; handle them separately.
template <typename F>
decltype(auto) dispatch_bytes(DataType t, F&& fn) {
  switch (dtype_size(t)) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    case 4: return fn(uint32_t{});
    case 8: return fn(uint64_t{});
    case 16: {
      struct B16 {
        uint64_t a, b;
      };
      return fn(B16{});
    }
    default: unsupported_type(t, "data movement op");
  }
}

// Arithmetic on half types goes through float.
template <typename T>
struct Compute {
  using type = T;
};
template <>
struct Compute<Float16> {
  using type = float;
};
template <>
struct Compute<BFloat16> {
  using type = float;
};
template <typename T>
using compute_t = typename Compute<T>::type;

template <typename T>
inline compute_t<T> load(T v) {
  return static_cast<compute_t<T>>(v);
}
template <typename T>
inline T store(compute_t<T> v) {
  return static_cast<T>(v);
}

}  // namespace pier::kernels
