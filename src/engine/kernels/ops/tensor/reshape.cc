// Shape-only ops: Reshape, Flatten, Squeeze, Unsqueeze (their outputs share
// the input's storage, never copy) and Shape, Size.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

// Output shape of Reshape: 0 copies the input dim (unless allowzero), -1 is
// inferred from the remaining elements.
Shape reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero) {
  Shape out(spec.size());
  int64_t infer = -1, known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      if (infer >= 0) bad("Reshape: shape " + shape_str(spec) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) bad("Reshape: invalid dimension " + std::to_string(d) + " in shape " + shape_str(spec));
    if (d == 0 && !allowzero) {
      if (i >= in.size())
        bad("Reshape: shape " + shape_str(spec) + " copies dimension " + std::to_string(i) + " of input " +
            shape_str(in) + ", which has no such dimension");
      d = in[i];
    }
    if (d == 0) has_zero = true;
    out[i] = d;
    if (d != 0) {
      if (known > (int64_t{1} << 62) / d) bad("Reshape: shape " + shape_str(spec) + " is too large");
      known *= d;
    }
  }
  const int64_t n = shape_numel(in);
  if (infer >= 0) {
    if (has_zero) {
      if (n != 0 || allowzero)
        bad("Reshape: cannot infer the -1 dimension of " + shape_str(spec) + " next to a zero dimension");
      out[infer] = 0;
    } else {
      if (n % known != 0) bad("Reshape: cannot reshape " + shape_str(in) + " to " + shape_str(spec));
      out[infer] = n / known;
    }
  }
  if (shape_numel(out) != n) bad("Reshape: cannot reshape " + shape_str(in) + " to " + shape_str(spec));
  return out;
}

class ReshapeKernel final : public OpKernel {
 public:
  explicit ReshapeKernel(const KernelInit& init) {
    if (init.node.since_version < 5) {
      from_attr_ = true;
      shape_attr_ = init.node.attr_ints("shape");
    }
    allowzero_ = init.node.attr_int("allowzero", 0) != 0;
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> spec = from_attr_ ? shape_attr_ : to_int64_vector(ctx.input(1));
    if (!from_attr_ && ctx.input(1).rank() != 1) bad("Reshape: shape input must be 1-D");
    ctx.set_output(0, x.reshaped(reshape_target(x.shape(), spec, allowzero_)));
  }

 private:
  bool from_attr_ = false, allowzero_ = false;
  std::vector<int64_t> shape_attr_;
};

class FlattenKernel final : public OpKernel {
 public:
  explicit FlattenKernel(const KernelInit& init) : axis_(init.node.attr_int("axis", 1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis > r)
      bad("Flatten: axis " + std::to_string(axis_) + " is out of range for rank " + std::to_string(r));
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.shape()[i];
    ctx.set_output(0, x.reshaped({outer, inner}));
  }

 private:
  int64_t axis_;
};

// Axes from the attribute (opset < 13) or the optional input 1.
std::vector<int64_t> axes_arg(KernelContext& ctx, bool from_attr, const std::vector<int64_t>& attr) {
  if (from_attr) return attr;
  if (!ctx.has_input(1)) return {};
  const Tensor& a = ctx.input(1);
  if (a.rank() > 1) bad("axes input must be a 1-D tensor");
  return to_int64_vector(a);
}

class SqueezeKernel final : public OpKernel {
 public:
  explicit SqueezeKernel(const KernelInit& init) {
    from_attr_ = init.node.since_version < 13;
    if (from_attr_) axes_ = init.node.attr_ints("axes");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    const std::vector<int64_t> axes = axes_arg(ctx, from_attr_, axes_);
    std::vector<bool> drop(r, false);
    if (axes.empty()) {
      for (int64_t i = 0; i < r; ++i) drop[i] = x.shape()[i] == 1;
    } else {
      for (int64_t a : axes) {
        const int64_t ax = normalize_axis(a, r, "Squeeze axis");
        if (drop[ax]) bad("Squeeze: axis " + std::to_string(a) + " is given twice");
        if (x.shape()[ax] != 1)
          bad("Squeeze: dimension " + std::to_string(ax) + " of " + shape_str(x.shape()) + " is not 1");
        drop[ax] = true;
      }
    }
    Shape out;
    for (int64_t i = 0; i < r; ++i)
      if (!drop[i]) out.push_back(x.shape()[i]);
    ctx.set_output(0, x.reshaped(out));
  }

 private:
  bool from_attr_;
  std::vector<int64_t> axes_;
};

class UnsqueezeKernel final : public OpKernel {
 public:
  explicit UnsqueezeKernel(const KernelInit& init) {
    from_attr_ = init.node.since_version < 13;
    if (from_attr_) {
      if (!init.node.has_attr("axes")) throw Error(ErrorCode::kInvalidModel, "Unsqueeze: attribute 'axes' is required");
      axes_ = init.node.attr_ints("axes");
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (!from_attr_ && !ctx.has_input(1)) bad("Unsqueeze: the axes input is required");
    const std::vector<int64_t> axes = axes_arg(ctx, from_attr_, axes_);
    const int64_t r = x.rank() + static_cast<int64_t>(axes.size());
    std::vector<bool> added(r, false);
    for (int64_t a : axes) {
      const int64_t ax = normalize_axis(a, r, "Unsqueeze axis");
      if (added[ax]) bad("Unsqueeze: axis " + std::to_string(a) + " is given twice");
      added[ax] = true;
    }
    Shape out(r);
    for (int64_t i = 0, k = 0; i < r; ++i) out[i] = added[i] ? 1 : x.shape()[k++];
    ctx.set_output(0, x.reshaped(out));
  }

 private:
  bool from_attr_;
  std::vector<int64_t> axes_;
};

class ShapeKernel final : public OpKernel {
 public:
  explicit ShapeKernel(const KernelInit& init) {
    start_ = init.node.attr_int("start", 0);
    has_end_ = init.node.has_attr("end");
    end_ = init.node.attr_int("end", 0);
  }
  void compute(KernelContext& ctx) const override {
    const Value& v = ctx.value(0);
    if (!v.is_tensor()) bad("Shape: input 0 should be a tensor");
    const Shape& s = v.tensor().shape();
    const int64_t r = static_cast<int64_t>(s.size());
    auto clamp = [r](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + r : i, 0, r); };
    const int64_t b = clamp(start_), e = has_end_ ? clamp(end_) : r;
    const int64_t n = std::max<int64_t>(e - b, 0);
    Tensor& out = ctx.allocate(0, DataType::kInt64, {n});
    for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = s[b + i];
  }

 private:
  int64_t start_ = 0, end_ = 0;
  bool has_end_ = false;
};

class SizeKernel final : public OpKernel {
 public:
  explicit SizeKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    Tensor& out = ctx.allocate(0, DataType::kInt64, {});
    out.data<int64_t>()[0] = x.numel();
  }
};

}  // namespace

void register_kernels_tensor_reshape(KernelRegistry& r) {
  r.add("", "Reshape", 1, 4, make_factory<ReshapeKernel>());
  r.add("", "Reshape", 5, 13, make_factory<ReshapeKernel>());
  r.add("", "Reshape", 14, kOpenEnded, make_factory<ReshapeKernel>());
  r.add("", "Flatten", 1, kOpenEnded, make_factory<FlattenKernel>());
  r.add("", "Squeeze", 1, 12, make_factory<SqueezeKernel>());
  r.add("", "Squeeze", 13, kOpenEnded, make_factory<SqueezeKernel>());
  r.add("", "Unsqueeze", 1, 12, make_factory<UnsqueezeKernel>());
  r.add("", "Unsqueeze", 13, kOpenEnded, make_factory<UnsqueezeKernel>());
  r.add("", "Shape", 1, kOpenEnded, make_factory<ShapeKernel>());
  r.add("", "Size", 1, kOpenEnded, make_factory<SizeKernel>());
}

}  // namespace pier::kernels
