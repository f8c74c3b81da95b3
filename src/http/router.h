// Routes requests by method and path pattern. Patterns are literal segments
// and {param} segments ("/api/v1/models/{ref}/content"); a {param} matches
// one non-empty path segment, percent-decoded into Request::params. No
// matching path gives 404; a path matched with another method gives 405
// with an Allow header. Both answer {"error": ...}. HEAD runs the GET
// route (the server sends the answer's header fields without its body).
#pragma once

#include <string>
#include <vector>

#include "http/http.h"

namespace pier::http {

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  void dispatch(Request req, Responder res) const;
  // A Handler for Server that dispatches through this router (which must
  // outlive the server).
  Handler handler() const {
    return [this](Request req, Responder res) { dispatch(std::move(req), std::move(res)); };
  }

  struct Route {
    std::string method, pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace pier::http
