#include "cli/commands.h"
namespace pier::cli {
void add_deploy_command(CLI::App&, CommandRunner&) {}
}  // namespace pier::cli
