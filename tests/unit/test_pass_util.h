// Helpers for graph-pass tests: the optimized graph of a model (to check
// what was rewritten) and outputs at optimization level 0 vs 2.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "ir/loader.h"
#include "passes/passes.h"
#include "test_util.h"

namespace pier::test {

// Op type counts ("Domain::Op" for non-ONNX domains) after optimize().
inline std::map<std::string, int> optimized_ops(const ModelBuilder& mb, int level = 2) {
  auto loaded = ir::load_model_bytes(mb.bytes(), "", ir::Unsupported::kThrow);
  passes::optimize(*loaded.graph, level);
  std::map<std::string, int> ops;
  for (const auto& n : loaded.graph->nodes) ops[n.domain.empty() ? n.op_type : n.op_type + "@" + n.domain]++;
  return ops;
}

inline int count(const std::map<std::string, int>& ops, const std::string& op) {
  auto it = ops.find(op);
  if (it != ops.end()) return it->second;
  it = ops.find(op + "@pier.internal");
  return it == ops.end() ? 0 : it->second;
}

inline std::vector<Value> run_level(const ModelBuilder& mb, int level, const std::vector<Value>& inputs,
                                    int threads = 1) {
  SessionOptions o;
  o.optimization_level = level;
  o.threads = threads;
  return Session::load_from_memory(mb.bytes(), o)->run(inputs);
}

// Runs at level 0 and level 2 and checks every output agrees.
inline void expect_same_outputs(const ModelBuilder& mb, const std::vector<Value>& inputs, double rtol = 1e-5,
                                double atol = 1e-5, int threads = 1) {
  auto want = run_level(mb, 0, inputs, threads);
  auto got = run_level(mb, 2, inputs, threads);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(tensors_near(got[i].tensor(), want[i].tensor(), rtol, atol)) << "output " << i;
}

inline Tensor scalar(float v) { return Tensor::from_vector<float>({v}, {}); }
inline Tensor ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(v, {n});
}

}  // namespace pier::test
