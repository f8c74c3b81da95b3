// If: runs then_branch or else_branch. Branch outputs may be tensors,
// sequences or optionals, and the two branches may differ in shape.
#include "kernels/kernel.h"
#include "kernels/util/control_util.h"

namespace pier::kernels {

namespace {

class IfKernel final : public OpKernel {
 public:
  explicit IfKernel(const KernelInit& init)
      : then_(init.compile_subgraph("then_branch")), else_(init.compile_subgraph("else_branch")) {
    const size_t n = static_cast<size_t>(init.node.num_outputs());
    for (const auto* b : {then_.get(), else_.get()}) {
      const std::string which = b == then_.get() ? "then_branch" : "else_branch";
      if (b->num_inputs() != 0)
        throw Error(ErrorCode::kInvalidModel, which + " must take no inputs, it declares " +
                                                  std::to_string(b->num_inputs()));
      if (b->num_outputs() != n)
        throw Error(ErrorCode::kInvalidModel, which + " has " + std::to_string(b->num_outputs()) +
                                                  " outputs, the node has " + std::to_string(n));
    }
  }

  void compute(KernelContext& ctx) const override {
    const bool cond = control::scalar_bool(ctx.input(0), "If condition");
    const Subgraph& branch = cond ? *then_ : *else_;
    std::vector<Value> outs = branch.run(ctx, {});
    control::check_output_count(outs, static_cast<size_t>(ctx.num_outputs()), cond ? "then_branch" : "else_branch");
    for (int i = 0; i < ctx.num_outputs(); ++i)
      if (ctx.wants_output(i)) ctx.set_output(i, std::move(outs[i]));
  }

 private:
  std::shared_ptr<const Subgraph> then_, else_;
};

}  // namespace

void register_kernels_control_if(KernelRegistry& r) {
  // Versions 1, 11, 13 and 16 differ only in the types they admit
  // (sequences from 13, optionals from 16); one kernel serves them all.
  r.add("", "If", 1, 10, make_factory<IfKernel>());
  r.add("", "If", 11, 12, make_factory<IfKernel>());
  r.add("", "If", 13, 15, make_factory<IfKernel>());
  r.add("", "If", 16, kOpenEnded, make_factory<IfKernel>());
}

}  // namespace pier::kernels
