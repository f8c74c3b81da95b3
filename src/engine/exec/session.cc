// Session: load -> validate -> optimize -> compile, then run with input
// checks. Threads: each run sets the OpenMP team size of the calling thread,
// so concurrent runs with different sessions do not interfere.
#include <omp.h>

#include <chrono>
#include <optional>
#include <thread>

#include "exec/memory_planner.h"
#include "exec/program.h"
#include "ir/loader.h"
#include "passes/passes.h"

namespace pier {

struct Session::Impl {
  SessionOptions options;
  ModelInfo info;
  std::shared_ptr<ir::Graph> graph;
  std::unique_ptr<exec::Program> program;
  int threads = 1;
  // Position in graph.inputs of each fed input (info.inputs order).
  std::vector<size_t> feed_pos;
  std::vector<Value> defaults;  // per graph input: initializer or none
  // Tensor memory plans per input signature (declared after program: it
  // goes first, returning the arenas).
  exec::MemoryPlanner planner;
};

namespace {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

std::unique_ptr<Session::Impl> build(ir::LoadedModel loaded, const SessionOptions& options) {
  auto impl = std::make_unique<Session::Impl>();
  impl->options = options;
  impl->threads = resolve_threads(options.threads);
  impl->info = std::move(loaded.info);
  impl->graph = std::move(loaded.graph);
  passes::optimize(*impl->graph, options.optimization_level);
  impl->program = std::make_unique<exec::Program>(*impl->graph, nullptr, options);
  const auto& g = *impl->graph;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Tensor* init = g.initializer(g.inputs[i].name);
    impl->defaults.push_back(init ? Value(*init) : Value());
    if (!init) impl->feed_pos.push_back(i);
  }
  return impl;
}

std::string kind_name(const Value& v) {
  if (v.is_none()) return "an empty optional";
  if (v.is_sequence()) return std::string("seq(tensor(") + dtype_name(v.elem_type()) + "))";
  return std::string("tensor(") + dtype_name(v.tensor().dtype()) + ")";
}

void check_input(const ValueInfo& want, const Value& got) {
  const std::string who = "input \"" + want.name + "\"";
  if (got.is_none()) {
    if (want.optional) return;
    throw Error(ErrorCode::kInvalidArgument, who + ": no value given");
  }
  const bool want_seq = want.kind == Value::Kind::kSequence;
  // An empty sequence read from a file carries no element type.
  if (want_seq && got.is_sequence() && got.items().empty() && got.elem_type() == DataType::kUndefined) return;
  if (want_seq != got.is_sequence() || got.elem_type() != want.dtype) {
    if (want.dtype == DataType::kUndefined && want_seq == got.is_sequence()) return;
    throw Error(ErrorCode::kInvalidArgument, who + ": expected " + want.type_str() + ", got " + kind_name(got));
  }
  if (!got.is_tensor() || !want.has_shape) return;
  const Shape& s = got.tensor().shape();
  bool ok = s.size() == want.dims.size();
  for (size_t i = 0; ok && i < s.size(); ++i) ok = want.dims[i] < 0 || want.dims[i] == s[i];
  if (!ok)
    throw Error(ErrorCode::kInvalidArgument,
                who + ": expected shape " + want.type_str().substr(want.type_str().find('[')) + ", got " + shape_str(s));
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

std::unique_ptr<Session> Session::load(const std::string& path, const SessionOptions& options) {
  return std::unique_ptr<Session>(new Session(build(ir::load_model_file(path, ir::Unsupported::kThrow), options)));
}

std::unique_ptr<Session> Session::load_from_memory(std::string_view bytes, const SessionOptions& options,
                                                   const std::string& base_dir) {
  return std::unique_ptr<Session>(
      new Session(build(ir::load_model_bytes(bytes, base_dir, ir::Unsupported::kThrow), options)));
}

const std::vector<ValueInfo>& Session::inputs() const { return impl_->info.inputs; }
const std::vector<ValueInfo>& Session::outputs() const { return impl_->info.outputs; }
const ModelInfo& Session::info() const { return impl_->info; }

namespace {
// The deadline of a run that starts now; nullopt without a timeout.
std::optional<exec::Deadline> deadline_of(const RunOptions& o) {
  if (o.timeout.count() <= 0) return std::nullopt;
  return exec::Deadline{std::chrono::steady_clock::now() + o.timeout, o.timeout};
}
}  // namespace

std::vector<Value> Session::run(const std::vector<Value>& inputs, const RunOptions& options) const {
  const auto deadline = deadline_of(options);
  const auto& want = impl_->info.inputs;
  if (inputs.size() != want.size())
    throw Error(ErrorCode::kInvalidArgument, "the model takes " + std::to_string(want.size()) + " inputs, got " +
                                                 std::to_string(inputs.size()));
  std::vector<Value> all = impl_->defaults;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_input(want[i], inputs[i]);
    all[impl_->feed_pos[i]] = inputs[i];
  }
  omp_set_num_threads(impl_->threads);
  exec::MemoryPlanner::Run run(impl_->planner, exec::MemoryPlanner::signature(all));
  return impl_->program->execute(nullptr, std::move(all), impl_->threads, deadline ? &*deadline : nullptr);
}

std::vector<Value> Session::run(const std::vector<std::pair<std::string, Value>>& feeds,
                                const std::vector<std::string>& output_names, const RunOptions& options) const {
  const auto deadline = deadline_of(options);
  const auto& g = *impl_->graph;
  std::vector<Value> all = impl_->defaults;
  std::vector<bool> fed(all.size(), false);
  for (const auto& [name, value] : feeds) {
    size_t pos = 0;
    while (pos < g.inputs.size() && g.inputs[pos].name != name) ++pos;
    if (pos == g.inputs.size()) throw Error(ErrorCode::kInvalidArgument, "the model has no input named \"" + name + "\"");
    check_input(g.inputs[pos], value);
    all[pos] = value;
    fed[pos] = true;
  }
  for (size_t p : impl_->feed_pos)
    if (!fed[p] && !g.inputs[p].optional)
      throw Error(ErrorCode::kInvalidArgument, "input \"" + g.inputs[p].name + "\" was not given");
  omp_set_num_threads(impl_->threads);
  std::vector<Value> outs;
  {
    exec::MemoryPlanner::Run run(impl_->planner, exec::MemoryPlanner::signature(all));
    outs = impl_->program->execute(nullptr, std::move(all), impl_->threads, deadline ? &*deadline : nullptr);
  }
  if (output_names.empty()) return outs;
  std::vector<Value> picked;
  for (const auto& name : output_names) {
    size_t pos = 0;
    while (pos < g.outputs.size() && g.outputs[pos].name != name) ++pos;
    if (pos == g.outputs.size()) throw Error(ErrorCode::kInvalidArgument, "the model has no output named \"" + name + "\"");
    picked.push_back(outs[pos]);
  }
  return picked;
}

MemoryStats Session::memory_stats() const { return impl_->planner.stats(); }

ModelInfo inspect_model(const std::string& path) {
  return ir::load_model_file(path, ir::Unsupported::kRecord).info;
}

}  // namespace pier
