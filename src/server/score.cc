// The Azure-ML-style scoring contract:
//   {"data": <nested array>}                        one input
//   {"data": {"<input>": <nested array>, ...}}      several inputs
// answered with {"result": <nested array>} for one output, else
// {"result": {"<output>": ..., ...}}. Shapes come from the nesting; numbers
// are cast to each input's type.
#include <set>

#include "server/errors.h"
#include "server/json_in.h"
#include "server/json_out.h"
#include "server/protocols.h"
#include "server/shapes.h"

namespace pier::server {

namespace dom = simdjson::dom;

namespace {

std::string input_names(const ServedModel& m) {
  std::string s;
  for (const auto& in : m.inputs()) s += (s.empty() ? "" : ", ") + std::string("\"") + in.name + "\"";
  return s.empty() ? "none" : s;
}

Value to_value(dom::element data, const ValueInfo& info, ShapeCheck& shapes) {
  const std::string who = input_label(info.name);
  if (info.kind != Value::Kind::kTensor)
    bad_request(who + " is " + info.type_str() + "; the server takes tensor inputs only");
  if (data.type() == dom::element_type::NULL_VALUE) {
    if (info.optional) return Value::none();
    bad_request(who + " is null, but the input is not optional");
  }
  if (info.dtype == DataType::kUndefined) bad_request(who + " has no declared element type");
  const Shape shape = nested_shape(data, who);
  shapes.check(info, shape);
  return json_to_tensor(data, info.dtype, shape, who);
}

}  // namespace

http::Response score(const ServedModel& m, http::Request& req) {
  dom::element doc = parse_json(req.body, "the body");
  dom::object body;
  if (doc.get_object().get(body)) bad_request("the body must be a JSON object {\"data\": ...}");
  dom::element data;
  if (body["data"].get(data)) bad_request("the body has no \"data\" field; send {\"data\": ...}");

  const auto& ins = m.inputs();
  std::vector<Value> feeds(ins.size());
  ShapeCheck shapes;
  const bool named = data.type() == dom::element_type::OBJECT;
  if (!named) {
    if (ins.size() != 1)
      bad_request("the model takes " + std::to_string(ins.size()) + " inputs (" + input_names(m) +
                  "); send {\"data\": {\"<input name>\": ..., ...}}");
    feeds[0] = to_value(data, ins[0], shapes);
  } else {
    std::vector<bool> given(ins.size(), false);
    const dom::object fields = data.get_object().value_unsafe();
    for (auto [key, value] : fields) {
      const int i = m.input_index(key);
      if (i < 0)
        bad_request("the model has no input \"" + std::string(key) + "\" (its inputs: " + input_names(m) + ")");
      if (given[i]) bad_request(input_label(ins[i].name) + " is given twice");
      given[i] = true;
      feeds[i] = to_value(value, ins[i], shapes);
    }
    for (size_t i = 0; i < ins.size(); ++i)
      if (!given[i] && !ins[i].optional)
        bad_request(input_label(ins[i].name) + " is missing (the model's inputs: " + input_names(m) + ")");
  }

  const std::vector<Value> outs = m.run(feeds);

  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("result");
  const auto& infos = m.outputs();
  if (outs.size() == 1) {
    write_value(w, outs[0]);
  } else {
    w.StartObject();
    for (size_t i = 0; i < outs.size(); ++i) {
      write_string(w, infos[i].name);
      write_value(w, outs[i]);
    }
    w.EndObject();
  }
  w.EndObject();
  return http::Response::json(200, std::string(sb.GetString(), sb.GetSize()));
}

}  // namespace pier::server
