// SequenceMap: applies its body to each position of the input sequence(s).
// Sequence inputs are taken element by element (all must be as long as the
// first); tensor inputs are passed whole to every application. Each body
// output (a tensor) becomes one element of the corresponding output sequence.
#include "kernels/kernel.h"
#include "kernels/util/control_util.h"

namespace pier::kernels {

namespace {

class SequenceMapKernel final : public OpKernel {
 public:
  explicit SequenceMapKernel(const KernelInit& init) : body_(init.compile_subgraph("body")) {
    const auto& node = init.node;
    if (body_->num_inputs() != static_cast<size_t>(node.num_inputs()))
      throw Error(ErrorCode::kInvalidModel, "SequenceMap body takes " + std::to_string(body_->num_inputs()) +
                                                " inputs, the node has " + std::to_string(node.num_inputs()));
    if (body_->num_outputs() != static_cast<size_t>(node.num_outputs()))
      throw Error(ErrorCode::kInvalidModel, "SequenceMap body returns " + std::to_string(body_->num_outputs()) +
                                                " values, the node has " + std::to_string(node.num_outputs()) +
                                                " outputs");
    // Element types of the outputs, for empty results.
    for (int j = 0; j < node.num_outputs(); ++j) {
      DataType t = DataType::kUndefined;
      if (const ValueInfo* vi = init.output_info(j)) t = vi->dtype;
      if (t == DataType::kUndefined) t = body_->graph().outputs[static_cast<size_t>(j)].dtype;
      out_types_.push_back(t);
    }
  }

  void compute(KernelContext& ctx) const override {
    const Value& first = ctx.value(0);
    if (!first.is_sequence())
      throw Error(ErrorCode::kInvalidArgument, "SequenceMap: input 0 must be a sequence, got " +
                                                   control::value_kind(first));
    const size_t n = first.items().size();
    const int ni = ctx.num_inputs();
    for (int i = 1; i < ni; ++i) {
      const Value& v = ctx.value(i);
      if (v.is_none()) throw Error(ErrorCode::kInvalidArgument, "SequenceMap: input " + std::to_string(i) + " is missing");
      if (v.is_sequence() && v.items().size() != n)
        throw Error(ErrorCode::kInvalidArgument, "SequenceMap: input " + std::to_string(i) + " has " +
                                                     std::to_string(v.items().size()) + " elements, input 0 has " +
                                                     std::to_string(n));
    }
    const size_t no = out_types_.size();
    std::vector<std::vector<Tensor>> results(no);
    for (auto& r : results) r.reserve(n);
    for (size_t k = 0; k < n; ++k) {
      std::vector<Value> in;
      in.reserve(static_cast<size_t>(ni));
      for (int i = 0; i < ni; ++i) {
        const Value& v = ctx.value(i);
        if (v.is_sequence()) in.emplace_back(v.items()[k]);
        else in.push_back(v);
      }
      std::vector<Value> outs = body_->run(ctx, std::move(in));
      control::check_output_count(outs, no, "SequenceMap body");
      for (size_t j = 0; j < no; ++j) results[j].push_back(control::output_tensor(outs, j, "SequenceMap body"));
    }
    for (size_t j = 0; j < no; ++j) {
      DataType t = results[j].empty() ? out_types_[j] : results[j][0].dtype();
      for (const auto& r : results[j])
        if (r.dtype() != t)
          throw Error(ErrorCode::kInvalidArgument, "SequenceMap: body output " + std::to_string(j) +
                                                       " changes type between elements");
      if (ctx.wants_output(static_cast<int>(j)))
        ctx.set_output(static_cast<int>(j), Value::sequence(t, std::move(results[j])));
    }
  }

 private:
  std::shared_ptr<const Subgraph> body_;
  std::vector<DataType> out_types_;
};

}  // namespace

void register_kernels_sequence_sequence_map(KernelRegistry& r) {
  r.add("", "SequenceMap", 17, kOpenEnded, make_factory<SequenceMapKernel>());
}

}  // namespace pier::kernels
