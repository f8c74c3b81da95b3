// pier_http: a small HTTP/1.1 server on Boost.Beast, shared by the
// registry's REST API and the scoring server.
//
// - Several I/O threads run one io_context; each connection is a strand.
// - Keep-alive, "Expect: 100-continue", a body-size limit (413 beyond it),
//   a header-size limit (431), and read timeouts: the header (including the
//   idle wait between keep-alive requests) and the body each have a
//   deadline, after which the connection is closed.
// - A handler gets the request and a Responder, and may complete the
//   request later from any thread (e.g. after work on a worker pool).
// - stop() (or SIGTERM/SIGINT under run()) stops accepting, closes idle
//   connections, lets requests in flight finish (up to drain_timeout) and
//   returns from wait().
//
// Beast stays inside server.cc; this header only uses the standard library.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pier::http {

// Header fields in order; names compare case-insensitively.
class Headers {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  // Replaces every field of that name.
  void set(std::string name, std::string value);
  const std::string* find(std::string_view name) const;
  std::vector<std::string_view> all(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: "/api/v1/models?name=x"
  std::string path;     // the target's path, still percent-encoded
  std::string query;    // after '?', still encoded ("" when none)
  Headers headers;
  std::string body;
  std::map<std::string, std::string> params;  // decoded, from the route pattern
  std::string remote;   // "address:port" of the client
  unsigned version = 11;

  // Decoded query parameters in order ('+' is a space).
  std::vector<std::pair<std::string, std::string>> query_params() const;
  std::optional<std::string> query_param(std::string_view key) const;
};

// A response body read from an open file while it is sent, so that a
// large file never sits in memory. Owns the descriptor.
class BodyFile {
 public:
  // The whole file, read from offset 0 (where `fd` must be); `size` is
  // its size (the Content-Length of a HEAD answer).
  BodyFile(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~BodyFile();
  BodyFile(const BodyFile&) = delete;
  BodyFile& operator=(const BodyFile&) = delete;
  uint64_t size() const { return size_; }
  int release();  // the descriptor, no longer owned (-1 once taken)

 private:
  int fd_;
  uint64_t size_;
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Type goes here; Content-Length is computed
  std::string body;
  // When set, the body is this file's contents instead of `body`.
  std::shared_ptr<BodyFile> file;
  // Not sent: handed to ServerOptions::access_logger with the request's
  // record (e.g. {"model", "resnet"}, {"version", "2"}). Shared, so that a
  // handler can attach a list it built once.
  using LogFields = std::vector<std::pair<std::string, std::string>>;
  std::shared_ptr<const LogFields> log_fields;

  static Response json(int status, std::string body);
  // {"error": message}
  static Response error(int status, std::string_view message);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// Completes one request. Copies share one state; send() may be called from
// any thread, once (later calls are ignored). When the last copy is
// destroyed without a send(), the client gets a 500.
class Responder {
 public:
  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void send(Response r) const;
  bool sent() const;

 private:
  std::shared_ptr<State> state_;
};

using Handler = std::function<void(Request, Responder)>;

// One finished request, for an access log. Also given for requests the
// server answered itself (400, 413, 431); not for connections closed before
// a request was complete (timeouts, resets).
struct AccessRecord {
  std::string_view remote, method, target;  // method "-" when the header could not be parsed
  int status = 0;
  double seconds = 0;             // from the complete header to the response written
  uint64_t request_bytes = 0;     // body bytes received (Content-Length for rejected bodies)
  uint64_t response_bytes = 0;    // body bytes sent
  bool write_failed = false;      // the client went away before the response was written
  const std::vector<std::pair<std::string, std::string>>* fields = nullptr;  // Response::log_fields, or null
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8090;  // 0: any free port (see Server::port())
  int io_threads = 2;
  uint64_t max_body_bytes = 64ull << 20;
  uint32_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds header_timeout{15000};  // also the keep-alive idle limit
  std::chrono::milliseconds body_timeout{120000};
  std::chrono::milliseconds write_timeout{120000};
  std::chrono::milliseconds drain_timeout{30000};   // how long stop() waits for requests in flight
  // After handling an event, an I/O thread keeps polling (yielding the CPU
  // in between) this long before it sleeps in the kernel: a busy server then
  // answers without a thread wake-up per request. 0: sleep at once.
  std::chrono::microseconds poll_spin{0};
  bool access_log = false;                          // one line per request on stderr
  // Called on an I/O thread after each response is written (must be
  // thread-safe and quick); replaces the `access_log` line when set.
  std::function<void(const AccessRecord&)> access_logger;
  std::string server_name = "pier";
  // A socket that is already bound and listening (say, inherited from a
  // supervisor that owns the port): the server accepts on it instead of
  // binding host:port, and takes over this descriptor (closing it when it
  // stops). Other processes may accept on the same socket: connections
  // waiting in its queue stay there for them when this server stops.
  int listen_fd = -1;
  // On stop, an idle keep-alive connection (or one accepted just as the
  // server stopped) may still send one request during this time, which is
  // answered with "Connection: close"; then it is closed. A client that
  // sends its next request just as the server stops thus gets an answer
  // instead of a closed connection. 0: idle connections close at once.
  std::chrono::milliseconds stop_idle_grace{0};
  // Called on an I/O thread once a request's header is complete, before its
  // body is read, with the request as it stands (no body). A response it
  // returns is sent at once instead of reading the body and calling the
  // handler, and a connection with an unread body then closes. Use it to
  // refuse a request by its header alone (a missing API key) without
  // taking its body in. Must be quick and thread-safe.
  std::function<std::optional<Response>(const Request&)> precheck;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stop() and wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens (or adopts ServerOptions::listen_fd) and starts the I/O
  // threads. Throws std::runtime_error when the address cannot be used.
  void start();
  // The port listened on (useful with port 0).
  uint16_t port() const;
  // Graceful stop; thread-safe and idempotent.
  void stop();
  // Blocks until the server has stopped and every connection is closed.
  void wait();
  // Makes SIGTERM and SIGINT call stop(); call before start(). With
  // `on_signal`, the first signal calls it instead (on an I/O thread; it
  // must not block) and a second one calls stop().
  void stop_on_signals(std::function<void()> on_signal = {});
  // stop_on_signals(), start(), wait().
  void run();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Writes one line (printf-style; a newline is added) to stderr for a server
// thread, which must never wait on stderr: when it has no room (a pipe
// whose reader has stalled), the line is dropped. At most PIPE_BUF bytes.
void log_line(const char* format, ...) __attribute__((format(printf, 1, 2)));

// Percent-decoding; '+' becomes a space when `plus_is_space`. Returns
// nullopt for a malformed escape.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space);

}  // namespace pier::http
