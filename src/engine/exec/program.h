// A compiled graph: kernels bound to value slots, with lifetimes computed
// so each intermediate is released right after its last use.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel.h"

namespace pier::exec {

class Program;

// The values of one execution of a Program. Frames of subgraphs point at
// the frame of the graph that encloses them.
// A run's time limit (RunOptions::timeout), shared by its frames.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  std::chrono::milliseconds timeout{0};
  // Throws ErrorCode::kDeadlineExceeded once `at` has passed.
  void check() const;
};

struct Frame {
  const Program* program = nullptr;
  Frame* parent = nullptr;
  std::vector<Value> slots;
  int threads = 1;
  const Deadline* deadline = nullptr;  // none when null; subgraph frames take their parent's
  void check_deadline() const {
    if (deadline) deadline->check();
  }
};

class Program final : public kernels::Subgraph {
 public:
  // Compiles `graph` (which must outlive the Program). `parent` is the
  // enclosing graph for subgraphs, nullptr for the main graph.
  Program(const ir::Graph& graph, Program* parent, const SessionOptions& options);
  ~Program() override;

  // Runs with one value per formal input (graph.inputs order).
  // `deadline` (may be null) applies to a main graph's run; subgraphs use
  // their parent frame's.
  std::vector<Value> execute(Frame* parent, std::vector<Value> inputs, int threads,
                             const Deadline* deadline = nullptr) const;

  // The value in `slot` of `frame` (a frame of this program): initializers
  // are read from the program, everything else from the frame.
  const Value& value_at(const Frame& frame, int slot) const {
    const Value* c = constant_of_[slot];
    return c ? *c : frame.slots[slot];
  }

  // kernels::Subgraph
  size_t num_inputs() const override { return input_slots_.size(); }
  size_t num_outputs() const override { return output_slots_.size(); }
  const ir::Graph& graph() const override { return graph_; }
  std::vector<Value> run(kernels::KernelContext& parent, std::vector<Value> inputs) const override;

 private:
  struct Step {
    const ir::Node* node = nullptr;
    std::unique_ptr<kernels::OpKernel> kernel;
    std::vector<int> inputs;   // slot per input, -1 when absent
    std::vector<int> outputs;  // slot per output, -1 when unused
    std::vector<int> implicit;  // outer values read by subgraphs of this node
    std::vector<int> release;  // slots dead after this step
    // Bit i: input i's value is dead after this step (its last use, not a
    // graph input/output, initializer or capture), so the kernel may write
    // its output over it (KernelContext::allocate_or_reuse).
    uint64_t dying = 0;
    // Outputs are written straight into their frame slots, except when an
    // output is unused or aliases an input (then through scratch values).
    bool direct_outputs = true;
  };
  struct Capture {
    int outer_slot;  // in the parent frame
    int local_slot;
  };

  int slot_for(const std::string& name, bool define);
  // The local slot of `name`, resolving it from enclosing graphs if needed.
  // Returns -1 if no scope defines it.
  int resolve(const std::string& name);
  void compile_nodes(const SessionOptions& options);
  void compute_lifetimes();

  const ir::Graph& graph_;
  Program* parent_;
  std::unordered_map<std::string, int> slot_of_;
  int num_slots_ = 0;
  std::vector<std::pair<int, Value>> constants_;
  // Per slot: the initializer it holds (read in place, never copied into
  // frames), or nullptr. Initializers that a node overwrites (not SSA) are
  // copied into the frame instead.
  std::vector<const Value*> constant_of_;
  size_t max_inputs_ = 0, max_outputs_ = 0;
  std::vector<int> input_slots_, output_slots_;
  std::vector<Capture> captures_;
  std::vector<Step> steps_;
  // Captures requested while compiling the current node's subgraphs.
  std::vector<int>* pending_implicit_ = nullptr;
  std::vector<std::shared_ptr<Program>> subprograms_;
};

}  // namespace pier::exec
