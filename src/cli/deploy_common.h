// Shared by the `pier deploy` subcommands (deploy.cc: local deployments;
// deploy_k8s.cc: Kubernetes manifests).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace pier::cli::deploy_cli {

inline constexpr const char* kNameHelp = "Deployment name: 1-63 lowercase letters, digits and '-', starting with a letter";

// Throws a workspace error of kind "invalid argument" (exit code 2).
[[noreturn]] void bad(const std::string& msg);

// The keys --api-key asks for: "auto" alone gives a fresh primary and
// secondary key; otherwise one or two keys, as given (checked).
std::vector<std::string> make_keys(const std::vector<std::string>& given);

// Adds `pier deploy k8s` to the `deploy` subcommand.
void add_k8s_command(CLI::App* deploy, CommandRunner& runner);

}  // namespace pier::cli::deploy_cli
