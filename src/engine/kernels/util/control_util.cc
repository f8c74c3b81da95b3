#include "kernels/util/control_util.h"

#include <algorithm>
#include <cstring>

#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels::control {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= s[i];
  return n;
}

// Rows of at least this many elements are worth a thread of their own.
constexpr int64_t kParallelElements = 1 << 16;

}  // namespace

void copy_elements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t count) {
  if (count <= 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* s = src.data<std::string>() + src_off;
    std::string* d = dst.data<std::string>() + dst_off;
    std::copy(s, s + count, d);
    return;
  }
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + dst_off * es, static_cast<const char*>(src.raw()) + src_off * es,
              static_cast<size_t>(count) * es);
}

Tensor narrow(const Tensor& t, int64_t axis, int64_t start, int64_t len) {
  const Shape& s = t.shape();
  if (axis < 0 || axis >= t.rank()) bad("axis " + std::to_string(axis) + " out of range for shape " + shape_str(s));
  if (start < 0 || len < 0 || start + len > s[axis])
    bad("range [" + std::to_string(start) + ", " + std::to_string(start + len) + ") out of bounds for dimension " +
        std::to_string(s[axis]));
  Shape os = s;
  os[axis] = len;
  Tensor out(t.dtype(), os);
  const int64_t outer = product(s, 0, axis);
  const int64_t inner = product(s, axis + 1, s.size());
  const int64_t block = len * inner;
  for (int64_t o = 0; o < outer; ++o) copy_elements(t, (o * s[axis] + start) * inner, out, o * block, block);
  return out;
}

Tensor select(const Tensor& t, int64_t axis, int64_t index) {
  Tensor part = narrow(t, axis, index, 1);
  Shape s = part.shape();
  s.erase(s.begin() + axis);
  return part.reshaped(s);
}

Tensor concat(const std::vector<Tensor>& items, int64_t axis, int threads, const char* what) {
  if (items.empty()) bad(std::string(what) + ": nothing to concatenate");
  const Tensor& first = items[0];
  const int rank = first.rank();
  if (axis < 0 || axis >= rank) bad(std::string(what) + ": axis out of range for rank " + std::to_string(rank));
  Shape os = first.shape();
  os[axis] = 0;
  for (const auto& t : items) {
    if (t.dtype() != first.dtype())
      bad(std::string(what) + ": element types differ (" + dtype_name(first.dtype()) + " and " +
          dtype_name(t.dtype()) + ")");
    bool same = t.rank() == rank;
    for (int d = 0; same && d < rank; ++d) same = d == axis || t.shape()[d] == first.shape()[d];
    if (!same)
      bad(std::string(what) + ": shapes " + shape_str(first.shape()) + " and " + shape_str(t.shape()) +
          " differ outside axis " + std::to_string(axis));
    os[axis] += t.shape()[axis];
  }
  Tensor out(first.dtype(), os);
  const int64_t outer = product(os, 0, axis);
  const int64_t inner = product(os, axis + 1, os.size());
  const int64_t out_block = os[axis] * inner;
  const int64_t grain = std::max<int64_t>(1, kParallelElements / std::max<int64_t>(out_block, 1));
  parallel_for(threads, outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      int64_t off = o * out_block;
      for (const auto& t : items) {
        const int64_t block = t.shape()[axis] * inner;
        copy_elements(t, o * block, out, off, block);
        off += block;
      }
    }
  });
  return out;
}

Tensor stack(const std::vector<Tensor>& items, int64_t axis, int threads, const char* what) {
  if (items.empty()) bad(std::string(what) + ": nothing to stack");
  const Shape& s = items[0].shape();
  if (axis < 0 || axis > static_cast<int64_t>(s.size()))
    bad(std::string(what) + ": axis " + std::to_string(axis) + " out of range");
  std::vector<Tensor> expanded;
  expanded.reserve(items.size());
  for (const auto& t : items) {
    if (t.shape() != s)
      bad(std::string(what) + ": shapes differ between iterations (" + shape_str(s) + " and " + shape_str(t.shape()) +
          ")");
    Shape e = t.shape();
    e.insert(e.begin() + axis, 1);
    expanded.push_back(t.reshaped(e));
  }
  return concat(expanded, axis, threads, what);
}

Tensor empty_stack(const ValueInfo* info, int64_t axis) {
  DataType t = info && info->dtype != DataType::kUndefined ? info->dtype : DataType::kFloat;
  Shape s;
  if (info && info->has_shape)
    for (int64_t d : info->dims) s.push_back(d < 0 ? 0 : d);
  axis = std::clamp<int64_t>(axis, 0, static_cast<int64_t>(s.size()));
  s.insert(s.begin() + axis, 0);
  return Tensor(t, s);
}

Tensor zeros_like(const Tensor& t) {
  if (t.dtype() == DataType::kString) return Tensor(t.dtype(), t.shape());  // strings start empty
  return Tensor::zeros(t.dtype(), t.shape());
}

int64_t scalar_int(const Tensor& t, const char* what) {
  if (t.numel() != 1) bad(std::string(what) + " must hold one value, got shape " + shape_str(t.shape()));
  if (t.dtype() == DataType::kInt64) return t.data<int64_t>()[0];
  if (t.dtype() == DataType::kInt32) return t.data<int32_t>()[0];
  bad(std::string(what) + " must be int32 or int64, got " + dtype_name(t.dtype()));
}

bool scalar_bool(const Tensor& t, const char* what) {
  if (t.numel() != 1) bad(std::string(what) + " must hold one value, got shape " + shape_str(t.shape()));
  if (t.dtype() == DataType::kBool) return t.data<bool>()[0];
  if (t.dtype() == DataType::kString) bad(std::string(what) + " must be bool, got string");
  return scalar_as_double(t) != 0.0;
}

void check_output_count(const std::vector<Value>& outs, size_t n, const std::string& what) {
  if (outs.size() != n)
    throw Error(ErrorCode::kInvalidModel,
                what + " returned " + std::to_string(outs.size()) + " values, expected " + std::to_string(n));
}

const Tensor& output_tensor(const std::vector<Value>& outs, size_t i, const std::string& what) {
  if (i >= outs.size() || !outs[i].is_tensor())
    bad(what + " output " + std::to_string(i) + " must be a tensor, got " +
        (i < outs.size() ? value_kind(outs[i]) : std::string("nothing")));
  return outs[i].tensor();
}

std::string value_kind(const Value& v) {
  if (v.is_none()) return "an empty optional";
  if (v.is_sequence()) return std::string("a sequence of ") + dtype_name(v.elem_type());
  return std::string("a tensor of ") + dtype_name(v.tensor().dtype());
}

}  // namespace pier::kernels::control
