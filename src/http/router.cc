#include "http/router.h"

#include <map>

namespace pier::http {

namespace {

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    const size_t j = p.find('/', i);
    out.emplace_back(p.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j;
  }
  return out;
}

bool is_param(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route r;
  r.segments = split_path(pattern);
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Router::dispatch(Request req, Responder res) const {
  const std::vector<std::string> segs = split_path(req.path);
  std::string allow;
  bool bad_escape = false;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (size_t i = 0; i < segs.size() && match; ++i) {
      if (is_param(r.segments[i])) {
        auto v = url_decode(segs[i], false);
        if (!v) {
          bad_escape = true;
          match = false;
        } else {
          params[r.segments[i].substr(1, r.segments[i].size() - 2)] = std::move(*v);
        }
      } else {
        match = r.segments[i] == segs[i];
      }
    }
    if (!match) continue;
    // HEAD is GET without the body (which the server leaves out).
    if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) {
      if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
      continue;
    }
    req.params = std::move(params);
    r.handler(std::move(req), std::move(res));
    return;
  }
  if (!allow.empty()) {
    Response r = Response::error(405, "method " + req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
    r.headers.set("Allow", allow);
    res.send(std::move(r));
  } else if (bad_escape) {
    res.send(Response::error(400, "malformed percent-escape in the path " + req.path));
  } else {
    res.send(Response::error(404, "no such endpoint: " + req.method + " " + req.path));
  }
}

}  // namespace pier::http
