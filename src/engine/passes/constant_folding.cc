// Evaluates, at session creation, every node whose inputs are all
// constants, with the engine's own kernels, and turns its outputs into
// initializers.
//
// Never folded: random ops (their value must change per run), nodes with
// subgraphs, non-ONNX domains, nodes whose outputs are not tensors, and
// results that would grow memory: a result larger than 1 MiB is kept only
// when it is no larger than the node's inputs (a transposed or cast weight),
// so a ConstantOfShape/Expand/Tile of a huge shape stays a runtime op.
// A node whose evaluation fails is left alone (it fails at run time as
// before).
#include <algorithm>
#include <cstdint>
#include <unordered_set>

#include "exec/program.h"
#include "passes/pass_util.h"
#include "passes/passes.h"

namespace pier::passes {

namespace {

constexpr size_t kSmallResultBytes = size_t{1} << 20;

bool never_fold(const ir::Node& n) {
  static const std::unordered_set<std::string> kRandom = {
      "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"};
  return !n.domain.empty() || kRandom.count(n.op_type) || has_subgraph(n) || n.op_type == "Constant";
}

size_t value_bytes(const Tensor& t) {
  return t.dtype() == DataType::kString ? static_cast<size_t>(t.numel()) * 32 : t.nbytes();
}

// The size of n's outputs from their static shapes (saturating); 0 when
// some shape is not fully known.
size_t static_bytes(const ir::Graph& g, const ir::Node& n) {
  size_t total = 0;
  for (const auto& o : n.outputs) {
    const ValueInfo* vi = o.empty() ? nullptr : g.info(o);
    if (!vi || !vi->has_shape || vi->dtype == DataType::kUndefined) return 0;
    size_t bytes = vi->dtype == DataType::kString ? 32 : dtype_size(vi->dtype);
    for (int64_t d : vi->dims) {
      if (d < 0) return 0;
      if (d != 0 && bytes > SIZE_MAX / static_cast<size_t>(d)) return SIZE_MAX;
      bytes *= static_cast<size_t>(d);
    }
    total = bytes > SIZE_MAX - total ? SIZE_MAX : total + bytes;
  }
  return total;
}

// Runs `n` on its constant inputs; returns its outputs (one per output
// name, undefined for unused ones), or an empty vector when it cannot be
// folded.
std::vector<Tensor> evaluate(const ir::Graph& g, const ir::Node& n, size_t in_bytes) {
  ir::Graph sub;
  sub.name = "constant_folding";
  sub.opsets = g.opsets;
  for (const auto& in : n.inputs) {
    if (in.empty() || sub.initializers.count(in)) continue;
    sub.initializers[in] = *g.initializer(in);
    if (const ValueInfo* vi = g.info(in)) sub.value_info[in] = *vi;
  }
  sub.nodes.push_back(n);
  for (const auto& o : n.outputs) {
    if (o.empty()) continue;
    ValueInfo vi;
    vi.name = o;
    if (const ValueInfo* known = g.info(o)) vi = *known;
    sub.outputs.push_back(vi);
  }
  std::vector<Value> outs;
  try {
    SessionOptions opts;
    opts.threads = 1;
    opts.optimization_level = 0;
    exec::Program prog(sub, nullptr, opts);
    outs = prog.execute(nullptr, {}, 1);
  } catch (const std::exception&) {
    return {};
  }
  std::vector<Tensor> result;
  size_t out_bytes = 0, k = 0;
  for (const auto& o : n.outputs) {
    if (o.empty()) {
      result.emplace_back();
      continue;
    }
    const Value& v = outs[k++];
    if (!v.is_tensor() || !v.tensor().defined()) return {};
    out_bytes += value_bytes(v.tensor());
    result.push_back(v.tensor());
  }
  if (out_bytes > kSmallResultBytes && out_bytes > in_bytes) return {};
  return result;
}

}  // namespace

bool constant_folding(ir::Graph& g) {
  std::unordered_set<std::string> overridable;
  for (const auto& in : g.inputs) overridable.insert(in.name);
  std::vector<bool> dead(g.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (never_fold(n) || n.outputs.empty()) continue;
    bool all_const = true, any_output = false;
    size_t in_bytes = 0;
    for (const auto& in : n.inputs) {
      if (in.empty()) continue;
      const Tensor* t = g.initializer(in);
      if (!t || overridable.count(in)) {
        all_const = false;
        break;
      }
      in_bytes += value_bytes(*t);
    }
    for (const auto& o : n.outputs) any_output = any_output || !o.empty();
    if (!all_const || !any_output) continue;
    // A result known to be too large to keep is not computed at all: a
    // ConstantOfShape of [2^32] would fill 16 GB while the session loads.
    if (static_bytes(g, n) > std::max(kSmallResultBytes, in_bytes)) continue;
    std::vector<Tensor> outs = evaluate(g, n, in_bytes);
    if (outs.empty()) continue;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const std::string& name = n.outputs[k];
      if (name.empty()) continue;
      ValueInfo vi;
      vi.name = name;
      vi.dtype = outs[k].dtype();
      vi.has_shape = true;
      vi.dims = outs[k].shape();
      vi.dim_params.assign(vi.dims.size(), "");
      g.value_info[name] = vi;
      g.initializers[name] = std::move(outs[k]);
    }
    dead[i] = true;
    changed = true;
  }
  if (changed) remove_nodes(g, dead);
  return changed;
}

}  // namespace pier::passes
