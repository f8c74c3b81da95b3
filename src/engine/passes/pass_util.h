// Helpers shared by the rewriting passes: who produces and who reads each
// value, which values are true constants, scalar constants, and building
// and removing nodes.
//
// A "constant" is an initializer that is not also a graph input: an
// initializer listed among the inputs is only a default that a feed may
// override, so no pass may rely on its value.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace pier::passes {

// Domain of Pier's internal fused operators (FusedMatMul, FusedGemm, Gelu,
// Attention). Only passes create them; models cannot name them.
inline constexpr const char* kPierDomain = "pier.internal";

// Producers and readers of the values of one graph (a snapshot: rebuild it
// after changing the graph).
class GraphIndex {
 public:
  explicit GraphIndex(const ir::Graph& g);
  // Index of the node producing `v`, or -1 (graph input, initializer).
  int producer(const std::string& v) const;
  // Nodes of this graph reading `v` (a node reading it twice appears twice).
  const std::vector<int>& readers(const std::string& v) const;
  // All reads of `v`: by nodes, by subgraphs, and as a graph output.
  int uses(const std::string& v) const;
  bool is_graph_output(const std::string& v) const { return outputs_.count(v) > 0; }
  // True when `v` is read only by the nodes in `allowed` (each read counted)
  // and is not a graph output or read by a subgraph.
  bool only_read_by(const std::string& v, const std::vector<int>& allowed) const;

 private:
  std::unordered_map<std::string, int> producer_;
  std::unordered_map<std::string, std::vector<int>> readers_;
  std::unordered_map<std::string, int> uses_;
  std::unordered_map<std::string, bool> outputs_;
};

// The value of a constant (see above), or nullptr.
const Tensor* constant(const ir::Graph& g, const std::string& name);
// A constant with exactly one element of a floating or integer type, as
// double.
std::optional<double> scalar_constant(const ir::Graph& g, const std::string& name);
// Input `i` of binary elementwise node `n` as a scalar: a one-element
// constant that broadcasting against the other input cannot change the
// shape of (rank 0, or a rank no larger than the other input's known rank).
std::optional<double> broadcast_scalar(const ir::Graph& g, const ir::Node& n, int i);
// All elements of a numeric constant as double (empty optional otherwise).
std::optional<std::vector<double>> constant_values(const ir::Graph& g, const std::string& name);
// Integer elements of an int32/int64 constant.
std::optional<std::vector<int64_t>> int_constant(const ir::Graph& g, const std::string& name);

// Inferred element type and static dims of a value (nullopt when the shape
// is unknown or any dim is not a fixed number).
DataType value_type(const ir::Graph& g, const std::string& v);
std::optional<Shape> static_shape(const ir::Graph& g, const std::string& v);
// Rank when known (dims may be symbolic), else -1.
int value_rank(const ir::Graph& g, const std::string& v);

// A new node of Pier's internal domain.
ir::Node internal_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                       std::vector<std::string> outputs);
ir::Attribute int_attr(const std::string& name, int64_t v);
ir::Attribute float_attr(const std::string& name, float v);
ir::Attribute string_attr(const std::string& name, const std::string& v);
ir::Attribute ints_attr(const std::string& name, std::vector<int64_t> v);
ir::Attribute floats_attr(const std::string& name, std::vector<float> v);
ir::Attribute strings_attr(const std::string& name, std::vector<std::string> v);
// Sets (adds or replaces) an attribute.
void set_attr(ir::Node& n, ir::Attribute a);

// A value name not used in `g` yet, derived from `base`.
std::string fresh_name(const ir::Graph& g, const std::string& base);
// Adds a new constant initializer named fresh from `base`; returns its name.
std::string add_constant(ir::Graph& g, const std::string& base, Tensor t);

// Removes the nodes whose flag is set (keeps the order of the others).
void remove_nodes(ir::Graph& g, const std::vector<bool>& dead);

// True for an ONNX-domain node of type `op`.
inline bool is_op(const ir::Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }
// True when a node carries a subgraph attribute.
bool has_subgraph(const ir::Node& n);

}  // namespace pier::passes
