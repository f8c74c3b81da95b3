// Constant and Identity.
#include "kernels/kernel.h"

namespace pier::kernels {

namespace {

class ConstantKernel final : public OpKernel {
 public:
  explicit ConstantKernel(const KernelInit& init) : value_(ir::constant_node_value(init.node)) {}
  void compute(KernelContext& ctx) const override { ctx.set_output(0, value_); }

 private:
  Tensor value_;
};

// Identity passes its input through (tensor, sequence or optional); the
// storage is shared, never copied.
class IdentityKernel final : public OpKernel {
 public:
  explicit IdentityKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override { ctx.set_output(0, ctx.value(0)); }
};

}  // namespace

void register_kernels_tensor_constant(KernelRegistry& r) {
  r.add("", "Constant", 1, kOpenEnded, make_factory<ConstantKernel>());
  r.add("", "Identity", 1, kOpenEnded, make_factory<IdentityKernel>());
}

}  // namespace pier::kernels
