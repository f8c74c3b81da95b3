// Scan: iterates a body over slices of its scan inputs, carrying state.
//
// Opset 8: inputs (sequence_lens?, states..., scan_inputs...) with a batch
// axis 0 and the scan axis 1; each batch entry is scanned separately and
// scan outputs are zero-padded up to the longest sequence.
// Opset 9+: inputs (states..., scan_inputs...) with per-input scan axes
// and directions, and per-output axes and directions (prepend/append).
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/control_util.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

std::vector<int64_t> flags(const ir::Node& node, const std::string& name, size_t n, bool binary) {
  std::vector<int64_t> v = node.attr_ints(name);
  if (v.empty()) return std::vector<int64_t>(n, 0);
  if (v.size() != n)
    throw Error(ErrorCode::kInvalidModel, "Scan attribute " + name + " has " + std::to_string(v.size()) +
                                              " values, expected " + std::to_string(n));
  if (binary)
    for (int64_t x : v)
      if (x != 0 && x != 1)
        throw Error(ErrorCode::kInvalidModel, "Scan attribute " + name + " values must be 0 or 1");
  return v;
}

class ScanKernel final : public OpKernel {
 public:
  explicit ScanKernel(const KernelInit& init) : body_(init.compile_subgraph("body")) {
    const auto& node = init.node;
    v8_ = node.since_version < 9;
    const int64_t m = node.req_int("num_scan_inputs");
    const int64_t first = v8_ ? 1 : 0;
    if (m < 1 || m > node.num_inputs() - first)
      throw Error(ErrorCode::kInvalidModel, "Scan num_scan_inputs " + std::to_string(m) + " does not fit the " +
                                                std::to_string(node.num_inputs()) + " inputs");
    scan_in_ = static_cast<size_t>(m);
    states_ = static_cast<size_t>(node.num_inputs() - first - m);
    if (static_cast<size_t>(node.num_outputs()) < states_)
      throw Error(ErrorCode::kInvalidModel, "Scan has fewer outputs than state variables");
    if (body_->num_inputs() != states_ + scan_in_)
      throw Error(ErrorCode::kInvalidModel, "Scan body takes " + std::to_string(body_->num_inputs()) +
                                                " inputs, expected " + std::to_string(states_ + scan_in_));
    if (body_->num_outputs() < states_)
      throw Error(ErrorCode::kInvalidModel, "Scan body returns fewer values than there are state variables");
    scan_out_ = body_->num_outputs() - states_;
    if (static_cast<size_t>(node.num_outputs()) > states_ + scan_out_)
      throw Error(ErrorCode::kInvalidModel, "Scan has more outputs than its body provides");
    if (v8_) {
      in_dirs_ = flags(node, "directions", scan_in_, true);
    } else {
      in_dirs_ = flags(node, "scan_input_directions", scan_in_, true);
      in_axes_ = flags(node, "scan_input_axes", scan_in_, false);
      out_dirs_ = flags(node, "scan_output_directions", scan_out_, true);
      out_axes_ = flags(node, "scan_output_axes", scan_out_, false);
    }
  }

  void compute(KernelContext& ctx) const override {
    if (v8_) compute_v8(ctx);
    else compute_v9(ctx);
  }

 private:
  const ValueInfo* out_info(size_t k) const { return &body_->graph().outputs[states_ + k]; }

  // Runs the body once; updates `states` and appends the scan elements.
  void step(KernelContext& ctx, std::vector<Value>& states, std::vector<Tensor> elems,
            std::vector<std::vector<Tensor>>& scans) const {
    std::vector<Value> in;
    in.reserve(states_ + scan_in_);
    for (auto& s : states) in.push_back(std::move(s));
    for (auto& e : elems) in.emplace_back(std::move(e));
    std::vector<Value> outs = body_->run(ctx, std::move(in));
    control::check_output_count(outs, body_->num_outputs(), "Scan body");
    for (size_t j = 0; j < states_; ++j) states[j] = std::move(outs[j]);
    for (size_t k = 0; k < scan_out_; ++k) scans[k].push_back(control::output_tensor(outs, states_ + k, "Scan body"));
  }

  void compute_v9(KernelContext& ctx) const {
    std::vector<Tensor> xs;
    std::vector<int64_t> axes;
    int64_t len = -1;
    for (size_t m = 0; m < scan_in_; ++m) {
      const Tensor& x = ctx.input(static_cast<int>(states_ + m));
      if (x.rank() < 1) throw Error(ErrorCode::kInvalidArgument, "Scan input " + std::to_string(m) + " is a scalar");
      const int64_t a = normalize_axis(in_axes_[m], x.rank(), "scan_input_axes");
      if (len >= 0 && x.shape()[a] != len)
        throw Error(ErrorCode::kInvalidArgument, "Scan inputs have different sequence lengths (" + std::to_string(len) +
                                                     " and " + std::to_string(x.shape()[a]) + ")");
      len = x.shape()[a];
      xs.push_back(x);
      axes.push_back(a);
    }
    std::vector<Value> states(states_);
    for (size_t j = 0; j < states_; ++j) states[j] = ctx.value(static_cast<int>(j));
    std::vector<std::vector<Tensor>> scans(scan_out_);
    for (int64_t t = 0; t < len; ++t) {
      std::vector<Tensor> elems;
      for (size_t m = 0; m < scan_in_; ++m)
        elems.push_back(control::select(xs[m], axes[m], in_dirs_[m] ? len - 1 - t : t));
      step(ctx, states, std::move(elems), scans);
    }
    for (size_t j = 0; j < states_; ++j)
      if (ctx.wants_output(static_cast<int>(j))) ctx.set_output(static_cast<int>(j), std::move(states[j]));
    for (size_t k = 0; k < scan_out_; ++k) {
      const int o = static_cast<int>(states_ + k);
      if (!ctx.wants_output(o)) continue;
      auto& items = scans[k];
      if (items.empty()) {
        const ValueInfo* info = out_info(k);
        const int64_t r = info->has_shape ? static_cast<int64_t>(info->dims.size()) + 1 : 1;
        ctx.set_output(o, control::empty_stack(info, normalize_axis(out_axes_[k], r, "scan_output_axes")));
        continue;
      }
      if (out_dirs_[k]) std::reverse(items.begin(), items.end());
      const int64_t a = normalize_axis(out_axes_[k], items[0].rank() + 1, "scan_output_axes");
      ctx.set_output(o, control::stack(items, a, ctx.threads(), "Scan output"));
    }
  }

  void compute_v8(KernelContext& ctx) const {
    std::vector<Tensor> xs;
    int64_t batch = -1, max_len = -1;
    for (size_t m = 0; m < scan_in_; ++m) {
      const Tensor& x = ctx.input(static_cast<int>(1 + states_ + m));
      if (x.rank() < 2)
        throw Error(ErrorCode::kInvalidArgument, "Scan (opset 8) inputs need a batch and a sequence axis, got shape " +
                                                     shape_str(x.shape()));
      if ((batch >= 0 && x.dim(0) != batch) || (max_len >= 0 && x.dim(1) != max_len))
        throw Error(ErrorCode::kInvalidArgument, "Scan inputs disagree on batch size or sequence length");
      batch = x.dim(0);
      max_len = x.dim(1);
      xs.push_back(x);
    }
    std::vector<int64_t> lens(static_cast<size_t>(batch), max_len);
    if (ctx.has_input(0)) {
      std::vector<int64_t> v = to_int64_vector(ctx.input(0));
      if (static_cast<int64_t>(v.size()) != batch)
        throw Error(ErrorCode::kInvalidArgument, "Scan sequence_lens has " + std::to_string(v.size()) +
                                                     " values, the batch size is " + std::to_string(batch));
      for (int64_t l : v)
        if (l < 0 || l > max_len)
          throw Error(ErrorCode::kInvalidArgument, "Scan sequence length " + std::to_string(l) + " outside [0, " +
                                                       std::to_string(max_len) + "]");
      lens = v;
    }
    std::vector<Tensor> inits;
    for (size_t j = 0; j < states_; ++j) {
      const Tensor& s = ctx.input(static_cast<int>(1 + j));
      if (s.rank() < 1 || s.dim(0) != batch)
        throw Error(ErrorCode::kInvalidArgument, "Scan initial state " + std::to_string(j) + " of shape " +
                                                     shape_str(s.shape()) + " lacks the batch axis of size " +
                                                     std::to_string(batch));
      inits.push_back(s);
    }

    std::vector<std::vector<Tensor>> final_states(states_);
    std::vector<std::vector<std::vector<Tensor>>> per_batch(static_cast<size_t>(batch),
                                                            std::vector<std::vector<Tensor>>(scan_out_));
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Value> states;
      for (const auto& s : inits) states.emplace_back(control::select(s, 0, b));
      std::vector<Tensor> rows;
      for (const auto& x : xs) rows.push_back(control::select(x, 0, b));
      const int64_t n = lens[b];
      for (int64_t t = 0; t < n; ++t) {
        std::vector<Tensor> elems;
        for (size_t m = 0; m < scan_in_; ++m) elems.push_back(control::select(rows[m], 0, in_dirs_[m] ? n - 1 - t : t));
        step(ctx, states, std::move(elems), per_batch[b]);
      }
      for (size_t j = 0; j < states_; ++j) {
        if (!states[j].is_tensor()) throw Error(ErrorCode::kInvalidArgument, "Scan state values must be tensors");
        final_states[j].push_back(states[j].tensor());
      }
    }

    for (size_t j = 0; j < states_; ++j) {
      if (!ctx.wants_output(static_cast<int>(j))) continue;
      ctx.set_output(static_cast<int>(j), batch == 0 ? inits[j] : control::stack(final_states[j], 0, ctx.threads(), "Scan state"));
    }
    for (size_t k = 0; k < scan_out_; ++k) {
      const int o = static_cast<int>(states_ + k);
      if (!ctx.wants_output(o)) continue;
      // The element shape: from any iteration, else from the declared type.
      const Tensor* proto = nullptr;
      for (const auto& pb : per_batch)
        if (!pb[k].empty()) {
          proto = &pb[k][0];
          break;
        }
      if (!proto) {
        Tensor e = control::empty_stack(out_info(k), 0);
        Shape s = e.shape();
        s[0] = max_len;
        s.insert(s.begin(), batch);
        ctx.set_output(o, Tensor::zeros(e.dtype(), s));
        continue;
      }
      const Tensor pad = control::zeros_like(*proto);
      std::vector<Tensor> all;
      all.reserve(static_cast<size_t>(batch * max_len));
      for (auto& pb : per_batch) {
        for (auto& t : pb[k]) all.push_back(std::move(t));
        for (int64_t t = static_cast<int64_t>(pb[k].size()); t < max_len; ++t) all.push_back(pad);
      }
      Tensor stacked = control::stack(all, 0, ctx.threads(), "Scan output");
      Shape s = stacked.shape();
      s[0] = max_len;
      s.insert(s.begin(), batch);
      ctx.set_output(o, stacked.reshaped(s));
    }
  }

  std::shared_ptr<const Subgraph> body_;
  bool v8_ = false;
  size_t states_ = 0, scan_in_ = 0, scan_out_ = 0;
  std::vector<int64_t> in_dirs_, in_axes_, out_dirs_, out_axes_;
};

}  // namespace

void register_kernels_control_scan(KernelRegistry& r) {
  r.add("", "Scan", 8, 8, make_factory<ScanKernel>());
  // 9, 11 and 16 differ in allowed axis ranges and types only.
  r.add("", "Scan", 9, 10, make_factory<ScanKernel>());
  r.add("", "Scan", 11, 15, make_factory<ScanKernel>());
  r.add("", "Scan", 16, kOpenEnded, make_factory<ScanKernel>());
}

}  // namespace pier::kernels
