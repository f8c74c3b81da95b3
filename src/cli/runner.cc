#include <cstdio>
#include <exception>
#include <new>

#include "cli/commands.h"
#include "pier/engine.h"

namespace pier::cli {

int CommandRunner::run() {
  if (!action_) return 2;
  try {
    return action_();
  } catch (const pier::Error& e) {
    std::fprintf(stderr, "pier: error: %s\n", e.what());
    return e.code() == ErrorCode::kInvalidArgument ? 2 : 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "pier: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pier: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace pier::cli
