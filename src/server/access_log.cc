#include "server/access_log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <stdexcept>

namespace pier::server {

namespace {

// The log must stay valid JSON whatever a client put in its request line.
std::string printable(std::string_view s) {
  std::string out(s);
  if (!simdjson::validate_utf8(out.data(), out.size()))
    for (char& c : out)
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  return out;
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

std::string access_line(const http::AccessRecord& r) {
  rapidjson::StringBuffer sb(nullptr, 256);
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](const char* key, std::string_view v) {
    w.Key(key);
    if (simdjson::validate_utf8(v.data(), v.size())) {
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    } else {
      const std::string p = printable(v);
      w.String(p.data(), static_cast<rapidjson::SizeType>(p.size()));
    }
  };
  const std::string* model = nullptr;
  const std::string* version = nullptr;
  if (r.fields)
    for (const auto& [k, v] : *r.fields) {
      if (k == "model") model = &v;
      else if (k == "version") version = &v;
    }
  w.StartObject();
  const std::string now = utc_now();
  str("time", now);
  str("remote", r.remote);
  str("method", r.method);
  str("path", r.target.substr(0, r.target.find('?')));
  if (model) {
    str("model", *model);
  } else {
    w.Key("model");
    w.Null();
  }
  if (version) {
    str("version", *version);
  } else {
    w.Key("version");
    w.Null();
  }
  w.Key("status");
  w.Int(r.status);
  w.Key("latency_ms");
  w.Double(static_cast<double>(static_cast<int64_t>(r.seconds * 1e6)) / 1e3);  // µs resolution
  w.Key("bytes_in");
  w.Uint64(r.request_bytes);
  w.Key("bytes_out");
  w.Uint64(r.response_bytes);
  if (r.write_failed) {
    w.Key("aborted");
    w.Bool(true);
  }
  if (r.fields)
    for (const auto& [k, v] : *r.fields)
      if (k != "model" && k != "version") str(k.c_str(), v);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

AccessLog::AccessLog(const std::string& path) {
  if (path == "-") {
    file_ = stderr;
  } else {
    file_ = std::fopen(path.c_str(), "a");
    if (!file_) throw std::runtime_error("cannot open the access log " + path);
    own_file_ = true;
  }
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  closing_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  flush();
  if (own_file_) std::fclose(file_);
}

void AccessLog::log(const http::AccessRecord& r) {
  std::string line = access_line(r);
  line += '\n';
  bool big;
  {
    std::lock_guard<std::mutex> lk(mu_);
    // A reader that does not keep up (a full pipe) must not make the
    // buffer, and the server, grow without bound: past the cap, lines are
    // counted and dropped.
    if (buf_.size() + line.size() > kMaxBuffered) ++dropped_;
    else buf_ += line;
    big = buf_.size() >= (256u << 10);
  }
  if (big) cv_.notify_one();
}

void AccessLog::flush() {
  std::lock_guard<std::mutex> wl(write_mu_);  // keeps lines in order across flushers
  std::string out;
  uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    out.swap(buf_);
    std::swap(dropped, dropped_);
  }
  if (dropped) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("time");
    const std::string now = utc_now();
    w.String(now.c_str());
    w.Key("dropped_lines");
    w.Uint64(dropped);
    w.EndObject();
    out.append(sb.GetString(), sb.GetSize());
    out += '\n';
  }
  if (!out.empty()) write_out(out);
}

void AccessLog::write_out(std::string_view data) {
  std::fflush(file_);  // nothing is written through file_ but this; keep it in step anyway
  const int fd = fileno(file_);
  struct stat st {};
  const bool pipe_like = ::fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
  // Into a pipe, at most PIPE_BUF bytes after poll() says it has room: such
  // a write does not block, so a stalled reader cannot hold the writer (and
  // a server stopping) forever.
  const size_t chunk = pipe_like ? PIPE_BUF : data.size();
  using Clock = std::chrono::steady_clock;
  Clock::time_point stalled_since{};
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, 100);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (p.revents & (POLLERR | POLLNVAL))) return;
    if (r == 0) {
      // Full. While serving, wait; once stopping, give up after kStopWait.
      if (!closing_) continue;
      if (stalled_since == Clock::time_point{}) stalled_since = Clock::now();
      if (Clock::now() - stalled_since > kStopWait) return;
      continue;
    }
    const ssize_t n = ::write(fd, data.data(), std::min(chunk, data.size()));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;  // EPIPE (the reader is gone), ENOSPC, ...: the lines are lost
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void AccessLog::run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    cv_.wait_for(lk, std::chrono::milliseconds(100), [this] { return stop_ || buf_.size() >= (256u << 10); });
    lk.unlock();
    flush();
    lk.lock();
  }
}

}  // namespace pier::server
