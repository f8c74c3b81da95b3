// Shared by `pier workspace` and `pier model`: finding the workspace and
// turning workspace errors into messages and exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "workspace/registry.h"

namespace pier::cli {

// Runs fn; a ws::Error prints "pier: error: ..." and gives exit code 2 for
// bad arguments, 1 otherwise.
int ws_guard(const std::function<int()>& fn);

// Adds --workspace DIR to cmd.
void add_workspace_flag(CLI::App* cmd, std::string& dir);

// Finds (--workspace, $PIER_WORKSPACE, .pier/config.json) and opens the
// registry.
std::unique_ptr<ws::Registry> open_registry(const std::string& workspace_flag);

// Prints a record as text.
void print_record(const ws::ModelRecord& r);

}  // namespace pier::cli
