#include "server/model.h"

#include <charconv>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "server/errors.h"

namespace pier::server {

ServedModel::ServedModel(ModelEntry e, ModelMetrics& metrics, RunOptions run_options)
    : run_options_(run_options),
      name_(std::move(e.name)),
      version_(e.version),
      version_str_(std::to_string(e.version)),
      source_(std::move(e.source)),
      session_(std::move(e.session)),
      metrics_(metrics) {
  log_fields_ = std::make_shared<http::Response::LogFields>(
      http::Response::LogFields{{"model", name_}, {"version", version_str_}});
}

template <typename Fn>
std::vector<Value> ServedModel::guarded(Fn fn) const {
  try {
    std::vector<Value> out = fn();
    metrics_.inference_done();
    return out;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidArgument) throw RequestError(400, e.what());
    if (e.code() == ErrorCode::kDeadlineExceeded) {
      http::log_line("pier: error: model %s version %s: %s", name_.c_str(), version_str_.c_str(), e.what());
      throw RequestError(504, std::string("inference stopped: ") + e.what());
    }
    http::log_line("pier: error: model %s version %s: %s", name_.c_str(), version_str_.c_str(), e.what());
    throw RequestError(500, std::string("inference failed: ") + e.what());
  } catch (const std::bad_alloc&) {
    http::log_line("pier: error: model %s version %s: out of memory", name_.c_str(), version_str_.c_str());
    throw RequestError(500, "inference failed: out of memory");
  }
}

std::vector<Value> ServedModel::run(const std::vector<Value>& inputs) const {
  return guarded([&] { return session_->run(inputs, run_options_); });
}

std::vector<Value> ServedModel::run(const std::vector<std::pair<std::string, Value>>& feeds,
                                    const std::vector<std::string>& outputs) const {
  return guarded([&] { return session_->run(feeds, outputs, run_options_); });
}

int ServedModel::input_index(std::string_view name) const {
  const auto& in = inputs();
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i].name == name) return static_cast<int>(i);
  return -1;
}

int ServedModel::output_index(std::string_view name) const {
  const auto& out = outputs();
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].name == name) return static_cast<int>(i);
  return -1;
}

void ModelSet::add(std::unique_ptr<ServedModel> m) {
  auto& versions = by_name_[m->name()];
  if (!versions.emplace(m->version(), m.get()).second)
    throw std::invalid_argument("model " + m->name() + " version " + m->version_str() + " is given twice");
  all_.push_back(std::move(m));
}

ServedModel* ModelSet::find(const std::string& name, const std::string& version, std::string* why) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    if (why) {
      std::string names;
      for (const auto& [n, v] : by_name_) names += (names.empty() ? "" : ", ") + n;
      *why = "no model named \"" + name + "\" is served (served: " + (names.empty() ? "none" : names) + ")";
    }
    return nullptr;
  }
  if (version.empty()) return it->second.rbegin()->second;
  int64_t v = 0;
  const auto r = std::from_chars(version.data(), version.data() + version.size(), v);
  if (r.ec == std::errc() && r.ptr == version.data() + version.size()) {
    auto vit = it->second.find(v);
    if (vit != it->second.end()) return vit->second;
  }
  if (why) {
    std::string vs;
    for (const auto& [n, m] : it->second) vs += (vs.empty() ? "" : ", ") + std::to_string(n);
    *why = "model \"" + name + "\" has no served version \"" + version + "\" (served versions: " + vs + ")";
  }
  return nullptr;
}

std::vector<int64_t> ModelSet::versions(const std::string& name) const {
  std::vector<int64_t> out;
  auto it = by_name_.find(name);
  if (it != by_name_.end())
    for (const auto& [v, m] : it->second) out.push_back(v);
  return out;
}

}  // namespace pier::server
