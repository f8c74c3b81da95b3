// POST /v2/models/{m}[/versions/{v}]/infer: the Open Inference Protocol's
// REST inference request, with the binary tensor data extension.
//
// Binary requests: the first Inference-Header-Content-Length bytes of the
// body are the JSON inference header; the rest holds, in input order, the
// data of each input whose parameters give "binary_data_size". Numeric
// binary data is used in place (Tensor::wrap over the request body) when it
// is aligned for its type, else copied once. BYTES elements are a 4-byte
// little-endian length and the bytes. Outputs are binary when the output
// asks for "binary_data": true, or the request for "binary_data_output".
#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <memory>

#include "server/dtypes.h"
#include "server/errors.h"
#include "server/json_in.h"
#include "server/json_out.h"
#include "server/protocols.h"
#include "server/shapes.h"

namespace pier::server {

static_assert(std::endian::native == std::endian::little, "the binary tensor format is little-endian");

namespace dom = simdjson::dom;
using dom::element_type;

namespace {

constexpr size_t kMaxRank = 32;

// Length of the JSON part, from Inference-Header-Content-Length; the whole
// body when the header is absent.
size_t json_length(const http::Request& req) {
  const std::string* h = req.headers.find("Inference-Header-Content-Length");
  if (!h) return req.body.size();
  uint64_t n = 0;
  const auto r = std::from_chars(h->data(), h->data() + h->size(), n);
  if (h->empty() || r.ec != std::errc() || r.ptr != h->data() + h->size())
    bad_request("Inference-Header-Content-Length is not a number: \"" + *h + "\"");
  if (n > req.body.size())
    bad_request("Inference-Header-Content-Length is " + std::to_string(n) + ", but the body has only " +
                std::to_string(req.body.size()) + " bytes");
  return static_cast<size_t>(n);
}

dom::object field_object(dom::object parent, const char* key, const std::string& where, bool* present) {
  dom::element e;
  *present = !parent[key].get(e);
  if (!*present) return {};
  dom::object o;
  if (e.get_object().get(o)) bad_request(where + ": \"" + key + "\" must be an object");
  return o;
}

std::string_view field_string(dom::object o, const char* key, const std::string& where, bool required) {
  dom::element e;
  if (o[key].get(e)) {
    if (required) bad_request(where + " has no \"" + key + "\"");
    return {};
  }
  std::string_view s;
  if (e.get_string().get(s)) bad_request(where + ": \"" + key + "\" must be a string");
  return s;
}

// parameters.<key> as a bool; `fallback` when absent.
bool param_bool(dom::object params, bool have, const char* key, const std::string& where, bool fallback) {
  if (!have) return fallback;
  dom::element e;
  if (params[key].get(e)) return fallback;
  bool b;
  if (e.get_bool().get(b)) bad_request(where + ": parameter \"" + key + "\" must be true or false");
  return b;
}

Shape parse_shape(dom::object in, const std::string& who) {
  dom::element e;
  if (in["shape"].get(e)) bad_request(who + " has no \"shape\"");
  dom::array a;
  if (e.get_array().get(a)) bad_request(who + ": \"shape\" must be an array of integers");
  if (a.size() > kMaxRank) bad_request(who + ": \"shape\" has more than " + std::to_string(kMaxRank) + " dims");
  Shape s;
  for (dom::element d : a) {
    int64_t v;
    const std::string dim = "dim " + std::to_string(s.size()) + " of \"shape\"";
    if (d.type() == element_type::UINT64) bad_request(who + ": " + dim + " is too large");
    if (d.get_int64().get(v)) bad_request(who + ": \"shape\" must be an array of integers");
    if (v < 0) bad_request(who + ": " + dim + " is negative (" + std::to_string(v) + ")");
    s.push_back(v);
  }
  return s;
}

struct Binary {
  std::shared_ptr<std::string> body;  // owns the bytes; tensors may point into it
  size_t pos = 0, end = 0;            // the binary part: [pos, end)
};

Tensor binary_tensor(DataType dt, const Shape& shape, uint64_t size, Binary& bin, const std::string& who) {
  if (size > bin.end - bin.pos)
    bad_request(who + ": binary_data_size is " + std::to_string(size) + ", but only " +
                std::to_string(bin.end - bin.pos) + " bytes of binary data are left in the body");
  const char* p = bin.body->data() + bin.pos;
  bin.pos += size;
  if (dt == DataType::kString) {
    // Every element takes at least its 4-byte length.
    const int64_t n = checked_numel(shape, static_cast<int64_t>(size / 4), who);
    Tensor t(dt, shape);
    std::string* out = t.data<std::string>();
    size_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (size - at < 4) bad_request(who + ": the BYTES data ends inside element " + std::to_string(i) + "'s length");
      uint32_t len;
      std::memcpy(&len, p + at, 4);
      at += 4;
      if (len > size - at)
        bad_request(who + ": BYTES element " + std::to_string(i) + " has length " + std::to_string(len) +
                    ", past the end of its binary_data_size");
      out[i].assign(p + at, len);
      at += len;
    }
    if (at != size)
      bad_request(who + ": binary_data_size is " + std::to_string(size) + ", but its " + std::to_string(n) +
                  " BYTES elements take " + std::to_string(at));
    return t;
  }
  const size_t elem = dtype_size(dt);
  const int64_t n = checked_numel(shape, static_cast<int64_t>(size / elem) + 1, who);
  if (static_cast<uint64_t>(n) * elem != size)
    bad_request(who + ": shape " + shape_str(shape) + " of " + v2_datatype(dt) + " takes " +
                std::to_string(static_cast<uint64_t>(n) * elem) + " bytes, but binary_data_size is " +
                std::to_string(size));
  if (dt == DataType::kBool)
    for (uint64_t i = 0; i < size; ++i)
      if (static_cast<unsigned char>(p[i]) > 1) bad_request(who + ": BOOL element " + std::to_string(i) + " is not 0 or 1");
  if (reinterpret_cast<uintptr_t>(p) % elem == 0)
    return Tensor::wrap(dt, shape, const_cast<char*>(p), bin.body);
  Tensor t(dt, shape);
  if (size) std::memcpy(t.raw(), p, size);
  return t;
}

Tensor json_tensor(dom::object in, DataType dt, const Shape& shape, size_t json_len, const std::string& who) {
  dom::element data;
  if (in["data"].get(data)) bad_request(who + " has neither \"data\" nor a binary_data_size parameter");
  // Every leaf takes at least a byte of the JSON text.
  const int64_t n = checked_numel(shape, static_cast<int64_t>(json_len), who);
  const Shape nest = nested_shape(data, who);
  const bool flat = nest.size() == 1 && nest[0] == n;
  if (nest != shape && !flat)
    bad_request(who + ": \"shape\" is " + shape_str(shape) + " (" + std::to_string(n) +
                " elements), but \"data\" holds " + (nest.empty() ? std::string("a scalar") : "nested arrays of shape " + shape_str(nest)));
  return json_to_tensor(data, dt, shape, who);
}

void append_binary(std::string& out, const Tensor& t) {
  if (t.dtype() != DataType::kString) {
    out.append(static_cast<const char*>(t.raw()), t.nbytes());
    return;
  }
  const std::string* s = t.data<std::string>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const uint32_t len = static_cast<uint32_t>(s[i].size());
    char b[4];
    std::memcpy(b, &len, 4);
    out.append(b, 4);
    out += s[i];
  }
}

uint64_t binary_size(const Tensor& t) {
  if (t.dtype() != DataType::kString) return t.nbytes();
  uint64_t n = 0;
  const std::string* s = t.data<std::string>();
  for (int64_t i = 0; i < t.numel(); ++i) n += 4 + s[i].size();
  return n;
}

}  // namespace

http::Response v2_infer(const ServedModel& m, http::Request& req) {
  const size_t json_len = json_length(req);
  const bool has_binary = req.headers.find("Inference-Header-Content-Length") != nullptr;
  dom::element doc = parse_json(std::string_view(req.body).substr(0, json_len), "the inference request");
  dom::object root;
  if (doc.get_object().get(root)) bad_request("the inference request must be a JSON object");

  bool have_params = false;
  const dom::object params = field_object(root, "parameters", "the inference request", &have_params);
  const bool binary_out = param_bool(params, have_params, "binary_data_output", "the inference request", false);
  const std::string_view id = field_string(root, "id", "the inference request", false);

  Binary bin;
  if (has_binary) {
    bin.body = std::make_shared<std::string>(std::move(req.body));
    bin.pos = json_len;
    bin.end = bin.body->size();
  }

  dom::element ins_e;
  if (root["inputs"].get(ins_e)) bad_request("the inference request has no \"inputs\"");
  dom::array ins;
  if (ins_e.get_array().get(ins)) bad_request("\"inputs\" must be an array");
  const auto& infos = m.inputs();
  std::vector<std::pair<std::string, Value>> feeds;
  std::vector<bool> given(infos.size(), false);
  ShapeCheck shapes;
  size_t k = 0;
  for (dom::element e : ins) {
    const std::string where = "inputs[" + std::to_string(k++) + "]";
    dom::object in;
    if (e.get_object().get(in)) bad_request(where + " must be an object");
    const std::string_view name = field_string(in, "name", where, true);
    const int idx = m.input_index(name);
    if (idx < 0) {
      std::string names;
      for (const auto& i : infos) names += (names.empty() ? "\"" : ", \"") + i.name + "\"";
      bad_request("the model has no input \"" + std::string(name) + "\" (its inputs: " + names + ")");
    }
    const ValueInfo& info = infos[idx];
    const std::string who = input_label(info.name);
    if (given[idx]) bad_request(who + " is given twice");
    given[idx] = true;
    if (info.kind != Value::Kind::kTensor) bad_request(who + " is " + info.type_str() + "; the v2 protocol carries tensors only");
    const std::string_view dt_name = field_string(in, "datatype", who, true);
    const auto dt = from_v2_datatype(dt_name);
    if (!dt) bad_request(who + ": unknown datatype \"" + std::string(dt_name) + "\"");
    const char* want = v2_datatype(info.dtype);
    if (*dt != info.dtype)
      bad_request(who + ": expected datatype " + (want ? want : dtype_name(info.dtype)) + ", got " + std::string(dt_name));
    const Shape shape = parse_shape(in, who);
    shapes.check(info, shape);

    bool have_in_params = false;
    const dom::object ip = field_object(in, "parameters", who, &have_in_params);
    dom::element size_e;
    if (have_in_params && !ip["binary_data_size"].get(size_e)) {
      uint64_t size;
      if (size_e.get_uint64().get(size)) bad_request(who + ": binary_data_size must be a non-negative integer");
      if (!has_binary) bad_request(who + " has binary_data_size, but the request has no Inference-Header-Content-Length");
      dom::element unused;
      if (!in["data"].get(unused)) bad_request(who + " has both \"data\" and binary_data_size");
      feeds.emplace_back(info.name, binary_tensor(*dt, shape, size, bin, who));
    } else {
      feeds.emplace_back(info.name, json_tensor(in, *dt, shape, json_len, who));
    }
  }
  if (has_binary && bin.pos != bin.end)
    bad_request("the body has " + std::to_string(bin.end - bin.pos) + " bytes after the binary data of the inputs");
  for (size_t i = 0; i < infos.size(); ++i)
    if (!given[i] && !infos[i].optional) bad_request(input_label(infos[i].name) + " is missing");

  // Outputs: those requested, else every tensor output.
  struct Out {
    int index;
    bool binary;
  };
  std::vector<Out> outs;
  dom::element outs_e;
  if (!root["outputs"].get(outs_e)) {
    dom::array arr;
    if (outs_e.get_array().get(arr)) bad_request("\"outputs\" must be an array");
    k = 0;
    for (dom::element e : arr) {
      const std::string where = "outputs[" + std::to_string(k++) + "]";
      dom::object o;
      if (e.get_object().get(o)) bad_request(where + " must be an object");
      const std::string_view name = field_string(o, "name", where, true);
      const int idx = m.output_index(name);
      if (idx < 0) bad_request("the model has no output \"" + std::string(name) + "\"");
      for (const Out& prev : outs)
        if (prev.index == idx) bad_request("output \"" + std::string(name) + "\" is requested twice");
      if (m.outputs()[idx].kind != Value::Kind::kTensor)
        bad_request("output \"" + std::string(name) + "\" is " + m.outputs()[idx].type_str() +
                    "; the v2 protocol carries tensors only (use /score)");
      bool have_op = false;
      const dom::object op = field_object(o, "parameters", where, &have_op);
      outs.push_back({idx, param_bool(op, have_op, "binary_data", where, binary_out)});
    }
  } else {
    for (size_t i = 0; i < m.outputs().size(); ++i)
      if (m.outputs()[i].kind == Value::Kind::kTensor) outs.push_back({static_cast<int>(i), binary_out});
  }
  std::vector<std::string> names;
  for (const Out& o : outs) names.push_back(m.outputs()[o.index].name);

  // An empty list would mean "every output" to the engine.
  const std::vector<Value> results = names.empty() ? std::vector<Value>() : m.run(feeds, names);

  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("model_name");
  write_string(w, m.name());
  w.Key("model_version");
  w.String(m.version_str().c_str());
  if (!id.empty()) {
    w.Key("id");
    write_string(w, id);
  }
  w.Key("outputs");
  w.StartArray();
  uint64_t binary_total = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& t = results[i].tensor();
    const char* dt = v2_datatype(t.dtype());
    if (!dt) bad_request("output \"" + names[i] + "\" is " + dtype_name(t.dtype()) + ", which the v2 protocol cannot carry");
    w.StartObject();
    w.Key("name");
    write_string(w, names[i]);
    w.Key("datatype");
    w.String(dt);
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.shape()) w.Int64(d);
    w.EndArray();
    if (outs[i].binary) {
      const uint64_t n = binary_size(t);
      binary_total += n;
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data_size");
      w.Uint64(n);
      w.EndObject();
    } else {
      w.Key("data");
      write_flat(w, t);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();

  http::Response r;
  r.status = 200;
  r.body.reserve(sb.GetSize() + binary_total);
  r.body.assign(sb.GetString(), sb.GetSize());
  if (binary_total == 0 && std::none_of(outs.begin(), outs.end(), [](const Out& o) { return o.binary; })) {
    r.headers.set("Content-Type", "application/json");
    return r;
  }
  r.headers.set("Content-Type", "application/octet-stream");
  r.headers.set("Inference-Header-Content-Length", std::to_string(sb.GetSize()));
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].binary) append_binary(r.body, results[i].tensor());
  return r;
}

}  // namespace pier::server
