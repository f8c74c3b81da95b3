// Graph passes. Each pass is one file and rewrites an ir::Graph in place;
// optimize() runs them in order, to a fixpoint where that matters.
// PIER_DUMP_GRAPH=1 prints the node list after each pass that changed it.
#pragma once

#include "ir/graph.h"

namespace pier::passes {

// Returns true when the pass changed the graph.
bool constant_to_initializer(ir::Graph& g);
bool eliminate_identity(ir::Graph& g);
bool eliminate_dead_code(ir::Graph& g);
// Transformer / RNN / general passes (see each file's header comment).
bool constant_folding(ir::Graph& g);
bool fold_shape(ir::Graph& g);
bool infer_shapes(ir::Graph& g);
bool eliminate_transpose(ir::Graph& g);
bool fuse_layernorm(ir::Graph& g);
bool fuse_gelu(ir::Graph& g);
bool fuse_matmul_add(ir::Graph& g);
bool fuse_attention(ir::Graph& g);
bool fuse_matmul_activation(ir::Graph& g);
// Convolution passes (cnn_pass_util.h describes the internal ops).
bool fold_conv_bn(ir::Graph& g);
bool fuse_conv_activation(ir::Graph& g);
bool fuse_conv_pad(ir::Graph& g);
bool layout_channels_last(ir::Graph& g);
bool mark_conv_sum_inplace(ir::Graph& g);

void optimize(ir::Graph& g, int level);

// Names read by nodes of `g` and of all its subgraphs (including values
// captured from enclosing scopes), plus g's outputs.
std::unordered_map<std::string, int> use_counts(const ir::Graph& g);

}  // namespace pier::passes
