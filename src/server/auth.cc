#include "server/auth.h"

#include <algorithm>

namespace pier::server {

std::vector<std::string> collect_api_keys(std::vector<std::string> keys, const char* env) {
  if (env) {
    std::string_view s = env;
    const size_t given = keys.size();
    while (!s.empty()) {
      const size_t c = s.find(',');
      if (c) keys.emplace_back(s.substr(0, c));
      s = c == std::string_view::npos ? std::string_view() : s.substr(c + 1);
    }
    if (*env && keys.size() == given)
      throw std::invalid_argument("$PIER_API_KEYS is set but holds no key (only commas); unset it to serve without keys");
  }
  for (const auto& k : keys)
    if (k.empty() || k.find_first_of(" \t\r\n") != std::string::npos)
      throw std::invalid_argument("an API key must be non-empty, without spaces");
  return keys;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::optional<http::Response> ApiKeys::check(const http::Request& req) const {
  if (keys_.empty()) return std::nullopt;
  auto deny = [](const char* msg) {
    http::Response r = http::Response::error(401, msg);
    r.headers.set("WWW-Authenticate", "Bearer realm=\"pier\"");
    return r;
  };
  const std::string* h = req.headers.find("Authorization");
  if (!h) return deny("this endpoint needs an API key: send \"Authorization: Bearer KEY\"");
  std::string_view v = *h;
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() < kScheme.size() || !http::iequals(v.substr(0, kScheme.size()), kScheme))
    return deny("the Authorization header must be \"Bearer KEY\"");
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  bool ok = false;
  for (const auto& k : keys_) ok |= constant_time_equal(v, k);  // no early exit
  if (!ok) return deny("the API key is not valid");
  return std::nullopt;
}

}  // namespace pier::server
