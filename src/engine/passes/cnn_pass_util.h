// Helpers shared by the convolution passes (fold_conv_bn, fuse_conv_*,
// layout_channels_last): who produces and who reads each value, safe access
// to constant initializers, and construction of Pier's internal nodes.
//
// Internal ops live in the domain "pier.internal" (kInternalDomain) with
// since_version 1; they exist only after the passes ran and are never
// written to a model file.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "passes/pass_util.h"

namespace pier::passes {

// The same domain as pass_util.h's kPierDomain.
inline constexpr const char* kInternalDomain = kPierDomain;

// A snapshot of the graph's data flow (rebuild it after editing the graph).
struct FlowIndex {
  explicit FlowIndex(const ir::Graph& g);
  // Index of the node producing `value`, or -1 (graph input, initializer).
  int producer(const std::string& value) const;
  // Nodes of this graph reading `value` (one entry per node, in order).
  const std::vector<int>& consumers(const std::string& value) const;
  // All reads of `value`: node inputs, subgraph captures and graph outputs.
  int uses(const std::string& value) const;
  // Read by a subgraph (If/Loop/Scan body) or a graph output.
  bool escapes(const std::string& value) const { return escaping.count(value) != 0; }

  std::unordered_map<std::string, int> producers;
  std::unordered_map<std::string, std::vector<int>> readers;
  std::unordered_map<std::string, int> use_count;
  std::unordered_set<std::string> escaping;
};

// constant(), set_attr() and internal_node() come from pass_util.h.

// True when the node is the ONNX op `op` (default domain).
inline bool is_onnx(const ir::Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }
inline bool is_internal(const ir::Node& n, const char* op) {
  return n.domain == kInternalDomain && n.op_type == op;
}

// Hands out value names that no value of the graph (or earlier call) uses.
class NameGen {
 public:
  explicit NameGen(const ir::Graph& g);
  std::string operator()(const std::string& base);

 private:
  std::unordered_set<std::string> taken_;
};

// In-place attribute removal (constructors and set_attr: pass_util.h).
void remove_attr(ir::Node& n, const std::string& name);

// Float32 value_info of `value` (nullptr when unknown or not float32).
const ValueInfo* float_info(const ir::Graph& g, const std::string& value);
// Rank of `value` from its value_info, or -1.
int known_rank(const ir::Graph& g, const std::string& value);
// Records the type/shape of `value` (copying `like`, renamed).
void set_info(ir::Graph& g, const std::string& value, ValueInfo like);

// A Pad whose (constant) pads are all zero: an identity.
bool zero_pad(const ir::Graph& g, const ir::Node& n);

// Float values of a float/double initializer (empty when another type).
std::vector<double> to_doubles(const Tensor& t);
// A tensor of `dtype` (float or double) with `shape` holding `v`.
Tensor from_doubles(const std::vector<double>& v, DataType dtype, const Shape& shape);

}  // namespace pier::passes
