// GET /swagger.json: an OpenAPI 3.0 description of the endpoints and of
// each served model's inputs and outputs, built once at start-up.
#pragma once

#include <string>

#include "server/model.h"

namespace pier::server {

std::string openapi_json(const ModelSet& models, bool api_keys);

}  // namespace pier::server
