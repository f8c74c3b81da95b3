// pier_http: routing, keep-alive, limits, timeouts, asynchronous responders
// and graceful stop, driven over real sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "http/multipart.h"
#include "http/router.h"

using namespace pier::http;
using namespace std::chrono_literals;

namespace {

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }
  // Reads one response (headers and Content-Length body); "" on close or
  // timeout.
  std::string response(std::chrono::milliseconds timeout = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t h = buf_.find("\r\n\r\n");
      if (h != std::string::npos) {
        size_t len = 0;
        const size_t cl = lower(buf_.substr(0, h)).find("content-length:");
        if (cl != std::string::npos) len = std::stoul(buf_.substr(cl + 15));
        if (buf_.size() >= h + 4 + len) {
          std::string r = buf_.substr(0, h + 4 + len);
          buf_.erase(0, h + 4 + len);
          return r;
        }
      }
      if (!fill(end)) return "";
    }
  }
  // Everything that arrives within `timeout`, taken as is.
  std::string raw(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (fill(end)) {
    }
    std::string r;
    r.swap(buf_);
    return r;
  }
  // True when the server closes the connection within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (fill(end)) {
    }
    return eof_;
  }

 private:
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  bool fill(std::chrono::steady_clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

int status_of(const std::string& r) { return r.size() > 12 ? std::stoi(r.substr(9, 3)) : 0; }
std::string body_of(const std::string& r) { return r.substr(r.find("\r\n\r\n") + 4); }

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

struct TestServer {
  Router router;
  std::unique_ptr<Server> server;
  explicit TestServer(ServerOptions opt = {}) {
    router.add("GET", "/items/{id}", [](Request req, Responder res) {
      res.send(Response::text(200, "item " + req.params.at("id") + " q=" + req.query_param("q").value_or("-")));
    });
    router.add("POST", "/echo", [](Request req, Responder res) { res.send(Response::text(200, req.body)); });
    router.add("GET", "/later", [](Request, Responder res) {
      std::thread([res] {
        std::this_thread::sleep_for(300ms);
        res.send(Response::text(200, "done later"));
      }).detach();
    });
    router.add("GET", "/forgotten", [](Request, Responder) {});
    router.add("GET", "/throws", [](Request, Responder) { throw std::runtime_error("boom"); });
    router.add("GET", "/block", [](Request, Responder res) {
      std::this_thread::sleep_for(300ms);
      res.send(Response::text(200, "ok"));
    });
    opt.port = 0;
    server = std::make_unique<Server>(opt, router.handler());
    server->start();
  }
  uint16_t port() const { return server->port(); }
};

}  // namespace

TEST(HttpServer, RoutesWithParamsQueryAnd404And405) {
  TestServer s;
  Client c(s.port());
  c.send(get("/items/a%20b?q=x+y"));
  std::string r = c.response();
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_EQ(body_of(r), "item a b q=x y");
  c.send(get("/nothing"));
  r = c.response();
  EXPECT_EQ(status_of(r), 404);
  EXPECT_NE(body_of(r).find("\"error\""), std::string::npos);
  c.send("DELETE /items/1 HTTP/1.1\r\nHost: x\r\n\r\n");
  r = c.response();
  EXPECT_EQ(status_of(r), 405);
  EXPECT_NE(r.find("Allow: GET"), std::string::npos) << r;
}

TEST(HttpServer, KeepsConnectionsAliveAndEchoesBodies) {
  TestServer s;
  Client c(s.port());
  for (int i = 0; i < 3; ++i) {
    const std::string body(1000 * (i + 1), static_cast<char>('a' + i));
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string r = c.response();
    EXPECT_EQ(status_of(r), 200);
    EXPECT_EQ(body_of(r), body);
  }
  // Chunked bodies too.
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(body_of(c.response()), "abcde");
}

TEST(HttpServer, RejectsBodiesOverTheLimitWith413) {
  ServerOptions opt;
  opt.max_body_bytes = 100;
  TestServer s(opt);
  {
    Client c(s.port());
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
    std::string r = c.response();
    EXPECT_EQ(status_of(r), 413) << r;
    EXPECT_NE(body_of(r).find("limit"), std::string::npos);
    EXPECT_TRUE(c.closed_within(2000ms));
  }
  {
    Client c(s.port());
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" "40\r\n" + std::string(64, 'x') +
           "\r\n40\r\n" + std::string(64, 'x') + "\r\n0\r\n\r\n");
    EXPECT_EQ(status_of(c.response()), 413);
  }
  {
    Client c(s.port());
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    EXPECT_EQ(status_of(c.response()), 200);
  }
}

TEST(HttpServer, PrecheckAnswersFromTheHeaderWithoutReadingTheBody) {
  ServerOptions opt;
  std::atomic<int> checked{0};
  opt.precheck = [&checked](const Request& q) -> std::optional<Response> {
    ++checked;
    EXPECT_TRUE(q.body.empty());
    if (q.headers.find("X-Key") && *q.headers.find("X-Key") == "good") return std::nullopt;
    Response r = Response::error(401, "no key for " + q.path);
    r.headers.set("WWW-Authenticate", "Bearer");
    return r;
  };
  TestServer s(opt);
  {
    // A refused request's 64 MB body is never sent, yet the answer comes,
    // with the precheck's headers, and the connection closes.
    Client c(s.port());
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n" + std::string(1000, 'x'));
    const std::string r = c.response();
    EXPECT_EQ(status_of(r), 401) << r;
    EXPECT_NE(r.find("WWW-Authenticate: Bearer"), std::string::npos) << r;
    EXPECT_NE(body_of(r).find("no key for /echo"), std::string::npos) << r;
    EXPECT_TRUE(c.closed_within(2000ms));
  }
  {
    // Refused without a body: the connection stays usable.
    Client c(s.port());
    c.send(get("/items/1"));
    EXPECT_EQ(status_of(c.response()), 401);
    c.send(get("/items/2", "X-Key: good\r\n"));
    const std::string r = c.response();
    EXPECT_EQ(status_of(r), 200) << r;
    EXPECT_EQ(body_of(r), "item 2 q=-");
  }
  {
    // Let through: the handler gets the body as usual.
    Client c(s.port());
    c.send("POST /echo HTTP/1.1\r\nHost: x\r\nX-Key: good\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(body_of(c.response()), "hello");
  }
  EXPECT_EQ(checked.load(), 4);
}

TEST(HttpServer, AnswersExpectContinue) {
  TestServer s;
  Client c(s.port());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string r = c.response();
  EXPECT_EQ(status_of(r), 100) << r;
  c.send("hello");
  EXPECT_EQ(body_of(c.response()), "hello");
}

TEST(HttpServer, BadRequestsGet4xxNotACrash) {
  TestServer s;
  {
    Client c(s.port());
    c.send("THIS IS NOT HTTP\r\n\r\n");
    EXPECT_EQ(status_of(c.response()), 400);
  }
  {
    ServerOptions opt;
    opt.max_header_bytes = 1024;
    TestServer small(opt);
    Client c(small.port());
    c.send(get("/items/1", "X-Big: " + std::string(4000, 'a') + "\r\n"));
    EXPECT_EQ(status_of(c.response()), 431);
  }
}

TEST(HttpServer, ClosesSlowOrPartialRequests) {
  ServerOptions opt;
  opt.header_timeout = 300ms;
  opt.body_timeout = 300ms;
  TestServer s(opt);
  {
    Client idle(s.port());  // says nothing
    EXPECT_TRUE(idle.closed_within(3000ms));
  }
  {
    Client slow(s.port());
    slow.send("GET /items/1 HTTP/1.1\r\nHo");  // never finishes the header
    EXPECT_TRUE(slow.closed_within(3000ms));
  }
  {
    Client partial(s.port());
    partial.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part");
    EXPECT_TRUE(partial.closed_within(3000ms));
  }
  Client fine(s.port());  // the server still works
  fine.send(get("/items/2"));
  EXPECT_EQ(status_of(fine.response()), 200);
}

TEST(HttpServer, HandlersMayAnswerLaterFromAnotherThread) {
  TestServer s;
  Client c(s.port());
  c.send(get("/later"));
  std::string r = c.response();
  EXPECT_EQ(status_of(r), 200);
  EXPECT_EQ(body_of(r), "done later");
  c.send(get("/forgotten"));
  EXPECT_EQ(status_of(c.response()), 500);
  c.send(get("/throws"));
  r = c.response();
  EXPECT_EQ(status_of(r), 500);
  EXPECT_NE(body_of(r).find("boom"), std::string::npos);
}

TEST(HttpServer, SeveralIoThreadsServeInParallel) {
  ServerOptions opt;
  opt.io_threads = 4;
  TestServer s(opt);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      Client c(s.port());
      c.send(get("/block"));
      if (status_of(c.response()) == 200) ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 4);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);  // 4 x 300 ms if serialised
}

TEST(HttpServer, StopFinishesRequestsInFlightAndClosesIdleConnections) {
  TestServer s;
  Client idle(s.port());
  idle.send(get("/items/1"));
  EXPECT_EQ(status_of(idle.response()), 200);  // now idle, kept alive
  Client busy(s.port());
  busy.send(get("/later"));
  std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  s.server->stop();
  std::string r = busy.response();
  EXPECT_EQ(status_of(r), 200) << "the request in flight was cut";
  EXPECT_EQ(body_of(r), "done later");
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(idle.closed_within(2000ms));
  s.server->wait();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5000ms);
  Client after(s.port());
  EXPECT_FALSE(after.connected() && (after.send(get("/items/1")), status_of(after.response(500ms)) == 200));
}

TEST(HttpServer, StopIdleGraceAnswersTheNextRequestOnAnIdleConnection) {
  ServerOptions opt;
  opt.stop_idle_grace = 1000ms;
  TestServer s(opt);
  Client idle(s.port());
  idle.send(get("/items/1"));
  EXPECT_EQ(status_of(idle.response()), 200);
  Client silent(s.port());
  silent.send(get("/items/2"));
  EXPECT_EQ(status_of(silent.response()), 200);
  const auto t0 = std::chrono::steady_clock::now();
  s.server->stop();
  std::this_thread::sleep_for(100ms);
  idle.send(get("/items/3"));  // just after the stop: still answered
  std::string r = idle.response();
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(idle.closed_within(1000ms));
  EXPECT_TRUE(silent.closed_within(3000ms));  // closed when the grace ends
  s.server->wait();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5000ms);
}

// A supervisor owns the listening socket and hands it to servers in turn:
// connections that arrive between two servers wait in the socket's queue
// and are answered by the next one; none is refused.
TEST(HttpServer, AdoptsAnInheritedListeningSocketAndLeavesItsQueueToTheNextServer) {
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 64), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t port = ntohs(a.sin_port);
  Router router;
  router.add("GET", "/who", [](Request, Responder res) { res.send(Response::text(200, "first")); });
  ServerOptions opt;
  opt.listen_fd = ::dup(lfd);
  auto first = std::make_unique<Server>(opt, router.handler());
  first->start();
  EXPECT_EQ(first->port(), port);
  {
    Client c(port);
    c.send(get("/who"));
    EXPECT_EQ(body_of(c.response()), "first");
  }
  first->stop();
  first->wait();
  first.reset();
  Client waiting(port);  // queued: the socket is still open here
  ASSERT_TRUE(waiting.connected());
  waiting.send(get("/who"));
  Router router2;
  router2.add("GET", "/who", [](Request, Responder res) { res.send(Response::text(200, "second")); });
  opt.listen_fd = ::dup(lfd);
  Server second(opt, router2.handler());
  second.start();
  EXPECT_EQ(body_of(waiting.response()), "second");
  second.stop();
  second.wait();
  ::close(lfd);
  ServerOptions bad;
  bad.listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);  // not listening
  Server refused(bad, router.handler());
  EXPECT_THROW(refused.start(), std::runtime_error);
  ::close(bad.listen_fd);
}

TEST(HttpServer, AccessLoggerSeesEveryAnsweredRequestWithItsLogFields) {
  std::mutex mu;
  std::vector<std::string> seen;
  ServerOptions opt;
  opt.max_body_bytes = 16;
  opt.access_logger = [&](const AccessRecord& r) {
    std::string extra;
    if (r.fields)
      for (const auto& [k, v] : *r.fields) extra += " " + k + "=" + v;
    std::lock_guard<std::mutex> lk(mu);
    seen.push_back(std::string(r.method) + " " + std::string(r.target) + " " + std::to_string(r.status) + " in=" +
                   std::to_string(r.request_bytes) + " out=" + std::to_string(r.response_bytes) + extra);
    EXPECT_GE(r.seconds, 0.0);
  };
  TestServer s(opt);
  s.router.add("GET", "/tagged", [](Request, Responder res) {
    Response r = Response::text(200, "abc");
    r.log_fields = std::make_shared<Response::LogFields>(Response::LogFields{{"model", "m"}, {"version", "3"}});
    res.send(std::move(r));
  });
  Client c(s.port());
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(status_of(c.response()), 200);
  c.send(get("/tagged"));
  EXPECT_EQ(status_of(c.response()), 200);
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  EXPECT_EQ(status_of(c.response()), 413);
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (seen.size() >= 3) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard<std::mutex> lk(mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], "POST /echo 200 in=5 out=5");
  EXPECT_EQ(seen[1], "GET /tagged 200 in=0 out=3 model=m version=3");
  EXPECT_EQ(seen[2].substr(0, 19), "POST /echo 413 in=1");
}

TEST(HttpMultipart, ParsesFieldsAndFiles) {
  const std::string body =
      "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nresnet\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--not-the-boundary\r\n"
      "--XyZ--\r\n";
  auto parts = parse_multipart_form("multipart/form-data; boundary=\"XyZ\"", body);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "name");
  EXPECT_EQ(parts[0].data, "resnet");
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_EQ(parts[1].filename, "m.onnx");
  EXPECT_EQ(parts[1].data, "\x01\x02\r\n--not-the-boundary");
  EXPECT_TRUE(is_multipart_form("Multipart/Form-Data; boundary=a"));
  EXPECT_FALSE(is_multipart_form("application/octet-stream"));
  EXPECT_THROW(parse_multipart_form("multipart/form-data", body), std::invalid_argument);
  EXPECT_THROW(parse_multipart_form("multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; "
                                                                          "name=\"a\"\r\n\r\nunterminated"),
               std::invalid_argument);
}

TEST(HttpMessage, DecodesUrlsAndQueries) {
  EXPECT_EQ(*url_decode("a%2Fb+c", true), "a/b c");
  EXPECT_EQ(*url_decode("a+b", false), "a+b");
  EXPECT_FALSE(url_decode("%zz", false));
  EXPECT_FALSE(url_decode("%4", false));
  Request r;
  r.query = "tag=a%3Db&tag=c&x";
  auto q = r.query_params();
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0].second, "a=b");
  EXPECT_EQ(q[2].first, "x");
  EXPECT_EQ(*r.query_param("tag"), "a=b");
  Response e = Response::error(404, "bad \xff byte");
  EXPECT_EQ(e.body, "{\"error\":\"bad ? byte\"}");
}

TEST(HttpServer, SendsFileBodiesFromDiskAndTheirLengthForHead) {
  char path[] = "/tmp/pier_body_file_XXXXXX";
  const int tmp = ::mkstemp(path);
  ASSERT_GE(tmp, 0);
  std::string content(300000, 'a');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(::write(tmp, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(tmp);
  Router router;
  router.add("GET", "/file", [&path, &content](Request, Responder res) {
    Response r;
    r.headers.set("Content-Type", "application/octet-stream");
    r.file = std::make_shared<BodyFile>(::open(path, O_RDONLY | O_CLOEXEC), content.size());
    res.send(std::move(r));
  });
  ServerOptions opt;
  opt.port = 0;
  Server server(opt, router.handler());
  server.start();
  Client c(server.port());
  for (int i = 0; i < 2; ++i) {  // twice on one kept-alive connection
    c.send(get("/file"));
    const std::string r = c.response();
    EXPECT_EQ(status_of(r), 200);
    EXPECT_NE(r.find("Content-Length: 300000"), std::string::npos) << r.substr(0, 200);
    EXPECT_TRUE(body_of(r) == content) << "body of " << body_of(r).size() << " bytes";
  }
  // HEAD: the file's Content-Length, and not one body byte.
  c.send("HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string head = c.raw(500ms);
  EXPECT_EQ(status_of(head), 200) << head;
  EXPECT_NE(head.find("Content-Length: 300000"), std::string::npos) << head;
  EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << head.size();
  ::unlink(path);
}
