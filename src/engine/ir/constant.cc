#include "ir/graph.h"

namespace pier::ir {

Tensor constant_node_value(const Node& node) {
  if (node.attrs.size() != 1)
    throw Error(ErrorCode::kInvalidModel, node.describe() + ": Constant needs exactly one value attribute");
  const Attribute& a = node.attrs[0];
  using T = Attribute::Type;
  auto want = [&](T type) {
    if (a.type != type)
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": attribute \"" + a.name + "\" has type " +
                                                attribute_type_name(a.type));
  };
  if (a.name == "value" || a.name == "sparse_value") {
    want(T::kTensor);
    return a.t;
  }
  if (a.name == "value_float") {
    want(T::kFloat);
    return Tensor::from_vector<float>({a.f}, {});
  }
  if (a.name == "value_floats") {
    want(T::kFloats);
    return Tensor::from_vector<float>(a.floats, {static_cast<int64_t>(a.floats.size())});
  }
  if (a.name == "value_int") {
    want(T::kInt);
    return Tensor::from_vector<int64_t>({a.i}, {});
  }
  if (a.name == "value_ints") {
    want(T::kInts);
    return Tensor::from_vector<int64_t>(a.ints, {static_cast<int64_t>(a.ints.size())});
  }
  if (a.name == "value_string") {
    want(T::kString);
    return Tensor::from_vector<std::string>({a.s}, {});
  }
  if (a.name == "value_strings") {
    want(T::kStrings);
    return Tensor::from_vector<std::string>(a.strings, {static_cast<int64_t>(a.strings.size())});
  }
  throw Error(ErrorCode::kInvalidModel, node.describe() + ": unknown Constant attribute \"" + a.name + "\"");
}

}  // namespace pier::ir
