// /api/v1/models...: register, list, show, download, tag, delete.
#include <simdjson.h>

#include <memory>

#include "workspace/error.h"
#include "workspace/rest/context.h"
#include "workspace/rest/upload.h"

namespace pier::ws::rest {

namespace {

using http::Request;
using http::Responder;
using http::Response;

[[noreturn]] void bad(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

std::string models_json(const std::vector<ModelRecord>& rs) { return "{\"models\":" + records_json(rs) + "}"; }

ListFilter list_filter(const Request& req) {
  ListFilter f;
  for (const auto& [k, v] : req.query_params()) {
    if (k == "name") {
      if (!f.name.empty()) bad("name is given twice");
      validate_name(v, "model name");
      f.name = v;
    } else if (k == "tag") {
      const size_t eq = v.find('=');
      TagFilter t;
      t.key = v.substr(0, eq);
      validate_name(t.key, "tag key");
      if (eq != std::string::npos) t.value = v.substr(eq + 1);
      f.tags.push_back(std::move(t));
    } else {
      bad("unknown query parameter " + quote_str(k) + " (expected name or tag)");
    }
  }
  return f;
}

// {"tags": {"key": "value", "gone": null}}
void parse_patch(const std::string& body, std::map<std::string, std::string>& set, std::vector<std::string>& remove) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) bad("the body is not JSON; expected {\"tags\": {\"KEY\": \"VALUE\" or null}}");
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) bad("the body must be a JSON object: {\"tags\": {...}}");
  bool any = false;
  for (auto [key, value] : obj) {
    if (key != "tags") bad("unknown field " + quote_str(key) + " (only \"tags\" can be changed)");
    simdjson::dom::object tags;
    if (value.get_object().get(tags)) bad("\"tags\" must be an object of KEY: \"VALUE\" or null");
    for (auto [k, v] : tags) {
      any = true;
      if (v.is_null()) {
        remove.emplace_back(k);
      } else {
        std::string_view s;
        if (v.get_string().get(s)) bad("tag " + quote_str(k) + ": the value must be a string, or null to remove it");
        set[std::string(k)] = std::string(s);
      }
    }
  }
  if (!any) bad("nothing to change: expected {\"tags\": {\"KEY\": \"VALUE\" or null}}");
}

std::string delete_json(const DeleteResult& d) {
  std::string s = "{\"name\":" + json_string(d.name) + ",\"deleted_versions\":[";
  for (size_t i = 0; i < d.versions.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(d.versions[i]);
  }
  s += "],\"blobs_removed\":";
  s += encode_strings(d.blobs_removed);
  return s + "}";
}

Response created(const ModelRecord& r) {
  Response res = Response::json(201, record_json(r));
  res.headers.set("Location", "/api/v1/models/" + r.name + ":" + std::to_string(r.version));
  return res;
}


}  // namespace

void add_model_routes(http::Router& router, Context& ctx) {
  router.add("GET", "/api/v1/models", guarded([&ctx](Request req, Responder res) {
               ListFilter f = list_filter(req);
               ctx.run(res, [f](Registry& reg) { return Response::json(200, models_json(reg.list(f))); });
             }));

  auto register_handler = [&ctx](bool name_in_path) {
    return guarded([&ctx, name_in_path](Request req, Responder res) {
      auto shared = std::make_shared<Request>(std::move(req));
      std::optional<std::string> name;
      if (name_in_path) name = shared->params.at("name");
      ctx.run(res, [shared, name](Registry& reg) {
        const Upload up = parse_upload(*shared, name);
        return created(reg.register_bytes(up.bytes, up.req));
      });
    });
  };
  router.add("POST", "/api/v1/models", register_handler(false));
  router.add("POST", "/api/v1/models/{name}/versions", register_handler(true));

  router.add("GET", "/api/v1/models/{name}/versions", guarded([&ctx](Request req, Responder res) {
               ListFilter f = list_filter(req);
               if (!f.name.empty()) bad("the name is in the path; do not give ?name=");
               f.name = req.params.at("name");
               validate_name(f.name, "model name");
               ctx.run(res, [f](Registry& reg) {
                 auto list = reg.list(f);
                 if (list.empty()) reg.aliases(f.name);  // 404 when there is no such model
                 return Response::json(200, models_json(list));
               });
             }));

  router.add("GET", "/api/v1/models/{ref}", guarded([&ctx](Request req, Responder res) {
               const ModelRef ref = ref_param(req);
               ctx.run(res, [ref](Registry& reg) { return Response::json(200, record_json(reg.get(ref))); });
             }));

  router.add("GET", "/api/v1/models/{ref}/content", guarded([&ctx](Request req, Responder res) {
               const ModelRef ref = ref_param(req);
               ctx.run(res, [ref](Registry& reg) {
                 const ModelRecord rec = reg.get(ref);
                 Response r;
                 // Checked against its sha256 first, then sent from disk.
                 r.file = std::make_shared<http::BodyFile>(reg.open_blob(rec), static_cast<uint64_t>(rec.size));
                 r.headers.set("Content-Type", "application/octet-stream");
                 r.headers.set("Content-Disposition",
                               "attachment; filename=\"" + rec.name + "-" + std::to_string(rec.version) + ".onnx\"");
                 r.headers.set("ETag", "\"sha256:" + rec.sha256 + "\"");
                 r.headers.set("X-Pier-Sha256", rec.sha256);
                 r.headers.set("X-Pier-Version", std::to_string(rec.version));
                 return r;
               });
             }));

  router.add("PATCH", "/api/v1/models/{ref}", guarded([&ctx](Request req, Responder res) {
               const ModelRef ref = ref_param(req);
               if (json_body_too_large(req, res)) return;
               std::map<std::string, std::string> set;
               std::vector<std::string> remove;
               parse_patch(req.body, set, remove);
               ctx.run(res, [ref, set, remove](Registry& reg) {
                 return Response::json(200, record_json(reg.update_tags(ref, set, remove, /*must_exist=*/false)));
               });
             }));

  router.add("DELETE", "/api/v1/models/{ref}", guarded([&ctx](Request req, Responder res) {
               const ModelRef ref = ref_param(req);
               ctx.run(res, [ref](Registry& reg) { return Response::json(200, delete_json(reg.remove(ref))); });
             }));
}

}  // namespace pier::ws::rest
