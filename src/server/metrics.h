// Prometheus metrics: per served model and version, and for the process.
//
//   pier_requests_total{model,version,status}       counter
//   pier_inferences_total{model,version}            counter (successful engine runs)
//   pier_request_duration_seconds{model,version}    histogram (arrival at the handler to the answer)
//   pier_queue_duration_seconds{model,version}      histogram (waiting for an inference worker)
//   pier_requests_in_flight{model,version}          gauge
//   process_resident_memory_bytes, process_cpu_seconds_total,
//   process_uptime_seconds, process_start_time_seconds
//
// Recording is lock-free (relaxed atomics); rendering reads a snapshot that
// may be a few requests behind, as Prometheus allows.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace pier::server {

class Histogram {
 public:
  // Upper bounds in seconds, 50 µs to 30 s.
  static constexpr std::array<double, 18> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                                     0.5,     1,      2.5,     5,      10,    30};
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name`{labels}.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};  // last: above every bound
  std::atomic<uint64_t> sum_ns_{0};
};

class ModelMetrics {
 public:
  ModelMetrics(const std::string& model, const std::string& version);
  void request_done(int status, double seconds);
  void queued(double seconds) { queue_duration_.observe(seconds); }
  void inference_done() { inferences_.fetch_add(1, std::memory_order_relaxed); }
  void enter() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  friend class Metrics;
  // Statuses the server gives, one counter each; anything else is counted
  // under its own code in `other_`.
  static constexpr std::array<int, 12> kStatuses = {200, 400, 401, 404, 405, 408, 413, 415, 422, 429, 500, 503};
  std::string labels_;  // model="m",version="1"
  std::array<std::atomic<uint64_t>, kStatuses.size()> by_status_{};
  std::atomic<uint64_t> other_{0};
  std::atomic<int> other_status_{0};
  std::atomic<uint64_t> inferences_{0};
  std::atomic<int64_t> in_flight_{0};
  Histogram request_duration_, queue_duration_;
};

class Metrics {
 public:
  Metrics();
  // The returned object lives as long as this Metrics. Call before serving.
  ModelMetrics& add_model(const std::string& model, const std::string& version);
  // The whole exposition (text format 0.0.4).
  std::string render() const;

 private:
  std::deque<ModelMetrics> models_;  // stable addresses
  std::chrono::steady_clock::time_point start_;
  double start_unix_ = 0;
};

// A Prometheus label value: backslash, double quote and newline escaped.
std::string prom_escape(const std::string& s);

}  // namespace pier::server
