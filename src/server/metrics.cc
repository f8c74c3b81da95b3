#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

namespace pier::server {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

void append_number(std::string& out, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

void append_u64(std::string& out, uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64, v);
  out += buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// Resident set size from /proc/self/statm (pages), or 0 when unreadable.
double resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

}  // namespace

std::string prom_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Histogram::observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  counts_[i].fetch_add(1, kRelaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(seconds * 1e9), kRelaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += counts_[i].load(kRelaxed);
    out += name;
    out += "_bucket{";
    out += labels;
    out += ",le=\"";
    if (i < kBounds.size()) append_number(out, kBounds[i]);
    else out += "+Inf";
    out += "\"} ";
    append_u64(out, cumulative);
    out += '\n';
  }
  out += name + "_sum{" + labels + "} ";
  append_number(out, static_cast<double>(sum_ns_.load(kRelaxed)) * 1e-9);
  out += '\n';
  out += name + "_count{" + labels + "} ";
  append_u64(out, cumulative);
  out += '\n';
}

ModelMetrics::ModelMetrics(const std::string& model, const std::string& version)
    : labels_("model=\"" + prom_escape(model) + "\",version=\"" + prom_escape(version) + "\"") {}

void ModelMetrics::request_done(int status, double seconds) {
  request_duration_.observe(seconds);
  for (size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) {
      by_status_[i].fetch_add(1, kRelaxed);
      return;
    }
  }
  other_status_.store(status, kRelaxed);
  other_.fetch_add(1, kRelaxed);
}

Metrics::Metrics() : start_(std::chrono::steady_clock::now()) {
  start_unix_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ModelMetrics& Metrics::add_model(const std::string& model, const std::string& version) {
  return models_.emplace_back(model, version);
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096 + models_.size() * 6000);
  header(out, "pier_requests_total", "counter", "Requests to a model, by HTTP status.");
  for (const auto& m : models_) {
    for (size_t i = 0; i < ModelMetrics::kStatuses.size(); ++i) {
      const uint64_t n = m.by_status_[i].load(kRelaxed);
      // Always show 200, so that every model has a series from the start.
      if (n == 0 && ModelMetrics::kStatuses[i] != 200) continue;
      out += "pier_requests_total{" + m.labels_ + ",status=\"" + std::to_string(ModelMetrics::kStatuses[i]) + "\"} ";
      append_u64(out, n);
      out += '\n';
    }
    if (const uint64_t n = m.other_.load(kRelaxed)) {
      out += "pier_requests_total{" + m.labels_ + ",status=\"" + std::to_string(m.other_status_.load(kRelaxed)) +
             "\"} ";
      append_u64(out, n);
      out += '\n';
    }
  }
  header(out, "pier_inferences_total", "counter", "Successful engine runs of a model.");
  for (const auto& m : models_) {
    out += "pier_inferences_total{" + m.labels_ + "} ";
    append_u64(out, m.inferences_.load(kRelaxed));
    out += '\n';
  }
  header(out, "pier_request_duration_seconds", "histogram",
         "Time from a request's arrival at the model's handler to its answer.");
  for (const auto& m : models_) m.request_duration_.render(out, "pier_request_duration_seconds", m.labels_);
  header(out, "pier_queue_duration_seconds", "histogram", "Time a request waited for an inference worker.");
  for (const auto& m : models_) m.queue_duration_.render(out, "pier_queue_duration_seconds", m.labels_);
  header(out, "pier_requests_in_flight", "gauge", "Requests to a model being handled now.");
  for (const auto& m : models_) {
    out += "pier_requests_in_flight{" + m.labels_ + "} ";
    out += std::to_string(m.in_flight_.load(kRelaxed));
    out += '\n';
  }

  header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out += "process_resident_memory_bytes ";
  append_number(out, resident_bytes());
  header(out += '\n', "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  out += "process_cpu_seconds_total ";
  append_number(out, cpu_seconds());
  header(out += '\n', "process_uptime_seconds", "gauge", "Seconds since the server started.");
  out += "process_uptime_seconds ";
  append_number(out, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  header(out += '\n', "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  out += "process_start_time_seconds ";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", start_unix_);
  out += buf;
  out += '\n';
  return out;
}

}  // namespace pier::server
