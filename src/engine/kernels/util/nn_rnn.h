// Shared pieces of the recurrent kernels (RNN, GRU, LSTM): attribute
// parsing, ONNX's activation functions, and the reference implementation
// used for everything oneDNN cannot express (non-default activations,
// clip, input_forget, ragged sequence_lens). The reference does its matrix
// products with oneDNN's sgemm; only the gate arithmetic is a plain loop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace pier::kernels::rnn {

enum class Cell { kRnn, kGru, kLstm };
enum class Direction { kForward, kReverse, kBidirectional };

struct Activation {
  enum class Kind { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid, kElu,
                    kSoftsign, kSoftplus };
  Kind kind = Kind::kTanh;
  float alpha = 0.f, beta = 0.f;
  float operator()(float x) const;
  // Parses an ONNX activation name (case-insensitive); takes alpha/beta
  // from the lists at the cursors when the function has those parameters.
  static Activation parse(const std::string& name, const std::vector<float>& alphas, size_t& ai,
                          const std::vector<float>& betas, size_t& bi);
};

struct Attrs {
  Cell cell = Cell::kRnn;
  Direction direction = Direction::kForward;
  int64_t hidden = 0;
  std::vector<Activation> acts;  // per direction: 1 (RNN), 2 (GRU) or 3 (LSTM) functions
  float clip = 0.f;              // 0: none
  int64_t layout = 0;            // 0: [seq, batch, ...]; 1: [batch, seq, ...]
  bool linear_before_reset = false;
  bool input_forget = false;

  int gates() const { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4; }
  int funcs() const { return cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 2 : 3; }
  int dirs() const { return direction == Direction::kBidirectional ? 2 : 1; }
  const Activation& act(int dir, int k) const { return acts[static_cast<size_t>(dir * funcs() + k)]; }
  // True when every direction uses the op's default functions.
  bool default_activations() const;

  static Attrs parse(const ir::Node& node, Cell cell);
};

// Inputs in layout 0 (float). Optional pointers may be null.
struct Inputs {
  int64_t T = 0, N = 0, I = 0;
  const float* x = nullptr;       // [T, N, I]
  const float* w = nullptr;       // [D, G*H, I]
  const float* r = nullptr;       // [D, G*H, H]
  const float* b = nullptr;       // [D, 2*G*H]
  const int32_t* seq = nullptr;   // [N]
  const float* h0 = nullptr;      // [D, N, H]
  const float* c0 = nullptr;      // [D, N, H]
  const float* p = nullptr;       // [D, 3*H]
};

// Outputs in layout 0 (float). Null pointers are not written.
struct Outputs {
  float* y = nullptr;   // [T, D, N, H]
  float* yh = nullptr;  // [D, N, H]
  float* yc = nullptr;  // [D, N, H]
};

void reference(const Attrs& a, const Inputs& in, const Outputs& out);

// LSTM for small batches (a few sequences: the recurrent product is a
// matrix-vector product bound by reading R). For the default activations,
// no clip, no input_forget and full-length sequences (in.seq is ignored).
// X W^T (+ biases) for all steps is one sgemm; each step then streams the
// packed R once and updates the cells block by block.
// `rp` is R packed by pack_recurrent_lstm. Threads split the blocks of
// hidden units and meet at one barrier per step.
// `input_product(d, xw)`, when given, fills xw [T*N, 4*H] with X W_d^T plus
// both biases (the kernel runs it on a cached oneDNN matmul).
using InputProduct = std::function<void(int64_t dir, float* xw)>;
void lstm_small_batch(const Attrs& a, const float* rp, const Inputs& in, const Outputs& out, int threads,
                      const InputProduct& input_product = {});
// R [D, 4*H, H] -> per direction, blocks of 16 hidden units, each
// [H (k), 4 gates, 16 units] contiguous (zero-padded past H).
// 64-byte aligned (each k row of a block is one cache line).
Tensor pack_recurrent_lstm(const float* r, int64_t D, int64_t H);
// Largest batch lstm_small_batch is meant for.
constexpr int64_t kSmallBatch = 4;

}  // namespace pier::kernels::rnn
