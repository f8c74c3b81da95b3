// Checks a model must pass before onnx's checker and shape inference see
// it. onnx 1.12's inference trusts the data it reads: it copies raw_data
// into a vector sized from the data itself (a heap overflow when the size
// is not a multiple of the element size), divides by attributes without
// checking them (SIGFPE) and indexes input dims by position (a fault on a
// weight of too low rank). Each check raises kInvalidModel naming the
// tensor or node and the bad value.
#pragma once

#include <string>

#include "onnx/onnx_pb.h"

namespace pier::ir {

// The number of elements of a TensorProto's dims: each dim non-negative and
// the product at most 2^40. Raises kInvalidModel naming `what`.
int64_t proto_numel(const onnx::TensorProto& t, const std::string& what);

// A TensorProto's dtype is known and its data (raw_data or the typed field)
// holds exactly the elements its dims call for. External data must be
// resolved first.
void check_tensor_proto(const onnx::TensorProto& t, const std::string& what);

// Every tensor of the model (initializers, sparse initializers, tensor
// attributes, in subgraphs and local functions too), and the node
// attributes onnx's inference uses unchecked.
void validate_before_inference(const onnx::ModelProto& model, const std::string& label);

}  // namespace pier::ir
