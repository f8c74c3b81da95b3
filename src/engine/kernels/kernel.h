// The kernel interface: what an op implementation sees when it is created
// (KernelInit, once per node at session creation) and when it runs
// (KernelContext, once per node per run).
//
// Rules for kernels:
//  - compute() is const and must be safe to call from several threads at
//    once. Per-shape caches (oneDNN primitives) must be synchronized.
//  - Do expensive preparation (weight packing, attribute parsing) in the
//    factory, not in compute().
//  - Throw pier::Error for bad inputs (kInvalidArgument) or attributes
//    (kInvalidModel); the executor adds the node's name to the message.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "pier/engine.h"

namespace pier::exec {
struct Frame;
}

namespace pier::kernels {

class KernelContext;

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void compute(KernelContext& ctx) const = 0;
};

// A compiled subgraph (If/Loop/Scan body) that a kernel can run.
class Subgraph {
 public:
  virtual ~Subgraph() = default;
  virtual size_t num_inputs() const = 0;
  virtual size_t num_outputs() const = 0;
  virtual const ir::Graph& graph() const = 0;
  // Runs the body with `inputs` bound to its formal inputs by position.
  // Values of the enclosing scopes are read through `parent`'s frame.
  virtual std::vector<Value> run(KernelContext& parent, std::vector<Value> inputs) const = 0;
};

// Creation-time view of a node.
class KernelInit {
 public:
  using SubgraphCompiler = std::function<std::shared_ptr<const Subgraph>(const ir::Graph&)>;
  KernelInit(const ir::Node& node, const ir::Graph& graph, const SessionOptions& options,
             SubgraphCompiler compile)
      : node(node), graph(graph), options(options), compile_(std::move(compile)) {}

  const ir::Node& node;
  const ir::Graph& graph;
  const SessionOptions& options;

  // The constant value of input i when it is an initializer, else nullptr.
  const Tensor* constant_input(int i) const {
    return node.has_input(i) ? graph.initializer(node.inputs[i]) : nullptr;
  }
  // Declared or inferred type of input/output i, or nullptr when unknown.
  // A static shape of more elements than any tensor may hold (a corrupt
  // declaration, or inference through a huge Expand/Tile) counts as
  // unknown: kernels that prepare work for it (oneDNN primitives) would
  // overflow, and a run meets the tensor size limit anyway.
  const ValueInfo* input_info(int i) const { return node.has_input(i) ? plausible(graph.info(node.inputs[i])) : nullptr; }
  const ValueInfo* output_info(int i) const {
    return node.has_output(i) ? plausible(graph.info(node.outputs[i])) : nullptr;
  }
  // Compiles graph attribute `attr` as a subgraph of the current graph.
  std::shared_ptr<const Subgraph> compile_subgraph(const std::string& attr) const {
    return compile_(*node.req_graph(attr));
  }

 private:
  static const ValueInfo* plausible(const ValueInfo* info);
  SubgraphCompiler compile_;
};

// Run-time view of a node.
class KernelContext {
 public:
  // `dying`: bit i set when input i's value is not used after this node
  // (see allocate_or_reuse).
  KernelContext(const ir::Node& node, exec::Frame& frame, const Value* const* inputs, Value* const* outputs,
                int threads, uint64_t dying = 0)
      : node_(node), frame_(frame), inputs_(inputs), outputs_(outputs), threads_(threads), dying_(dying) {}

  const ir::Node& node() const { return node_; }
  int num_inputs() const { return node_.num_inputs(); }
  int num_outputs() const { return node_.num_outputs(); }
  // Present: listed, non-empty name, and not an empty optional value.
  bool has_input(int i) const { return i < num_inputs() && inputs_[i] != nullptr; }
  const Value& value(int i) const;
  // Input i as a tensor; raises kInvalidArgument when absent or not a tensor.
  const Tensor& input(int i) const;
  bool wants_output(int i) const { return node_.has_output(i); }
  // Allocates output i (uninitialized numeric contents). During a run the
  // storage comes from the session's planned arena, so allocating outputs
  // (and temporaries: Tensor(...)) here costs no malloc when shapes repeat.
  Tensor& allocate(int i, DataType dtype, Shape shape);
  // Output `out` (dtype, shape), written in place over input `in` when that
  // is safe, else allocated like allocate(). Safe means: input `in` is a
  // tensor of the same dtype and element count, its value is dead after this
  // node (this is its last use; it is not a graph input or output, an
  // initializer or a value of an enclosing graph), no one else shares its
  // storage (Tensor::unique()) and no other input of this node uses that
  // storage. The kernel must then produce each output element from input
  // elements at the same index only, reading before writing: element-wise
  // maps, and broadcasts where `in` already has the output's shape.
  Tensor& allocate_or_reuse(int out, int in, DataType dtype, Shape shape);
  // Whether allocate_or_reuse(_, in, dtype, shape) would reuse input `in`.
  bool can_reuse(int in, DataType dtype, const Shape& shape) const;
  void set_output(int i, Value v);
  int threads() const { return threads_; }
  exec::Frame& frame() { return frame_; }
  // Throws ErrorCode::kDeadlineExceeded when the run is past its time
  // limit (kernels that iterate without running operators call it).
  void check_deadline() const;

 private:
  const ir::Node& node_;
  exec::Frame& frame_;
  const Value* const* inputs_;
  Value* const* outputs_;
  int threads_;
  uint64_t dying_;
};

using KernelFactory = std::function<std::unique_ptr<OpKernel>(const KernelInit&)>;

// Helper for the common case: a kernel type constructible from KernelInit.
template <typename K>
KernelFactory make_factory() {
  return [](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<K>(init); };
}

constexpr int kOpenEnded = 1 << 30;

struct KernelDef {
  std::string domain;  // "" for ai.onnx
  std::string op;
  int since = 1;
  int end = kOpenEnded;        // inclusive
  std::vector<DataType> types;  // allowed types of input 0; empty = any
  KernelFactory factory;
};

class KernelRegistry {
 public:
  // Registers a kernel for schema versions [since, end]. Raises when the
  // range (and type set) overlaps one already registered.
  void add(const std::string& domain, const std::string& op, int since, int end, KernelFactory f,
           std::vector<DataType> types = {});
  // The kernel for `op` at schema version `version` whose type set admits
  // `dtype` (kUndefined when unknown), or nullptr.
  const KernelDef* find(const std::string& domain, const std::string& op, int version,
                        DataType dtype = DataType::kUndefined) const;
  // True if any version of the op is registered.
  bool knows(const std::string& domain, const std::string& op) const;
  std::vector<std::string> ops() const;

  // The registry with every kernel family registered.
  static const KernelRegistry& global();

 private:
  std::unordered_map<std::string, std::vector<KernelDef>> defs_;  // key: domain::op
};

// Shorthand for error messages inside kernels.
[[noreturn]] void fail(ErrorCode code, const std::string& message);

}  // namespace pier::kernels
