#include <cstdio>
#include <cstdlib>
#include <string>

#include "passes/passes.h"

namespace pier::passes {

namespace {

void count_uses(const ir::Graph& g, std::unordered_map<std::string, int>& uses) {
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) uses[in]++;
    for (const auto& a : n.attrs) {
      if (a.g) count_uses(*a.g, uses);
      for (const auto& sg : a.graphs) count_uses(*sg, uses);
    }
  }
  for (const auto& o : g.outputs) uses[o.name]++;
}

void dump(const ir::Graph& g, const char* pass) {
  std::fprintf(stderr, "[pier-graph] after %s: %zu nodes, %zu initializers\n", pass, g.nodes.size(),
               g.initializers.size());
  for (const auto& n : g.nodes) {
    std::string line = "  " + n.op_type + " " + n.name + " (";
    for (size_t i = 0; i < n.inputs.size(); ++i) line += (i ? ", " : "") + n.inputs[i];
    line += ") -> (";
    for (size_t i = 0; i < n.outputs.size(); ++i) line += (i ? ", " : "") + n.outputs[i];
    std::fprintf(stderr, "%s)\n", line.c_str());
  }
}

}  // namespace

std::unordered_map<std::string, int> use_counts(const ir::Graph& g) {
  std::unordered_map<std::string, int> uses;
  count_uses(g, uses);
  return uses;
}

void optimize(ir::Graph& g, int level) {
  if (level <= 0) return;
  const char* env = std::getenv("PIER_DUMP_GRAPH");
  const bool verbose = env && *env && std::string(env) != "0";
  auto run = [&](const char* name, bool (*pass)(ir::Graph&)) {
    bool changed = pass(g);
    if (changed && verbose) dump(g, name);
    return changed;
  };
  run("constant_to_initializer", constant_to_initializer);
  // Folding and shape propagation feed each other (a folded Reshape target
  // gives a static shape, whose Shape then folds): up to 64 rounds.
  for (int iter = 0; iter < 64; ++iter) {
    bool changed = false;
    changed |= run("eliminate_identity", eliminate_identity);
    changed |= run("eliminate_dead_code", eliminate_dead_code);
    changed |= run("fold_shape", fold_shape);
    changed |= run("constant_folding", constant_folding);
    changed |= run("eliminate_transpose", eliminate_transpose);
    changed |= run("infer_shapes", infer_shapes);
    if (!changed) break;
  }
  // Transformer fusions (each to completion in one call).
  run("fuse_layernorm", fuse_layernorm);
  run("fuse_gelu", fuse_gelu);
  run("fuse_attention", fuse_attention);
  run("fuse_matmul_add", fuse_matmul_add);
  run("fuse_matmul_activation", fuse_matmul_activation);
  // Convolution fusions, then the channels-last layout over conv regions.
  run("fold_conv_bn", fold_conv_bn);
  run("fuse_conv_activation", fuse_conv_activation);
  run("fuse_conv_pad", fuse_conv_pad);
  run("layout_channels_last", layout_channels_last);
  run("eliminate_dead_code", eliminate_dead_code);
  // Last: decides in-place accumulation from the final consumers.
  run("mark_conv_sum_inplace", mark_conv_sum_inplace);
}

}  // namespace pier::passes
