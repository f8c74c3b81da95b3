#include "kernels/util/shape_util.h"

#include <cstring>
#include <type_traits>

#include "kernels/util/dispatch.h"

namespace pier::kernels {

void unsupported_type(DataType t, const char* what) {
  throw Error(ErrorCode::kUnsupported, std::string(what) + " does not support type " + dtype_name(t));
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank || (rank == 0 && axis != 0 && axis != -1))
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(ErrorCode::kInvalidArgument,
                  "shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const auto in_strides = strides_of(in);
  const size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[off + i] = in[i] == 1 ? 0 : in_strides[i];
  return s;
}

std::vector<int64_t> to_int64_vector(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DataType::kInt64) {
    if (t.numel()) std::memcpy(v.data(), t.raw(), t.nbytes());
  } else if (t.dtype() == DataType::kInt32) {
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.data<int32_t>()[i];
  } else {
    throw Error(ErrorCode::kInvalidArgument, std::string("expected an int32 or int64 tensor, got ") + dtype_name(t.dtype()));
  }
  return v;
}

double scalar_as_double(const Tensor& t) {
  if (t.numel() != 1)
    throw Error(ErrorCode::kInvalidArgument, "expected a single value, got shape " + shape_str(t.shape()));
  if (t.dtype() == DataType::kBool) return t.data<bool>()[0] ? 1.0 : 0.0;
  return dispatch_numeric(t.dtype(), [&](auto tag) -> double {
    using T = decltype(tag);
    return static_cast<double>(load(static_cast<const T*>(t.raw())[0]));
  });
}

namespace {
template <typename From, typename To>
void cast_loop(const From* s, To* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<To, bool>) {
      d[i] = load(s[i]) != compute_t<From>{};
    } else if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
      d[i] = To(static_cast<float>(load(s[i])));
    } else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>) {
      d[i] = static_cast<To>(static_cast<float>(s[i]));
    } else {
      d[i] = static_cast<To>(s[i]);
    }
  }
}

template <typename F>
decltype(auto) dispatch_castable(DataType t, F&& fn) {
  if (t == DataType::kBool) return fn(bool{});
  return dispatch_numeric(t, std::forward<F>(fn));
}
}  // namespace

void cast_buffer(const void* src, DataType from, void* dst, DataType to, int64_t n) {
  dispatch_castable(from, [&](auto ftag) {
    using F = decltype(ftag);
    dispatch_castable(to, [&](auto ttag) {
      using T = decltype(ttag);
      cast_loop<F, T>(static_cast<const F*>(src), static_cast<T*>(dst), n);
    });
  });
}

Tensor cast_tensor(const Tensor& t, DataType to) {
  if (t.dtype() == to) return t;
  Tensor out(to, t.shape());
  cast_buffer(t.raw(), t.dtype(), out.raw(), to, t.numel());
  return out;
}

}  // namespace pier::kernels
