#include "ir/onnx_convert.h"

#include <cstring>

#include "ir/validate.h"

namespace pier::ir {

namespace {

[[noreturn]] void bad(const std::string& what, const std::string& why) {
  throw Error(ErrorCode::kInvalidModel, "tensor \"" + what + "\": " + why);
}

bool valid_dtype(int32_t t) { return t >= 1 && t <= 16; }

template <typename Dst, typename Src>
void copy_field(const Src& field, Tensor& t, const std::string& what) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    bad(what, "holds " + std::to_string(field.size()) + " values, shape " + shape_str(t.shape()) + " needs " +
                  std::to_string(t.numel()));
  auto* d = static_cast<Dst*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p, const std::string& what) {
  if (!valid_dtype(p.data_type())) bad(what, "unknown data type " + std::to_string(p.data_type()));
  auto dtype = static_cast<DataType>(p.data_type());
  Shape shape(p.dims().begin(), p.dims().end());
  // The dims and the data agree before anything is allocated: a few bytes
  // of protobuf may declare billions of (string) elements.
  check_tensor_proto(p, "tensor \"" + what + "\"");
  if (p.has_segment()) bad(what, "segmented tensors are not supported");
  if (p.data_location() == onnx::TensorProto::EXTERNAL) bad(what, "external data was not loaded");
  Tensor t(dtype, shape);
  if (dtype == DataType::kString) {
    if (static_cast<int64_t>(p.string_data_size()) != t.numel())
      bad(what, "holds " + std::to_string(p.string_data_size()) + " strings, shape needs " +
                    std::to_string(t.numel()));
    auto* s = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) s[i] = p.string_data(static_cast<int>(i));
    return t;
  }
  if (p.has_raw_data()) {
    if (p.raw_data().size() != t.nbytes())
      bad(what, "raw_data has " + std::to_string(p.raw_data().size()) + " bytes, shape " + shape_str(shape) +
                    " of " + dtype_name(dtype) + " needs " + std::to_string(t.nbytes()));
    if (t.nbytes()) std::memcpy(t.raw(), p.raw_data().data(), t.nbytes());
    return t;
  }
  switch (dtype) {
    case DataType::kFloat: copy_field<float>(p.float_data(), t, what); break;
    case DataType::kComplex64: {
      if (static_cast<int64_t>(p.float_data_size()) != 2 * t.numel()) bad(what, "wrong number of complex values");
      if (t.nbytes()) std::memcpy(t.raw(), p.float_data().data(), t.nbytes());
      break;
    }
    case DataType::kDouble: copy_field<double>(p.double_data(), t, what); break;
    case DataType::kComplex128: {
      if (static_cast<int64_t>(p.double_data_size()) != 2 * t.numel()) bad(what, "wrong number of complex values");
      if (t.nbytes()) std::memcpy(t.raw(), p.double_data().data(), t.nbytes());
      break;
    }
    case DataType::kInt64: copy_field<int64_t>(p.int64_data(), t, what); break;
    case DataType::kUInt32: copy_field<uint32_t>(p.uint64_data(), t, what); break;
    case DataType::kUInt64: copy_field<uint64_t>(p.uint64_data(), t, what); break;
    case DataType::kInt32: copy_field<int32_t>(p.int32_data(), t, what); break;
    case DataType::kInt16: copy_field<int16_t>(p.int32_data(), t, what); break;
    case DataType::kInt8: copy_field<int8_t>(p.int32_data(), t, what); break;
    case DataType::kUInt16: copy_field<uint16_t>(p.int32_data(), t, what); break;
    case DataType::kUInt8: copy_field<uint8_t>(p.int32_data(), t, what); break;
    case DataType::kBool: {
      if (static_cast<int64_t>(p.int32_data_size()) != t.numel()) bad(what, "wrong number of bool values");
      auto* d = t.data<bool>();
      for (int64_t i = 0; i < t.numel(); ++i) d[i] = p.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    case DataType::kFloat16:
    case DataType::kBFloat16: copy_field<uint16_t>(p.int32_data(), t, what); break;
    default: bad(what, "unsupported data type");
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->Clear();
  if (!name.empty()) p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DataType::kString) {
    const auto* s = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(s[i]);
    return;
  }
  p->set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
}

ValueInfo value_info_from_type(const std::string& name, const onnx::TypeProto& type) {
  ValueInfo vi;
  vi.name = name;
  const onnx::TypeProto* tp = &type;
  if (tp->has_optional_type()) {
    vi.optional = true;
    tp = &tp->optional_type().elem_type();
  }
  if (tp->has_sequence_type()) {
    vi.kind = Value::Kind::kSequence;
    tp = &tp->sequence_type().elem_type();
  }
  if (tp->has_map_type()) {
    // map(K, V) with a tensor value type V: the map's values are V's
    // elements (ai.onnx.ml's ZipMap, DictVectorizer, CastMap).
    const auto& mt = tp->map_type();
    vi.kind = vi.kind == Value::Kind::kSequence ? Value::Kind::kMapSequence : Value::Kind::kMap;
    vi.key_dtype = valid_dtype(mt.key_type()) ? static_cast<DataType>(mt.key_type()) : DataType::kUndefined;
    vi.dtype = mt.value_type().has_tensor_type() && valid_dtype(mt.value_type().tensor_type().elem_type())
                   ? static_cast<DataType>(mt.value_type().tensor_type().elem_type())
                   : DataType::kUndefined;
    return vi;
  }
  if (tp->has_tensor_type()) {
    const auto& tt = tp->tensor_type();
    vi.dtype = valid_dtype(tt.elem_type()) ? static_cast<DataType>(tt.elem_type()) : DataType::kUndefined;
    if (tt.has_shape()) {
      vi.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        vi.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
        vi.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  } else if (tp->has_sparse_tensor_type()) {
    vi.dtype = DataType::kUndefined;
  }
  return vi;
}

void type_from_value_info(const ValueInfo& info, onnx::TypeProto* type) {
  onnx::TypeProto* tp = type;
  if (info.optional) tp = tp->mutable_optional_type()->mutable_elem_type();
  if (info.kind == Value::Kind::kSequence || info.kind == Value::Kind::kMapSequence)
    tp = tp->mutable_sequence_type()->mutable_elem_type();
  if (info.kind == Value::Kind::kMap || info.kind == Value::Kind::kMapSequence) {
    auto* mt = tp->mutable_map_type();
    mt->set_key_type(static_cast<int32_t>(info.key_dtype));
    mt->mutable_value_type()->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(info.dtype));
    return;
  }
  auto* tt = tp->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(info.dtype));
  if (info.has_shape) {
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < info.dims.size(); ++i) {
      auto* d = shape->add_dim();
      if (i < info.dim_params.size() && !info.dim_params[i].empty())
        d->set_dim_param(info.dim_params[i]);
      else if (info.dims[i] >= 0)
        d->set_dim_value(info.dims[i]);
    }
  }
}

}  // namespace pier::ir
