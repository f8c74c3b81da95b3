// Conversions between ONNX protobuf messages and Pier's types. Only the
// loader and tensor I/O include this header (it pulls in protobuf).
#pragma once

#include <string>

#include "onnx/onnx_pb.h"
#include "pier/engine.h"

namespace pier::ir {

// Decodes a TensorProto whose data is inline (external data must be
// resolved first). Raises kInvalidModel naming `what` on malformed data.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& what);
// Encodes a tensor (raw_data for numeric types, string_data for strings).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

// A TypeProto as Pier's ValueInfo. map(K, V) and seq(map(K, V)) with a
// tensor value type V become kMap / kMapSequence with key_dtype K and dtype
// V's element type.
ValueInfo value_info_from_type(const std::string& name, const onnx::TypeProto& type);
// Fills a TypeProto from a Value (used to describe runtime values).
void type_from_value_info(const ValueInfo& info, onnx::TypeProto* type);

}  // namespace pier::ir
