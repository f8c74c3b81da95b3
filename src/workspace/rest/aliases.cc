// /api/v1/models/{name}/aliases...: list, set and remove aliases.
#include <simdjson.h>

#include "workspace/error.h"
#include "workspace/rest/context.h"

namespace pier::ws::rest {

namespace {

using http::Request;
using http::Responder;
using http::Response;

[[noreturn]] void bad(const std::string& msg) { fail(ErrorKind::kInvalidArgument, msg); }

std::string name_param(const Request& req) {
  std::string name = req.params.at("name");
  validate_name(name, "model name");
  return name;
}


std::string alias_json(const std::string& name, const std::string& alias, int64_t version,
                       std::optional<int64_t> previous) {
  std::string s = "{\"name\":" + json_string(name) + ",\"alias\":" + json_string(alias) +
                  ",\"version\":" + std::to_string(version);
  s += ",\"previous\":" + (previous ? std::to_string(*previous) : std::string("null"));
  return s + "}";
}

}  // namespace

void add_alias_routes(http::Router& router, Context& ctx) {
  router.add("GET", "/api/v1/models/{name}/aliases", guarded([&ctx](Request req, Responder res) {
               const std::string name = name_param(req);
               ctx.run(res, [name](Registry& reg) {
                 std::string s = "{\"name\":" + json_string(name) + ",\"aliases\":{";
                 bool first = true;
                 for (const auto& [a, v] : reg.aliases(name)) {
                   if (!first) s += ',';
                   s += json_string(a);
                   s += ':';
                   s += std::to_string(v);
                   first = false;
                 }
                 return Response::json(200, s + "}}");
               });
             }));

  // {"alias": "production", "version": 2}
  router.add("POST", "/api/v1/models/{name}/aliases", guarded([&ctx](Request req, Responder res) {
               const std::string name = name_param(req);
               if (json_body_too_large(req, res)) return;
               simdjson::dom::parser parser;
               simdjson::dom::element doc;
               if (parser.parse(req.body).get(doc) || !doc.is_object())
                 bad("the body must be a JSON object: {\"alias\": \"ALIAS\", \"version\": N}");
               std::string_view alias;
               int64_t version = 0;
               if (doc["alias"].get_string().get(alias)) bad("\"alias\" must be a string");
               if (doc["version"].get_int64().get(version)) bad("\"version\" must be an integer");
               simdjson::dom::object obj;
               if (doc.get_object().get(obj)) bad("the body must be a JSON object");
               for (auto [k, v] : obj)
                 if (k != "alias" && k != "version") bad("unknown field " + quote_str(k));
               validate_alias(alias);
               std::string a(alias);
               ctx.run(res, [name, a, version](Registry& reg) {
                 auto previous = reg.set_alias(name, a, version);
                 return Response::json(200, alias_json(name, a, version, previous));
               });
             }));

  router.add("DELETE", "/api/v1/models/{name}/aliases/{alias}", guarded([&ctx](Request req, Responder res) {
               const std::string name = name_param(req);
               const std::string alias = req.params.at("alias");
               validate_alias(alias);
               ctx.run(res, [name, alias](Registry& reg) {
                 const int64_t v = reg.remove_alias(name, alias);
                 return Response::json(200, alias_json(name, alias, v, std::nullopt));
               });
             }));
}

}  // namespace pier::ws::rest
