// Loop: runs its body while the trip count and the condition allow.
//
// Inputs (M, cond, v_initial...): M and cond are both optional. The body
// takes (iteration_num, cond, carried...) and returns (cond, carried...,
// scan_outputs...). Carried values may be tensors, sequences or optionals
// (opset 13/16); scan outputs are tensors stacked along a new axis 0.
//
// The body's condition output always decides whether another iteration
// runs, also when the node has no cond input (as onnxruntime and ONNX's
// reference implementation do); with neither M nor cond the loop therefore
// ends when the body returns false instead of never.
#include <limits>

#include "kernels/kernel.h"
#include "kernels/util/control_util.h"

namespace pier::kernels {

namespace {

class LoopKernel final : public OpKernel {
 public:
  explicit LoopKernel(const KernelInit& init) : body_(init.compile_subgraph("body")) {
    const auto& node = init.node;
    if (node.num_inputs() < 2)
      throw Error(ErrorCode::kInvalidModel, "Loop needs inputs (M, cond, ...), got " + std::to_string(node.num_inputs()));
    carried_ = static_cast<size_t>(node.num_inputs() - 2);
    if (body_->num_inputs() != carried_ + 2)
      throw Error(ErrorCode::kInvalidModel, "Loop body takes " + std::to_string(body_->num_inputs()) +
                                                " inputs, expected 2 + " + std::to_string(carried_) +
                                                " (iteration_num, cond, loop-carried values)");
    if (body_->num_outputs() < carried_ + 1)
      throw Error(ErrorCode::kInvalidModel, "Loop body returns " + std::to_string(body_->num_outputs()) +
                                                " values, expected at least 1 + " + std::to_string(carried_));
    scans_ = body_->num_outputs() - 1 - carried_;
    if (static_cast<size_t>(node.num_outputs()) > carried_ + scans_)
      throw Error(ErrorCode::kInvalidModel, "Loop has " + std::to_string(node.num_outputs()) +
                                                " outputs, its body provides " + std::to_string(carried_ + scans_));
    has_m_ = node.has_input(0);
    has_cond_ = node.has_input(1);
  }

  void compute(KernelContext& ctx) const override {
    int64_t max_trip = std::numeric_limits<int64_t>::max();
    if (has_m_) max_trip = control::scalar_int(ctx.input(0), "Loop trip count M");
    bool cond = has_cond_ ? control::scalar_bool(ctx.input(1), "Loop condition") : true;

    std::vector<Value> carried(carried_);
    for (size_t j = 0; j < carried_; ++j) carried[j] = ctx.value(static_cast<int>(j + 2));
    std::vector<std::vector<Tensor>> scans(scans_);

    for (int64_t it = 0; it < max_trip && cond; ++it) {
      ctx.check_deadline();  // the body may have no operators to check it
      std::vector<Value> in;
      in.reserve(carried_ + 2);
      in.emplace_back(Tensor::from_vector<int64_t>({it}, {}));
      Tensor c(DataType::kBool, {});
      c.data<bool>()[0] = cond;
      in.emplace_back(std::move(c));
      for (auto& v : carried) in.push_back(std::move(v));
      std::vector<Value> outs = body_->run(ctx, std::move(in));
      control::check_output_count(outs, body_->num_outputs(), "Loop body");
      cond = control::scalar_bool(control::output_tensor(outs, 0, "Loop body"), "Loop body condition");
      for (size_t j = 0; j < carried_; ++j) carried[j] = std::move(outs[1 + j]);
      for (size_t k = 0; k < scans_; ++k)
        scans[k].push_back(control::output_tensor(outs, 1 + carried_ + k, "Loop body"));
    }

    for (size_t j = 0; j < carried_; ++j)
      if (ctx.wants_output(static_cast<int>(j))) ctx.set_output(static_cast<int>(j), std::move(carried[j]));
    for (size_t k = 0; k < scans_; ++k) {
      const int o = static_cast<int>(carried_ + k);
      if (!ctx.wants_output(o)) continue;
      if (scans[k].empty()) {
        ctx.set_output(o, control::empty_stack(&body_->graph().outputs[1 + carried_ + k], 0));
      } else {
        ctx.set_output(o, control::stack(scans[k], 0, ctx.threads(), "Loop scan output"));
      }
    }
  }

 private:
  std::shared_ptr<const Subgraph> body_;
  size_t carried_ = 0, scans_ = 0;
  bool has_m_ = false, has_cond_ = false;
};

}  // namespace

void register_kernels_control_loop(KernelRegistry& r) {
  // Versions 1, 11, 13 and 16 differ in the types they admit (sequences
  // from 13, optionals from 16) and in shape-inference rules only.
  r.add("", "Loop", 1, 10, make_factory<LoopKernel>());
  r.add("", "Loop", 11, 12, make_factory<LoopKernel>());
  r.add("", "Loop", 13, 15, make_factory<LoopKernel>());
  r.add("", "Loop", 16, kOpenEnded, make_factory<LoopKernel>());
}

}  // namespace pier::kernels
