// Reads an ONNX model, validates it (onnx checker, shape inference, kernel
// coverage) and converts it to Pier's IR.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ir/graph.h"
#include "pier/engine.h"

namespace pier::ir {

struct LoadedModel {
  ModelInfo info;
  std::shared_ptr<Graph> graph;
};

enum class Unsupported {
  kThrow,   // an operator without a kernel is an error (for sessions)
  kRecord,  // list it in info.unsupported (for inspection and registration)
};

LoadedModel load_model_file(const std::string& path, Unsupported policy);
LoadedModel load_model_bytes(std::string_view bytes, const std::string& base_dir, Unsupported policy);

}  // namespace pier::ir
