// Reading and writing tensors as NumPy .npy files and as ONNX protobuf
// files (TensorProto, SequenceProto, OptionalProto), as in ONNX's backend
// test data.
#pragma once

#include <string>

#include "pier/engine.h"

namespace pier {

// .npy: all numeric types, bool, float16, and unicode ('<U') or bytes
// ('|S') strings. Big-endian and Fortran-order arrays are converted.
Tensor read_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes, const std::string& label);
// bfloat16 has no NumPy type: it is written as float32 (exact).
void write_npy(const std::string& path, const Tensor& t);
std::string encode_npy(const Tensor& t);

// Protobuf files. Which message the file holds is not recorded in it, so the
// caller says what it expects: `kind` kSequence reads a SequenceProto,
// `optional` an OptionalProto; otherwise a TensorProto.
Value read_pb(const std::string& path, Value::Kind kind = Value::Kind::kTensor, bool optional = false);
void write_pb(const std::string& path, const Value& v, const std::string& name = {}, bool optional = false);

// Reads FILE by its extension: ".npy" as NumPy, anything else as protobuf
// of the type `expected` describes (a plain tensor when null).
Value read_value_file(const std::string& path, const ValueInfo* expected = nullptr);

}  // namespace pier
