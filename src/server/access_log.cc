#include "server/access_log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <chrono>
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
    buf_ += line;
    big = buf_.size() >= (256u << 10);
  }
  if (big) cv_.notify_one();
}

void AccessLog::flush() {
  std::lock_guard<std::mutex> wl(write_mu_);  // keeps lines in order across flushers
  std::string out;
  {
    std::lock_guard<std::mutex> lk(mu_);
    out.swap(buf_);
  }
  if (out.empty()) return;
  std::fwrite(out.data(), 1, out.size(), file_);
  std::fflush(file_);
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
