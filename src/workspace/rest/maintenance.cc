// /api/v1/workspace/check and /api/v1/workspace/gc.
#include "workspace/rest/context.h"

namespace pier::ws::rest {

using http::Request;
using http::Responder;
using http::Response;

void add_maintenance_routes(http::Router& router, Context& ctx) {
  router.add("GET", "/api/v1/workspace/check", [&ctx](Request, Responder res) {
    ctx.run(res, [](Registry& reg) {
      const CheckReport r = reg.check();
      std::string s = "{\"ok\":" + std::string(r.ok() ? "true" : "false") + ",\"models\":" + std::to_string(r.models) +
                      ",\"versions\":" + std::to_string(r.versions) + ",\"blobs\":" + std::to_string(r.blobs) +
                      ",\"errors\":" + encode_strings(r.errors) + ",\"info\":" + encode_strings(r.info) + "}";
      return Response::json(200, s);
    });
  });

  router.add("POST", "/api/v1/workspace/gc", [&ctx](Request, Responder res) {
    ctx.run(res, [](Registry& reg) {
      const GcReport r = reg.gc();
      std::string s = "{\"blobs_removed\":" + encode_strings(r.blobs_removed) +
                      ",\"staging_removed\":" + encode_strings(r.staging_removed) +
                      ",\"bytes_freed\":" + std::to_string(r.bytes_freed) + "}";
      return Response::json(200, s);
    });
  });
}

}  // namespace pier::ws::rest
