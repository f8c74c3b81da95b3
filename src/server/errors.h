// A request the server refuses: an HTTP status and a message for
// {"error": ...}. Thrown by the protocol code, answered by the service.
#pragma once

#include <stdexcept>
#include <string>

namespace pier::server {

class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

[[noreturn]] inline void bad_request(const std::string& message) { throw RequestError(400, message); }

// "input \"x\"" with the name quoted.
inline std::string input_label(const std::string& name) { return "input \"" + name + "\""; }

}  // namespace pier::server
