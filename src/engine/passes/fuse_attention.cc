#include "passes/pass_util.h"
#include "passes/passes.h"
namespace pier::passes {
bool fuse_attention(ir::Graph&) { return false; }
}  // namespace pier::passes
