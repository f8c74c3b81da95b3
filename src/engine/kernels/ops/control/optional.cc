// Optional, OptionalHasElement, OptionalGetElement. An empty optional is a
// Value of kind kNone; a non-empty one is the tensor or sequence itself.
#include "kernels/kernel.h"

namespace pier::kernels {

namespace {

// Optional(input) wraps its input; Optional() with only the `type`
// attribute makes an empty optional.
class OptionalKernel final : public OpKernel {
 public:
  explicit OptionalKernel(const KernelInit& init) {
    if (!init.node.has_input(0) && !init.node.has_attr("type"))
      throw Error(ErrorCode::kInvalidModel, "Optional without an input needs the type attribute");
  }
  void compute(KernelContext& ctx) const override { ctx.set_output(0, ctx.value(0)); }
};

class OptionalHasElementKernel final : public OpKernel {
 public:
  explicit OptionalHasElementKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    Tensor& out = ctx.allocate(0, DataType::kBool, {});
    out.data<bool>()[0] = !ctx.value(0).is_none();
  }
};

class OptionalGetElementKernel final : public OpKernel {
 public:
  explicit OptionalGetElementKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Value& v = ctx.value(0);
    if (v.is_none()) throw Error(ErrorCode::kInvalidArgument, "OptionalGetElement: the optional input is empty");
    ctx.set_output(0, v);
  }
};

}  // namespace

void register_kernels_control_optional(KernelRegistry& r) {
  r.add("", "Optional", 15, kOpenEnded, make_factory<OptionalKernel>());
  // Version 18 (not in opset 17) also accepts plain tensors and sequences
  // and an absent input; the kernels already handle those.
  r.add("", "OptionalHasElement", 15, kOpenEnded, make_factory<OptionalHasElementKernel>());
  r.add("", "OptionalGetElement", 15, kOpenEnded, make_factory<OptionalGetElementKernel>());
}

}  // namespace pier::kernels
