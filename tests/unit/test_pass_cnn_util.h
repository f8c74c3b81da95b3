// Helpers for the convolution pass tests: the optimized graph of a model,
// op counts, and runs at optimization level 0 vs 2.
#pragma once

#include <string>
#include <vector>

#include "ir/loader.h"
#include "passes/passes.h"
#include "test_util.h"

namespace pier::test {

// The graph after all passes (level 2).
inline std::shared_ptr<ir::Graph> optimized_graph(const ModelBuilder& b) {
  auto m = ir::load_model_bytes(b.bytes(), "", ir::Unsupported::kThrow);
  passes::optimize(*m.graph, 2);
  return m.graph;
}

inline int count_ops(const ir::Graph& g, const std::string& op, const std::string& domain = "") {
  int n = 0;
  for (const auto& node : g.nodes) n += node.op_type == op && node.domain == domain;
  return n;
}

inline const ir::Node* find_op(const ir::Graph& g, const std::string& op, const std::string& domain = "pier.internal") {
  for (const auto& node : g.nodes)
    if (node.op_type == op && node.domain == domain) return &node;
  return nullptr;
}

inline std::vector<Value> run_level(const ModelBuilder& b, int level, const std::vector<Value>& feeds, int threads = 1) {
  SessionOptions o;
  o.threads = threads;
  o.optimization_level = level;
  return Session::load_from_memory(b.bytes(), o)->run(feeds);
}

// Runs at level 0 and 2 and expects the same outputs within `rtol`.
inline void expect_same_as_unoptimized(const ModelBuilder& b, const std::vector<Value>& feeds, double rtol = 1e-4,
                                       double atol = 1e-5, int threads = 1) {
  const auto want = run_level(b, 0, feeds, threads);
  const auto got = run_level(b, 2, feeds, threads);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(tensors_near(got[i].tensor(), want[i].tensor(), rtol, atol)) << "output " << i;
}

}  // namespace pier::test
