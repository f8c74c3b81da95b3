// The HTTP/1.1 server: Beast connections on strands of one io_context run
// by several threads.
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <optional>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "http/http.h"

namespace pier::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Connection;

// Large bodies are read this much at a time (see Connection::read_body).
constexpr size_t kBodyReadChunk = 64 * 1024;

struct Server::Impl {
  ServerOptions opt;
  Handler handler;
  // Declared before the io_context so that they outlive it: destroying the
  // io_context destroys any handler still queued, and with it a Connection,
  // whose destructor unregisters itself here.
  std::mutex mu;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns;
  std::atomic<bool> stopping{false};
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> strand;  // acceptor, signals, drain timer
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer retry_timer, drain_timer;
  std::vector<std::thread> threads;
  std::atomic<bool> started{false};
  uint16_t bound_port = 0;

  Impl(ServerOptions o, Handler h)
      : opt(std::move(o)),
        handler(std::move(h)),
        ioc(std::max(1, opt.io_threads)),
        strand(asio::make_strand(ioc)),
        acceptor(strand),
        signals(strand),
        retry_timer(strand),
        drain_timer(strand) {}

  void accept();
  void begin_stop();
  // Runs the io_context until it stops, polling for opt.poll_spin after
  // each event before blocking.
  void run_io() {
    if (opt.poll_spin.count() <= 0) {
      ioc.run();
      return;
    }
    for (;;) {
      auto until = Clock::now() + opt.poll_spin;
      for (;;) {
        if (ioc.poll_one() > 0) {
          until = Clock::now() + opt.poll_spin;
          continue;
        }
        if (ioc.stopped()) return;
        if (Clock::now() >= until) break;
        std::this_thread::yield();
      }
      if (ioc.run_one() == 0) return;  // stopped: out of work
    }
  }
  void add(Connection* c, std::weak_ptr<Connection> w) {
    std::lock_guard<std::mutex> lk(mu);
    conns.emplace(c, std::move(w));
  }
  void remove(Connection* c) {
    bool drained = false;
    {
      std::lock_guard<std::mutex> lk(mu);
      conns.erase(c);
      drained = conns.empty() && stopping;
    }
    if (drained) asio::post(strand, [this] { drain_timer.cancel(); });
  }
  template <typename Fn>
  void for_each_connection(Fn fn);
};

struct Responder::State {
  std::shared_ptr<Connection> conn;
  asio::executor_work_guard<asio::io_context::executor_type> work;  // keeps the I/O threads running
  std::atomic<bool> sent{false};
  State(std::shared_ptr<Connection> c, asio::io_context& ioc) : conn(std::move(c)), work(ioc.get_executor()) {}
  ~State();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Server::Impl& srv)
      : stream_(std::move(socket)), srv_(srv), grace_timer_(stream_.get_executor()) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Connection() { srv_.remove(this); }

  void start() {
    srv_.add(this, weak_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  template <typename Fn>
  void post(Fn fn) {
    asio::post(stream_.get_executor(), std::move(fn));
  }

  // Server stopping: an idle connection (waiting for a request) closes now,
  // or after ServerOptions::stop_idle_grace unless a request arrives by
  // then; one with a request in flight closes after its response.
  void on_stop() {
    if (busy_ || closed_) return;
    if (srv_.opt.stop_idle_grace.count() <= 0) return close();
    grace_timer_.expires_after(srv_.opt.stop_idle_grace);
    grace_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->busy_) self->close();
    });
  }
  void force_close() { close(); }

  void respond(Response r);

 private:
  void read_header();
  void on_header(beast::error_code ec);
  void read_body();
  void on_body(beast::error_code ec);
  void fail_request(int status, std::string_view message);
  void respond_file(Response r);  // respond() for a BodyFile body
  // A response to this request with `r`'s status and header fields.
  template <class Body>
  std::shared_ptr<bhttp::response<Body>> start_response(const Response& r);
  // Writes it, then on_written().
  template <class Body>
  void write_response(std::shared_ptr<bhttp::response<Body>> res, int status, uint64_t bytes,
                      std::shared_ptr<const Response::LogFields> fields);
  // Everything of the request but its body.
  template <typename Fields>
  void fill_head(Request& req, const Fields& msg) const {
    req.method = method_;
    req.target = target_;
    const size_t q = target_.find('?');
    req.path = target_.substr(0, q);
    if (q != std::string::npos) req.query = target_.substr(q + 1);
    for (const auto& f : msg) req.headers.add(std::string(f.name_string()), std::string(f.value()));
    req.remote = remote_;
    req.version = version_;
  }
  void on_written(beast::error_code ec, bool keep_alive, int status, uint64_t bytes,
                  const std::shared_ptr<const Response::LogFields>& fields);
  // After an error answer to a request whose body was not read: stop
  // sending, then read and drop what the client still sends (for a few
  // seconds at most), so that it gets to read the answer instead of a reset.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(5));
    drain_.resize(16384);
    discard();
  }
  void discard() {
    stream_.async_read_some(asio::buffer(drain_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->discard();
    });
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    grace_timer_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // The most request bytes read but not yet parsed that the buffer may hold
  // while a body is read: a trailer as large as a header, plus a read.
  size_t max_unparsed_bytes() const { return srv_.opt.max_header_bytes + 2 * kBodyReadChunk; }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Server::Impl& srv_;
  std::string remote_;
  bool busy_ = false;    // a request is being read, handled or answered
  bool closed_ = false;
  bool keep_alive_ = true;
  bool linger_ = false;  // the request's body may still be arriving
  std::vector<char> drain_;
  asio::steady_timer grace_timer_;
  unsigned version_ = 11;
  std::string method_, target_;
  std::optional<Request> head_;  // the request without its body, when a precheck saw it
  uint64_t request_bytes_ = 0;
  Clock::time_point t0_;
};

void Connection::read_header() {
  busy_ = false;
  // Stopping: only a connection accepted as the server stopped gets here (a
  // response while stopping closes its connection); with a grace it may
  // send one request.
  const auto grace = srv_.opt.stop_idle_grace;
  if (closed_ || (srv_.stopping && grace.count() <= 0)) return close();
  parser_.emplace();
  parser_->header_limit(srv_.opt.max_header_bytes);
  parser_->body_limit(srv_.opt.max_body_bytes);
  stream_.expires_after(srv_.stopping ? std::min<std::chrono::steady_clock::duration>(srv_.opt.header_timeout, grace)
                                      : std::chrono::steady_clock::duration(srv_.opt.header_timeout));
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void Connection::on_header(beast::error_code ec) {
  if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
      ec == asio::error::connection_reset || ec == asio::error::eof || closed_)
    return close();
  busy_ = true;
  t0_ = Clock::now();
  request_bytes_ = 0;
  if (ec == bhttp::error::header_limit) return fail_request(431, "the request header is too large");
  if (ec == bhttp::error::body_limit) {
    // The header is complete: its Content-Length is what is over the limit.
    method_ = std::string(parser_->get().method_string());
    target_ = std::string(parser_->get().target());
    if (auto n = parser_->content_length()) request_bytes_ = *n;
    return fail_request(413, "the request body is larger than the limit of " +
                                 std::to_string(srv_.opt.max_body_bytes) + " bytes");
  }
  if (ec) return fail_request(400, "bad request: " + ec.message());
  auto& req = parser_->get();
  method_ = std::string(req.method_string());
  target_ = std::string(req.target());
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  if (auto n = parser_->content_length()) request_bytes_ = *n;
  if (auto te = req.find(bhttp::field::transfer_encoding); te != req.end()) {
    // Beast undoes "chunked" only: a body in another coding (gzip, ...)
    // would reach the handler still encoded, and one whose last coding is
    // not chunked has no reliable length (RFC 9112 6.3).
    std::string_view v = te->value();
    while (!v.empty() && (v.front() == ' ' || v.front() == '	')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '	')) v.remove_suffix(1);
    if (!iequals(v, "chunked"))
      return fail_request(501, "Transfer-Encoding \"" + std::string(v) +
                                   "\" is not supported: send the body as is, or chunked");
  }
  if (auto n = parser_->content_length(); n && *n > srv_.opt.max_body_bytes)
    return fail_request(413, "the request body is larger than the limit of " +
                                 std::to_string(srv_.opt.max_body_bytes) + " bytes");
  if (srv_.opt.precheck) {
    head_.emplace();
    fill_head(*head_, req);
    std::optional<Response> early;
    try {
      early = srv_.opt.precheck(*head_);
    } catch (const std::exception& e) {
      early = Response::error(500, std::string("internal error: ") + e.what());
    }
    if (early) {
      head_.reset();
      if (!parser_->is_done()) {  // the body stays unread: close after the answer
        keep_alive_ = false;
        linger_ = true;
      }
      return respond(std::move(*early));
    }
  }
  if (iequals(req[bhttp::field::expect], "100-continue") && !parser_->is_done()) {
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, version_);
    stream_.expires_after(srv_.opt.write_timeout);
    bhttp::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code e, size_t) {
      if (e) return self->close();
      self->read_body();
    });
    return;
  }
  read_body();
}

void Connection::read_body() {
  // Beast reads at most the buffer's free capacity at a time (at least 512
  // bytes), and the parser drains the buffer into the body after each read,
  // so a buffer sized for headers reads a 3 MB body ~700 bytes per syscall.
  // Give large bodies (and chunked ones, whose size is unknown) 64 KiB
  // reads; on_body gives the memory back.
  if (auto n = parser_->content_length(); parser_->chunked() || (n && *n > kBodyReadChunk / 4))
    buffer_.reserve(buffer_.size() + kBodyReadChunk);
  // The parser moves body bytes out of the buffer as they arrive, but keeps
  // an incomplete chunk-size line, chunk extension or trailer there until
  // its CRLF comes: without a cap, a client sending one endless chunk line
  // grows the buffer without bound (the body limit never sees those bytes).
  // Past the cap the read fails with buffer_overflow (a 400).
  buffer_.max_size(std::max(buffer_.capacity(), max_unparsed_bytes()));
  stream_.expires_after(srv_.opt.body_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
}

void Connection::on_body(beast::error_code ec) {
  if (ec == bhttp::error::buffer_overflow)
    return fail_request(400, "bad request: a chunk-size line, chunk extension or trailer is longer than " +
                                 std::to_string(max_unparsed_bytes()) + " bytes");
  if (ec == bhttp::error::body_limit)
    return fail_request(413, "the request body is larger than the limit of " +
                                 std::to_string(srv_.opt.max_body_bytes) + " bytes");
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted || closed_) return close();
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
      ec == asio::error::connection_reset)
    return close();
  if (ec) return fail_request(400, "bad request: " + ec.message());
  stream_.expires_never();
  if (buffer_.capacity() > kBodyReadChunk / 4 && buffer_.size() == 0) buffer_.shrink_to_fit();

  auto msg = parser_->release();
  parser_.reset();
  Request req;
  if (head_) {
    req = std::move(*head_);
    head_.reset();
  } else {
    fill_head(req, msg);
  }
  req.body = std::move(msg.body());
  request_bytes_ = req.body.size();

  Responder res(std::make_shared<Responder::State>(shared_from_this(), srv_.ioc));
  try {
    srv_.handler(std::move(req), res);
  } catch (const std::exception& e) {
    res.send(Response::error(500, std::string("internal error: ") + e.what()));
  } catch (...) {
    res.send(Response::error(500, "internal error"));
  }
}

void Connection::fail_request(int status, std::string_view message) {
  keep_alive_ = false;
  linger_ = true;
  if (method_.empty()) method_ = "-";
  respond(Response::error(status, message));
}

template <class Body>
std::shared_ptr<bhttp::response<Body>> Connection::start_response(const Response& r) {
  auto res = std::make_shared<bhttp::response<Body>>();
  res->version(version_);
  res->result(static_cast<unsigned>(r.status));
  res->set(bhttp::field::server, srv_.opt.server_name);
  for (auto& [k, v] : r.headers.items()) res->insert(k, v);
  res->keep_alive(keep_alive_ && !srv_.stopping);
  return res;
}

template <class Body>
void Connection::write_response(std::shared_ptr<bhttp::response<Body>> res, int status, uint64_t bytes,
                                std::shared_ptr<const Response::LogFields> fields) {
  stream_.expires_after(srv_.opt.write_timeout);
  const bool ka = res->keep_alive();
  bhttp::async_write(stream_, *res,
                     [self = shared_from_this(), res, ka, status, bytes, fields = std::move(fields)](
                         beast::error_code ec, size_t) { self->on_written(ec, ka, status, bytes, fields); });
}

void Connection::respond(Response r) {
  if (closed_) return;
  if (r.file && method_ != "HEAD") return respond_file(std::move(r));
  auto res = start_response<bhttp::string_body>(r);
  res->body() = std::move(r.body);
  res->prepare_payload();
  // A response to HEAD has the header fields of the GET answer, its
  // Content-Length included, and no body: bytes after the header would be
  // read by the client as the start of the next response.
  if (method_ == "HEAD") {
    res->body().clear();
    if (r.file) res->content_length(r.file->size());
  }
  const uint64_t bytes = res->body().size();
  write_response(std::move(res), r.status, bytes, std::move(r.log_fields));
}

void Connection::respond_file(Response r) {
  auto res = start_response<bhttp::file_body>(r);
  beast::file_posix f;
  f.native_handle(r.file->release());  // the body closes it
  beast::error_code ec;
  res->body().reset(std::move(f), ec);
  if (ec) return respond(Response::error(500, "cannot send the file: " + ec.message()));
  res->prepare_payload();  // Content-Length: the file's size
  const uint64_t bytes = res->body().size();
  write_response(std::move(res), r.status, bytes, std::move(r.log_fields));
}

void Connection::on_written(beast::error_code ec, bool keep_alive, int status, uint64_t bytes,
                            const std::shared_ptr<const Response::LogFields>& fields) {
  if (srv_.opt.access_logger) {
    AccessRecord rec;
    rec.remote = remote_;
    rec.method = method_;
    rec.target = target_;
    rec.status = status;
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    rec.request_bytes = request_bytes_;
    rec.response_bytes = bytes;
    rec.write_failed = static_cast<bool>(ec);
    rec.fields = fields.get();
    try {
      srv_.opt.access_logger(rec);
    } catch (const std::exception& e) {
      log_line("pier: access log: %s", e.what());
    }
  } else if (srv_.opt.access_log) {
    // Not fprintf: a stalled stderr reader would freeze the I/O thread.
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
    log_line("%s %s %s %d %.1fms", remote_.c_str(), method_.c_str(), target_.c_str(), status, ms);
  }
  method_.clear();
  target_.clear();
  if (ec) return close();
  if (!keep_alive) return linger_ ? linger() : close();
  read_header();
}

Responder::State::~State() {
  if (!sent.exchange(true)) {
    auto c = conn;
    c->post([c] { c->respond(Response::error(500, "internal error: the request was not answered")); });
  }
}

void Responder::send(Response r) const {
  if (state_->sent.exchange(true)) return;
  auto c = state_->conn;
  c->post([c, r = std::move(r)]() mutable { c->respond(std::move(r)); });
}

bool Responder::sent() const { return state_->sent.load(); }

template <typename Fn>
void Server::Impl::for_each_connection(Fn fn) {
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [p, w] : conns)
      if (auto c = w.lock()) live.push_back(std::move(c));
  }
  for (auto& c : live) fn(c);
}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      if (stopping) return;
      // Out of descriptors or similar: try again shortly instead of spinning.
      retry_timer.expires_after(std::chrono::milliseconds(50));
      retry_timer.async_wait([this](beast::error_code e) {
        if (!e && !stopping) accept();
      });
      return;
    }
    // A connection accepted as the server stops (its accept completed just
    // before the acceptor closed) is served when there is a grace for idle
    // connections: the client has already been told it was connected.
    if (stopping && opt.stop_idle_grace.count() <= 0) return;
    beast::error_code ignore;
    socket.set_option(tcp::no_delay(true), ignore);
    std::make_shared<Connection>(std::move(socket), *this)->start();
    if (!stopping) accept();
  });
}

// On the strand.
void Server::Impl::begin_stop() {
  beast::error_code ec;
  acceptor.close(ec);
  signals.cancel(ec);
  retry_timer.cancel();
  for_each_connection([](const std::shared_ptr<Connection>& c) { c->post([c] { c->on_stop(); }); });
  bool empty;
  {
    std::lock_guard<std::mutex> lk(mu);
    empty = conns.empty();
  }
  if (empty) return;
  drain_timer.expires_after(opt.drain_timeout);
  drain_timer.async_wait([this](beast::error_code e) {
    if (e) return;  // every connection finished in time
    log_line("pier: requests still running after %lld ms; closing their connections",
                 static_cast<long long>(opt.drain_timeout.count()));
    for_each_connection([](const std::shared_ptr<Connection>& c) { c->post([c] { c->force_close(); }); });
  });
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() {
  stop();
  wait();
}

void Server::start() {
  auto& s = *impl_;
  if (s.started.exchange(true)) throw std::runtime_error("the server is already started");
  beast::error_code ec;
  const auto addr = asio::ip::make_address(s.opt.host, ec);
  if (ec) throw std::runtime_error("invalid listen address \"" + s.opt.host + "\": " + ec.message());
  const tcp::endpoint ep(addr, s.opt.port);
  const std::string where = s.opt.host + ":" + std::to_string(s.opt.port);
  if (s.opt.listen_fd >= 0) {
    // An inherited socket: it must be a listening TCP socket.
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    int listening = 0;
    socklen_t ilen = sizeof listening;
    if (::getsockname(s.opt.listen_fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0 ||
        (sa.ss_family != AF_INET && sa.ss_family != AF_INET6) ||
        ::getsockopt(s.opt.listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) != 0 || !listening)
      throw std::runtime_error("descriptor " + std::to_string(s.opt.listen_fd) + " is not a listening TCP socket");
    s.acceptor.assign(sa.ss_family == AF_INET ? tcp::v4() : tcp::v6(), s.opt.listen_fd, ec);
    if (ec) throw std::runtime_error("cannot accept on descriptor " + std::to_string(s.opt.listen_fd) + ": " + ec.message());
  } else {
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  }
  s.bound_port = s.acceptor.local_endpoint().port();
  asio::dispatch(s.strand, [&s] { s.accept(); });
  for (int i = 0; i < std::max(1, s.opt.io_threads); ++i) {
    s.threads.emplace_back([&s] {
      for (;;) {
        try {
          s.run_io();
          return;
        } catch (const std::exception& e) {
          log_line("pier: http: %s", e.what());
        }
      }
    });
  }
}

uint16_t Server::port() const { return impl_->bound_port; }

void Server::stop() {
  auto& s = *impl_;
  if (!s.started || s.stopping.exchange(true)) return;
  asio::post(s.strand, [&s] { s.begin_stop(); });
}

void Server::wait() {
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

void Server::stop_on_signals(std::function<void()> on_signal) {
  auto& s = *impl_;
  s.signals.add(SIGTERM);
  s.signals.add(SIGINT);
  s.signals.async_wait([this, on_signal = std::move(on_signal)](beast::error_code ec, int) {
    if (ec) return;
    if (!on_signal) return stop();
    on_signal();
    impl_->signals.async_wait([this](beast::error_code e, int) {
      if (!e) stop();
    });
  });
}

void Server::run() {
  stop_on_signals();
  start();
  wait();
}

}  // namespace pier::http
