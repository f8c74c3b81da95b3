// Reading a register request: the model bytes from the raw body or a
// multipart/form-data part, the metadata from the path, the query, X-Pier-*
// headers or form fields.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"
#include "workspace/registry.h"

namespace pier::ws::rest {

struct Upload {
  RegisterRequest req;
  std::string_view bytes;  // points into the request body
};

// Throws Error(kInvalidArgument) naming what is wrong or missing.
Upload parse_upload(const http::Request& req, const std::optional<std::string>& path_name);

}  // namespace pier::ws::rest
