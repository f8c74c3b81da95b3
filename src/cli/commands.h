#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace pier::cli {

// Holds the action of the chosen subcommand; run() executes it and turns
// errors into a message on stderr and an exit code (1: failure, 2: usage).
class CommandRunner {
 public:
  void set(std::function<int()> action) { action_ = std::move(action); }
  int run();

 private:
  std::function<int()> action_;
};

void add_run_command(CLI::App& app, CommandRunner& runner);
void add_info_command(CLI::App& app, CommandRunner& runner);
void add_workspace_command(CLI::App& app, CommandRunner& runner);
void add_model_command(CLI::App& app, CommandRunner& runner);
void add_serve_command(CLI::App& app, CommandRunner& runner);
void add_image_command(CLI::App& app, CommandRunner& runner);
void add_deploy_command(CLI::App& app, CommandRunner& runner);
// For `pier serve`: may re-execute the process with malloc settings that
// suit a server (see serve.cc). Call first thing in main().
void prepare_serve_process(int argc, char** argv);

}  // namespace pier::cli
