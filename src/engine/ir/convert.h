// ONNX GraphProto -> ir::Graph, with function inlining: calls of
// model-local functions, and of ONNX ops that have a function body but no
// Pier kernel, are replaced by their bodies.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "ir/graph.h"
#include "onnx/onnx_pb.h"

namespace pier::ir {

using OpsetMap = std::unordered_map<std::string, int>;  // domain ("" = ai.onnx) -> version

struct ConvertContext {
  // "domain::name" -> model-local function.
  std::map<std::string, const onnx::FunctionProto*> local_functions;
  // Types known from shape inference, for context-dependent function bodies.
  std::unordered_map<std::string, const onnx::TypeProto*> types;
  int fresh = 0;  // counter for unique names of inlined values
};

// Normalizes "ai.onnx" to "".
std::string normalize_domain(const std::string& domain);

std::shared_ptr<Graph> convert_graph(const onnx::GraphProto& g, const OpsetMap& opsets, ConvertContext& ctx);

// Converts one attribute (graphs recursively).
Attribute convert_attribute(const onnx::AttributeProto& a, const OpsetMap& opsets, ConvertContext& ctx);

}  // namespace pier::ir
