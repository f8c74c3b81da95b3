#include <fstream>
#include <sstream>

#include "ir/onnx_convert.h"
#include "onnx/onnx-data.pb.h"
#include "pier/tensor_io.h"

namespace pier {

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIO, path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

template <typename Msg>
void parse(const std::string& path, Msg& m, const char* what) {
  std::string bytes = read_all(path);
  if (!m.ParseFromString(bytes))
    throw Error(ErrorCode::kInvalidArgument, path + ": cannot parse as an ONNX " + what);
}

Value from_sequence(const onnx::SequenceProto& s, const std::string& label) {
  if (s.elem_type() != onnx::SequenceProto::TENSOR && s.elem_type() != onnx::SequenceProto::UNDEFINED)
    throw Error(ErrorCode::kUnsupported, label + ": only sequences of tensors are supported");
  std::vector<Tensor> items;
  DataType elem = DataType::kUndefined;
  for (const auto& t : s.tensor_values()) {
    items.push_back(ir::tensor_from_proto(t, label));
    elem = items.back().dtype();
  }
  return Value::sequence(elem, std::move(items));
}

void to_sequence(const Value& v, onnx::SequenceProto* s, const std::string& name) {
  if (!name.empty()) s->set_name(name);
  s->set_elem_type(onnx::SequenceProto::TENSOR);
  for (const auto& t : v.items()) ir::tensor_to_proto(t, "", s->add_tensor_values());
}

void write_message(const std::string& path, const google::protobuf::Message& m) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorCode::kIO, path + ": cannot open for writing");
  if (!m.SerializeToOstream(&f)) throw Error(ErrorCode::kIO, path + ": write failed");
}

}  // namespace

Value read_pb(const std::string& path, Value::Kind kind, bool optional) {
  try {
    if (optional) {
      onnx::OptionalProto o;
      parse(path, o, "OptionalProto");
      if (o.has_tensor_value()) return Value(ir::tensor_from_proto(o.tensor_value(), path));
      if (o.has_sequence_value()) return from_sequence(o.sequence_value(), path);
      return Value::none();
    }
    if (kind == Value::Kind::kSequence) {
      onnx::SequenceProto s;
      parse(path, s, "SequenceProto");
      return from_sequence(s, path);
    }
    onnx::TensorProto t;
    parse(path, t, "TensorProto");
    return Value(ir::tensor_from_proto(t, path));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidModel) throw Error(ErrorCode::kInvalidArgument, e.what());
    throw;
  }
}

void write_pb(const std::string& path, const Value& v, const std::string& name, bool optional) {
  if (optional || v.is_none()) {
    onnx::OptionalProto o;
    if (!name.empty()) o.set_name(name);
    if (v.is_tensor()) {
      o.set_elem_type(onnx::OptionalProto::TENSOR);
      ir::tensor_to_proto(v.tensor(), "", o.mutable_tensor_value());
    } else if (v.is_sequence()) {
      o.set_elem_type(onnx::OptionalProto::SEQUENCE);
      to_sequence(v, o.mutable_sequence_value(), "");
    }
    write_message(path, o);
    return;
  }
  if (v.is_sequence()) {
    onnx::SequenceProto s;
    to_sequence(v, &s, name);
    write_message(path, s);
    return;
  }
  onnx::TensorProto t;
  ir::tensor_to_proto(v.tensor(), name, &t);
  write_message(path, t);
}

Value read_value_file(const std::string& path, const ValueInfo* expected) {
  Value v;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0) v = Value(read_npy(path));
  else if (!expected) return read_pb(path);
  else v = read_pb(path, expected->kind, expected->optional);
  // ONNX 1.12's test data (and numpy, which has no bfloat16) store bfloat16
  // bit patterns as uint16: take them as bfloat16 where that is declared.
  if (expected && expected->dtype == DataType::kBFloat16 && v.is_tensor() && v.tensor().dtype() == DataType::kUInt16) {
    const Tensor& t = v.tensor();
    v = Value(Tensor::wrap(DataType::kBFloat16, t.shape(), const_cast<void*>(t.raw()), std::make_shared<Tensor>(t)));
  }
  return v;
}

}  // namespace pier
