// pier: command-line entry point. Each verb lives in its own file and
// registers its subcommand here.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "pier/engine.h"

int main(int argc, char** argv) {
  pier::cli::prepare_serve_process(argc, argv);
  CLI::App app{"Pier: run and serve ONNX models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("pier ") + pier::version());
  pier::cli::CommandRunner runner;
  pier::cli::add_run_command(app, runner);
  pier::cli::add_info_command(app, runner);
  pier::cli::add_workspace_command(app, runner);
  pier::cli::add_model_command(app, runner);
  pier::cli::add_serve_command(app, runner);
  pier::cli::add_image_command(app, runner);
  pier::cli::add_deploy_command(app, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return runner.run();
}
