// API keys: "Authorization: Bearer KEY" against the configured keys
// (a primary and a secondary, so keys can be rotated without downtime).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/http.h"

namespace pier::server {

class ApiKeys {
 public:
  explicit ApiKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  bool enabled() const { return !keys_.empty(); }
  // nullopt when the request may go on; else the 401 to send.
  std::optional<http::Response> check(const http::Request& req) const;

 private:
  std::vector<std::string> keys_;
};

// The keys to require: `given` (--api-key) and those in `env` (the value of
// $PIER_API_KEYS, comma-separated; null when it is unset). Throws
// std::invalid_argument for an empty key or one with white space, and for
// an `env` that is set but holds no key (say ",", from unset variables):
// that would otherwise serve with no authentication at all, silently.
std::vector<std::string> collect_api_keys(std::vector<std::string> given, const char* env);

// Compares in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pier::server
