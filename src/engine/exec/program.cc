#include "exec/program.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace pier::exec {

namespace {

bool profiling_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PIER_PROFILE");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

}  // namespace

Program::Program(const ir::Graph& graph, Program* parent, const SessionOptions& options)
    : graph_(graph), parent_(parent) {
  for (const auto& [name, tensor] : graph_.initializers) {
    int s = slot_for(name, true);
    constants_.emplace_back(s, Value(tensor));
  }
  for (const auto& in : graph_.inputs) input_slots_.push_back(slot_for(in.name, true));
  compile_nodes(options);
  for (const auto& out : graph_.outputs) {
    int s = resolve(out.name);
    if (s < 0) throw Error(ErrorCode::kInvalidModel, "graph output \"" + out.name + "\" is never produced");
    output_slots_.push_back(s);
  }
  compute_lifetimes();
}

Program::~Program() = default;

int Program::slot_for(const std::string& name, bool define) {
  auto it = slot_of_.find(name);
  if (it != slot_of_.end()) return it->second;
  if (!define) return -1;
  int s = num_slots_++;
  slot_of_.emplace(name, s);
  return s;
}

int Program::resolve(const std::string& name) {
  int s;
  auto it = slot_of_.find(name);
  if (it != slot_of_.end()) {
    s = it->second;
  } else {
    if (!parent_) return -1;
    int outer = parent_->resolve(name);
    if (outer < 0) return -1;
    s = slot_for(name, true);
    captures_.push_back(Capture{outer, s});
  }
  // A subgraph of the node being compiled reads this value: keep it alive
  // until that node has run.
  if (pending_implicit_) pending_implicit_->push_back(s);
  return s;
}

void Program::compile_nodes(const SessionOptions& options) {
  const auto& registry = kernels::KernelRegistry::global();
  steps_.reserve(graph_.nodes.size());
  for (const auto& node : graph_.nodes) {
    Step step;
    step.node = &node;
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        continue;
      }
      int s = resolve(in);
      if (s < 0) throw Error(ErrorCode::kInvalidModel, node.describe() + ": input \"" + in + "\" is not defined");
      step.inputs.push_back(s);
    }
    DataType t0 = DataType::kUndefined;
    if (node.has_input(0)) {
      if (const ValueInfo* vi = graph_.info(node.inputs[0])) t0 = vi->dtype;
    }
    const kernels::KernelDef* def = registry.find(node.domain, node.op_type, node.since_version, t0);
    if (!def) {
      std::string why = "unsupported operator " + node.qualified_op() + " (opset " + std::to_string(node.opset) +
                        ") at node \"" + node.name + "\"";
      if (t0 != DataType::kUndefined && registry.find(node.domain, node.op_type, node.since_version))
        why += " for input type " + std::string(dtype_name(t0));
      throw Error(ErrorCode::kUnsupported, why);
    }
    std::vector<int> implicit;
    pending_implicit_ = &implicit;
    kernels::KernelInit init(node, graph_, options, [this, &options](const ir::Graph& body) {
      auto prog = std::make_shared<Program>(body, this, options);
      subprograms_.push_back(prog);
      return std::shared_ptr<const kernels::Subgraph>(prog);
    });
    try {
      step.kernel = def->factory(init);
    } catch (const Error& e) {
      pending_implicit_ = nullptr;
      std::string msg = e.what();
      if (msg.find(node.describe()) == std::string::npos) msg = node.describe() + ": " + msg;
      throw Error(e.code(), msg);
    } catch (const std::exception& e) {
      pending_implicit_ = nullptr;
      throw Error(ErrorCode::kInvalidModel, node.describe() + ": " + e.what());
    }
    pending_implicit_ = nullptr;
    step.implicit = std::move(implicit);
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot_for(out, true));
    steps_.push_back(std::move(step));
  }
}

void Program::compute_lifetimes() {
  std::vector<int> last_use(num_slots_, -1);
  for (size_t i = 0; i < steps_.size(); ++i) {
    for (int s : steps_[i].inputs)
      if (s >= 0) last_use[s] = static_cast<int>(i);
    for (int s : steps_[i].implicit) last_use[s] = static_cast<int>(i);
  }
  std::vector<bool> pinned(num_slots_, false);
  for (int s : output_slots_) pinned[s] = true;
  for (const auto& [s, v] : constants_) pinned[s] = true;
  for (int s : input_slots_) pinned[s] = true;  // owned by the caller
  for (const auto& c : captures_) pinned[c.local_slot] = true;
  for (int s = 0; s < num_slots_; ++s)
    if (!pinned[s] && last_use[s] >= 0) steps_[last_use[s]].release.push_back(s);
  // Outputs nobody reads are released right after they are produced.
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int s : steps_[i].outputs)
      if (s >= 0 && !pinned[s] && last_use[s] < 0) steps_[i].release.push_back(s);

  // Initializers that are also graph inputs get their value from the
  // caller (who passes the initializer when not overriding it).
  std::vector<bool> written(num_slots_, false);
  for (int s : input_slots_) written[s] = true;
  for (const auto& step : steps_)
    for (int s : step.outputs)
      if (s >= 0) written[s] = true;
  constant_of_.assign(num_slots_, nullptr);
  for (const auto& [s, v] : constants_)
    if (!written[s]) constant_of_[s] = &v;

  for (auto& step : steps_) {
    max_inputs_ = std::max(max_inputs_, step.inputs.size());
    max_outputs_ = std::max(max_outputs_, step.outputs.size());
    auto has = [](const std::vector<int>& v, int s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    for (size_t i = 0; i < step.inputs.size() && i < 64; ++i) {
      const int s = step.inputs[i];
      if (s >= 0 && has(step.release, s) && !has(step.implicit, s)) step.dying |= uint64_t{1} << i;
    }
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      const int s = step.outputs[o];
      const bool repeated = std::find(step.outputs.begin(), step.outputs.begin() + o, s) != step.outputs.begin() + o;
      if (s < 0 || repeated || has(step.inputs, s) || has(step.implicit, s)) step.direct_outputs = false;
    }
  }
}

void Deadline::check() const {
  if (std::chrono::steady_clock::now() > at)
    throw Error(ErrorCode::kDeadlineExceeded,
                "the run took longer than its time limit of " + std::to_string(timeout.count()) + " ms");
}

std::vector<Value> Program::execute(Frame* parent, std::vector<Value> inputs, int threads,
                                    const Deadline* deadline) const {
  if (inputs.size() != input_slots_.size())
    throw Error(ErrorCode::kInvalidArgument, "graph \"" + graph_.name + "\" takes " +
                                                 std::to_string(input_slots_.size()) + " inputs, got " +
                                                 std::to_string(inputs.size()));
  Frame frame;
  frame.program = this;
  frame.parent = parent;
  frame.threads = threads;
  frame.deadline = parent ? parent->deadline : deadline;
  frame.slots.resize(num_slots_);
  for (const auto& [s, v] : constants_)
    if (!constant_of_[s]) frame.slots[s] = v;
  for (size_t i = 0; i < inputs.size(); ++i) frame.slots[input_slots_[i]] = std::move(inputs[i]);
  for (const auto& c : captures_) {
    if (!parent || !parent->program) throw Error(ErrorCode::kRuntime, "subgraph run without its enclosing frame");
    frame.slots[c.local_slot] = parent->program->value_at(*parent, c.outer_slot);
  }

  const bool profile = profiling_enabled();
  // Scratch for one step, sized once: input pointers, output pointers and
  // values for outputs that are not written straight into the frame.
  std::vector<const Value*> in_ptrs(max_inputs_);
  std::vector<Value*> out_ptrs(max_outputs_);
  std::vector<Value> scratch(max_outputs_);
  for (const auto& step : steps_) {
    frame.check_deadline();
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      const int s = step.inputs[i];
      const Value* v = s < 0 ? nullptr : &value_at(frame, s);
      in_ptrs[i] = v && !v->is_none() ? v : nullptr;
    }
    for (size_t o = 0; o < step.outputs.size(); ++o)
      out_ptrs[o] = step.direct_outputs ? &frame.slots[step.outputs[o]] : &scratch[o];
    kernels::KernelContext ctx(*step.node, frame, in_ptrs.data(), out_ptrs.data(), threads, step.dying);
    auto t0 = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      step.kernel->compute(ctx);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kDeadlineExceeded) throw;  // not this node's fault
      std::string msg = e.what();
      if (msg.find(step.node->describe()) == std::string::npos) msg = step.node->describe() + ": " + msg;
      throw Error(e.code(), msg);
    } catch (const std::bad_alloc&) {
      throw Error(ErrorCode::kRuntime, step.node->describe() + ": out of memory");
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kRuntime, step.node->describe() + ": " + e.what());
    }
    if (profile) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[pier-profile] %-24s %-40s %9.3f ms\n", step.node->op_type.c_str(),
                   step.node->name.c_str(), ms);
    }
    if (!step.direct_outputs) {
      for (size_t o = 0; o < step.outputs.size(); ++o) {
        const int s = step.outputs[o];
        if (s >= 0) frame.slots[s] = std::move(scratch[o]);
        scratch[o] = Value();
      }
    }
    for (int s : step.release) frame.slots[s] = Value();
  }

  std::vector<Value> result;
  result.reserve(output_slots_.size());
  for (int s : output_slots_) result.push_back(value_at(frame, s));
  return result;
}

std::vector<Value> Program::run(kernels::KernelContext& parent, std::vector<Value> inputs) const {
  return execute(&parent.frame(), std::move(inputs), parent.threads());
}

}  // namespace pier::exec
