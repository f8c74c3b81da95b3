// Indexed writes: ScatterElements (and the deprecated Scatter), ScatterND.
// The output is a copy of data with updates written (or, opset 16+, added
// or multiplied) at the indexed places, in index order.
#include <algorithm>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

enum class Reduce { kNone, kAdd, kMul };

Reduce parse_reduction(const ir::Node& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return Reduce::kNone;
  if (r == "add") return Reduce::kAdd;
  if (r == "mul") return Reduce::kMul;
  throw Error(ErrorCode::kInvalidModel, node.op_type + ": unsupported reduction \"" + r + "\"");
}

int64_t fix_index(int64_t i, int64_t dim, const char* op) {
  if (i < -dim || i >= dim)
    bad(std::string(op) + ": index " + std::to_string(i) + " is out of range for a dimension of size " +
        std::to_string(dim));
  return i < 0 ? i + dim : i;
}

template <typename T>
inline void apply(T& dst, const T& v, Reduce red) {
  if constexpr (std::is_same_v<T, std::string>) {
    dst = v;  // reductions on strings are rejected before
  } else if constexpr (std::is_same_v<T, bool>) {
    dst = red == Reduce::kNone ? v : red == Reduce::kAdd ? (dst || v) : (dst && v);
  } else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
    switch (red) {
      case Reduce::kNone: dst = v; break;
      case Reduce::kAdd: dst = store<T>(load(dst) + load(v)); break;
      case Reduce::kMul: dst = store<T>(load(dst) * load(v)); break;
    }
  } else {
    dst = v;  // plain moves (16-byte elements)
  }
}

// Calls fn(T{}) with the element type: numeric types when reducing (they
// need arithmetic), byte-sized moves otherwise.
template <typename F>
void dispatch_scatter(DataType t, Reduce red, const char* op, F&& fn) {
  if (red == Reduce::kNone) {
    dispatch_elements(t, std::forward<F>(fn));
  } else if (t == DataType::kBool) {
    fn(bool{});
  } else if (t == DataType::kString) {
    unsupported_type(t, (std::string(op) + " with a reduction").c_str());
  } else {
    dispatch_numeric(t, std::forward<F>(fn));
  }
}

class ScatterElementsKernel final : public OpKernel {
 public:
  explicit ScatterElementsKernel(const KernelInit& init)
      : axis_(init.node.attr_int("axis", 0)), red_(parse_reduction(init.node)), op_(init.node.op_type) {}
  void compute(KernelContext& ctx) const override {
    const char* op = op_.c_str();
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    const Tensor& upd = ctx.input(2);
    const int64_t r = x.rank();
    if (r == 0) bad(op_ + ": data must have rank >= 1");
    if (ind.rank() != r) bad(op_ + ": indices rank differs from data rank");
    if (upd.shape() != ind.shape())
      bad(op_ + ": updates shape " + shape_str(upd.shape()) + " differs from indices shape " + shape_str(ind.shape()));
    if (upd.dtype() != x.dtype()) bad(op_ + ": updates type differs from data type");
    const int64_t axis = normalize_axis(axis_, r, (op_ + " axis").c_str());
    for (int64_t d = 0; d < r; ++d)
      if (d != axis && ind.shape()[d] > x.shape()[d])
        bad(op_ + ": indices shape " + shape_str(ind.shape()) + " exceeds data shape " + shape_str(x.shape()));
    if (ind.dtype() != DataType::kInt32 && ind.dtype() != DataType::kInt64) bad(op_ + ": indices must be int32 or int64");
    std::vector<int64_t> idx = to_int64_vector(ind);
    for (auto& i : idx) i = fix_index(i, x.shape()[axis], op);
    Tensor y = x.clone();
    const auto xs = strides_of(x.shape());
    const Shape& is = ind.shape();
    const int64_t n = ind.numel();
    dispatch_scatter(x.dtype(), red_, op, [&](auto tag) {
      using T = decltype(tag);
      const T* u = static_cast<const T*>(upd.raw());
      T* dst = static_cast<T*>(y.raw());
      std::vector<int64_t> pos(r, 0);
      int64_t base = 0;
      for (int64_t k = 0; k < n; ++k) {
        apply(dst[base + idx[k] * xs[axis]], u[k], red_);
        for (int64_t d = r - 1; d >= 0; --d) {
          if (d != axis) base += xs[d];
          if (++pos[d] < is[d]) break;
          if (d != axis) base -= xs[d] * is[d];
          pos[d] = 0;
        }
      }
    });
    ctx.set_output(0, y);
  }

 private:
  int64_t axis_;
  Reduce red_;
  std::string op_;
};

class ScatterNDKernel final : public OpKernel {
 public:
  explicit ScatterNDKernel(const KernelInit& init) : red_(parse_reduction(init.node)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    const Tensor& upd = ctx.input(2);
    const int64_t r = x.rank(), q = ind.rank();
    if (r < 1 || q < 1) bad("ScatterND: data and indices must have rank >= 1");
    if (ind.dtype() != DataType::kInt64 && ind.dtype() != DataType::kInt32) bad("ScatterND: indices must be int64");
    if (upd.dtype() != x.dtype()) bad("ScatterND: updates type differs from data type");
    const int64_t m = ind.shape()[q - 1];
    if (m < 1 || m > r) bad("ScatterND: last indices dimension " + std::to_string(m) + " must be in [1, rank]");
    Shape want(ind.shape().begin(), ind.shape().end() - 1);
    want.insert(want.end(), x.shape().begin() + m, x.shape().end());
    if (upd.shape() != want)
      bad("ScatterND: updates shape " + shape_str(upd.shape()) + " should be " + shape_str(want));
    const std::vector<int64_t> idx = to_int64_vector(ind);
    const auto xs = strides_of(x.shape());
    int64_t slice = 1;
    for (int64_t d = m; d < r; ++d) slice *= x.shape()[d];
    const int64_t tuples = static_cast<int64_t>(idx.size()) / m;
    std::vector<int64_t> offs(static_cast<size_t>(tuples));
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t off = 0;
      for (int64_t k = 0; k < m; ++k) off += fix_index(idx[t * m + k], x.shape()[k], "ScatterND") * xs[k];
      offs[t] = off;
    }
    Tensor y = x.clone();
    dispatch_scatter(x.dtype(), red_, "ScatterND", [&](auto tag) {
      using T = decltype(tag);
      const T* u = static_cast<const T*>(upd.raw());
      T* dst = static_cast<T*>(y.raw());
      for (int64_t t = 0; t < tuples; ++t) {
        T* d = dst + offs[t];
        const T* s = u + t * slice;
        if (red_ == Reduce::kNone) std::copy_n(s, slice, d);
        else
          for (int64_t i = 0; i < slice; ++i) apply(d[i], s[i], red_);
      }
    });
    ctx.set_output(0, y);
  }

 private:
  Reduce red_;
};

}  // namespace

void register_kernels_tensor_scatter(KernelRegistry& r) {
  r.add("", "Scatter", 9, 10, make_factory<ScatterElementsKernel>());
  r.add("", "Scatter", 11, kOpenEnded, make_factory<ScatterElementsKernel>());
  r.add("", "ScatterElements", 11, 12, make_factory<ScatterElementsKernel>());
  r.add("", "ScatterElements", 13, 15, make_factory<ScatterElementsKernel>());
  r.add("", "ScatterElements", 16, kOpenEnded, make_factory<ScatterElementsKernel>());
  r.add("", "ScatterND", 11, 12, make_factory<ScatterNDKernel>());
  r.add("", "ScatterND", 13, 15, make_factory<ScatterNDKernel>());
  r.add("", "ScatterND", 16, kOpenEnded, make_factory<ScatterNDKernel>());
}

}  // namespace pier::kernels
