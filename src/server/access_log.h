// The access log: one JSON line per request,
//   {"time":"2024-05-01T12:34:56.789Z","remote":"127.0.0.1:50312","method":"POST",
//    "path":"/v2/models/mlp/infer","model":"mlp","version":"1","status":200,
//    "latency_ms":0.412,"bytes_in":812,"bytes_out":377}
// ("model" and "version" are null when the request named no served model).
// Lines are buffered and written by a background thread at least every
// 100 ms, so logging costs the I/O threads no system call. When the log
// cannot be written as fast as lines come (a stalled pipe reader), at most
// kMaxBuffered bytes wait; later lines are dropped and counted in a line
// {"time": ..., "dropped_lines": N}. Once stopping, a stalled log is waited
// for at most kStopWait.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "http/http.h"

namespace pier::server {

class AccessLog {
 public:
  // `path`: "-" for stderr, else a file opened for appending. Throws
  // std::runtime_error when the file cannot be opened.
  explicit AccessLog(const std::string& path);
  ~AccessLog();  // writes what is buffered
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void log(const http::AccessRecord& r);
  // Writes what is buffered now.
  void flush();

  static constexpr size_t kMaxBuffered = 8u << 20;
  static constexpr std::chrono::seconds kStopWait{2};

 private:
  void run();
  void write_out(std::string_view data);
  std::FILE* file_ = nullptr;
  bool own_file_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_;
  uint64_t dropped_ = 0;  // lines not buffered since the last flush
  std::atomic<bool> closing_{false};
  bool stop_ = false;
  std::thread thread_;
  std::mutex write_mu_;
};

// The line for one record, without the newline.
std::string access_line(const http::AccessRecord& r);

}  // namespace pier::server
