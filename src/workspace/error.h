// Errors raised by the workspace layer. Each carries a kind that callers map
// to an exit code (CLI) or an HTTP status (REST).
#pragma once

#include <stdexcept>
#include <string>

namespace pier::ws {

enum class ErrorKind {
  kInvalidArgument,  // a bad name, tag, reference or option (CLI exit 2, HTTP 400)
  kNotFound,         // no such model, version, alias or workspace (HTTP 404)
  kConflict,         // the request contradicts what is stored (HTTP 409)
  kInvalidModel,     // the file is not a model the registry accepts (HTTP 422)
  kIO,               // the file system or the database failed (HTTP 500)
  kBusy,             // another writer held the database's lock past the busy timeout (HTTP 503)
  kCorrupt,          // stored data does not match its record (HTTP 500)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& what) { throw Error(kind, what); }

}  // namespace pier::ws
