#include "workspace/rest/upload.h"

#include <vector>

#include "http/multipart.h"
#include "workspace/error.h"

namespace pier::ws::rest {

namespace {

[[noreturn]] void bad(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

struct Collector {
  std::vector<std::pair<std::string, std::string>> names;  // value, where
  RegisterRequest req;
  bool has_description = false;

  void field(const std::string& key, const std::string& value, const std::string& where) {
    if (key == "name") {
      names.emplace_back(value, where);
    } else if (key == "tag") {
      auto [k, v] = parse_tag(value);
      req.tags[k] = v;
    } else if (key == "property") {
      auto [k, v] = parse_property(value);
      req.properties[k] = v;
    } else if (key == "description") {
      if (has_description) bad("description is given twice");
      has_description = true;
      req.description = value;
    } else {
      bad("unknown " + where + " " + quote_str(key) + " (expected name, tag, property or description)");
    }
  }
};

}  // namespace

Upload parse_upload(const http::Request& req, const std::optional<std::string>& path_name) {
  Collector c;
  if (path_name) c.names.emplace_back(*path_name, "path");
  for (const auto& [k, v] : req.query_params()) c.field(k, v, "query parameter");
  static const std::pair<const char*, const char*> kHeaders[] = {
      {"X-Pier-Name", "name"}, {"X-Pier-Tag", "tag"}, {"X-Pier-Property", "property"}, {"X-Pier-Description", "description"}};
  for (const auto& [header, key] : kHeaders)
    for (auto v : req.headers.all(header)) c.field(key, std::string(v), "header");

  Upload up;
  const std::string* ct = req.headers.find("Content-Type");
  if (ct && http::is_multipart_form(*ct)) {
    std::vector<http::FormPart> parts;
    try {
      parts = http::parse_multipart_form(*ct, req.body);
    } catch (const std::invalid_argument& e) {
      bad(e.what());
    }
    bool have_file = false;
    for (const auto& p : parts) {
      if (p.name == "file" || p.name == "model") {
        if (have_file) bad("the form holds more than one model file");
        have_file = true;
        up.bytes = p.data;
      } else {
        c.field(p.name, std::string(p.data), "form field");
      }
    }
    if (!have_file) bad("the form has no \"file\" part with the model");
  } else {
    up.bytes = req.body;
  }
  if (c.names.empty())
    bad("the model's name is missing: give it in the path (/api/v1/models/NAME/versions), as ?name=, as an "
        "X-Pier-Name header or as a \"name\" form field");
  for (const auto& [n, where] : c.names)
    if (n != c.names.front().first)
      bad("conflicting names: " + quote_str(c.names.front().first) + " (" + c.names.front().second + ") and " +
          quote_str(n) + " (" + where + ")");
  if (up.bytes.empty())
    bad("no model in the request: send the ONNX file as the body, or as the \"file\" part of multipart/form-data");
  c.req.name = c.names.front().first;
  up.req = std::move(c.req);
  return up;
}

}  // namespace pier::ws::rest
