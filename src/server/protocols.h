// The request handlers of the two inference protocols. Each turns one HTTP
// request into engine inputs, runs the model and encodes the outputs; the
// service runs them on an inference worker. They throw RequestError for
// anything the client got wrong.
#pragma once

#include <string>
#include <vector>

#include "http/http.h"
#include "server/model.h"

namespace pier::server {

// POST /score and /models/{m}[/versions/{v}]/score:
// {"data": ...} -> {"result": ...}.
http::Response score(const ServedModel& m, http::Request& req);

// POST /v2/models/{m}[/versions/{v}]/infer, with the binary tensor data
// extension.
http::Response v2_infer(const ServedModel& m, http::Request& req);

// GET /v2/models/{m}[/versions/{v}]: the model metadata object.
// `versions`: every served version of the name.
std::string v2_model_metadata(const ServedModel& m, const std::vector<int64_t>& versions);

// GET /v2: the server metadata object.
std::string v2_server_metadata();

}  // namespace pier::server
