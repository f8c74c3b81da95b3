// Helpers for the control-flow, sequence and detection tests: building
// subgraphs (If/Loop/Scan/SequenceMap bodies) as ONNX protobuf.
#pragma once

#include <string>
#include <vector>

#include "ir/onnx_convert.h"
#include "onnx/onnx_pb.h"
#include "test_util.h"

namespace pier::test::ctl {

// A value declaration: tensor of `t` with `dims` (-1 unknown), or unknown
// rank when `ranked` is false.
inline onnx::ValueInfoProto tensor_info(const std::string& name, DataType t, std::vector<int64_t> dims = {},
                                        bool ranked = true) {
  onnx::ValueInfoProto vi;
  vi.set_name(name);
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(t));
  if (ranked) {
    auto* s = tt->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = s->add_dim();
      if (d >= 0) dim->set_dim_value(d);
    }
  }
  return vi;
}

inline onnx::ValueInfoProto sequence_info(const std::string& name, DataType t) {
  onnx::ValueInfoProto vi;
  vi.set_name(name);
  vi.mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(
      static_cast<int32_t>(t));
  return vi;
}

// optional(tensor(t)) or optional(seq(tensor(t))).
inline onnx::ValueInfoProto optional_info(const std::string& name, DataType t, bool of_sequence = false) {
  onnx::ValueInfoProto vi;
  vi.set_name(name);
  auto* elem = vi.mutable_type()->mutable_optional_type()->mutable_elem_type();
  if (of_sequence) elem = elem->mutable_sequence_type()->mutable_elem_type();
  elem->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(t));
  return vi;
}

inline onnx::NodeProto node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                            std::vector<onnx::AttributeProto> attrs = {}) {
  static int counter = 0;
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(op + "_sub" + std::to_string(counter++));
  for (auto& i : inputs) n.add_input(i);
  for (auto& o : outputs) n.add_output(o);
  for (auto& a : attrs) *n.add_attribute() = a;
  return n;
}

// A Constant node producing `t` as `name`.
inline onnx::NodeProto constant(const std::string& name, const Tensor& t) {
  return node("Constant", {}, {name}, {attr("value", t)});
}

inline onnx::GraphProto graph(const std::string& name, std::vector<onnx::NodeProto> nodes,
                              std::vector<onnx::ValueInfoProto> inputs, std::vector<onnx::ValueInfoProto> outputs) {
  onnx::GraphProto g;
  g.set_name(name);
  for (auto& n : nodes) *g.add_node() = n;
  for (auto& i : inputs) *g.add_input() = i;
  for (auto& o : outputs) *g.add_output() = o;
  return g;
}

// Adds a declared input/output of any type to a ModelBuilder's graph.
inline void add_input(ModelBuilder& b, const onnx::ValueInfoProto& vi) { *b.graph().add_input() = vi; }
inline void add_output(ModelBuilder& b, const onnx::ValueInfoProto& vi) { *b.graph().add_output() = vi; }

// A TYPE_PROTO attribute naming tensor(t) or seq(tensor(t)).
inline onnx::AttributeProto type_attr(const std::string& name, DataType t, bool of_sequence = false) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::TYPE_PROTO);
  onnx::TypeProto* tp = a.mutable_tp();
  if (of_sequence) tp = tp->mutable_sequence_type()->mutable_elem_type();
  tp->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(t));
  return a;
}

inline Tensor scalar_i64(int64_t v) { return Tensor::from_vector<int64_t>({v}, {}); }
inline Tensor scalar_bool(bool v) {
  Tensor t(DataType::kBool, {});
  t.data<bool>()[0] = v;
  return t;
}

}  // namespace pier::test::ctl
