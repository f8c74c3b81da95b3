// multipart/form-data (RFC 7578) bodies, parsed in place: each part's data
// is a view into the request body.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"

namespace pier::http {

struct FormPart {
  std::string name;          // from Content-Disposition
  std::string filename;      // "" when none
  std::string content_type;  // "" when none
  std::string_view data;
};

// True when the Content-Type is multipart/form-data.
bool is_multipart_form(std::string_view content_type);
// Throws std::invalid_argument, naming the problem, for a malformed body.
std::vector<FormPart> parse_multipart_form(std::string_view content_type, std::string_view body);

}  // namespace pier::http
