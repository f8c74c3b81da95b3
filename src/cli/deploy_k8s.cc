// pier deploy k8s: Kubernetes manifests for an image built by pier image
// build (src/packaging/k8s.cc writes them; docs/deployment.md).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "cli/deploy_common.h"
#include "cli/ws_common.h"
#include "deploy/store.h"
#include "packaging/k8s.h"
#include "pier/engine.h"

namespace pier::cli::deploy_cli {

namespace {

struct K8sArgs {
  std::string workspace, name, image, output, namespace_ = "default", service_type = "ClusterIP";
  std::vector<std::string> models, api_keys;
  bool no_api_key = false, kserve = false;
  int port = 8080, replicas = 1, min_replicas = 1, max_replicas = 0, cpu_target = 70;
  std::string cpu = "500m", memory = "512Mi", cpu_limit, memory_limit = "1Gi";
  int drain = 30, stop_delay = 5;
};

int k8s_command(const K8sArgs& a) {
  deploy::validate_deployment_name(a.name);
  const auto located = ws::locate_workspace(a.workspace);
  ws::Registry reg(located.paths);
  pkg::K8sOptions o;
  o.name = a.name;
  o.namespace_ = a.namespace_;
  o.image = a.image;
  for (const auto& ref : a.models) {
    const ws::ModelRecord r = reg.get(ws::parse_ref(ref));
    o.models.push_back({r.name, r.version, r.sha256});
  }
  o.replicas = a.replicas;
  o.min_replicas = a.min_replicas;
  o.max_replicas = a.max_replicas ? a.max_replicas : std::max(a.replicas, a.min_replicas) * 4;
  o.cpu_target = a.cpu_target;
  o.cpu_request = a.cpu;
  o.memory_request = a.memory;
  o.cpu_limit = a.cpu_limit;
  o.memory_limit = a.memory_limit;
  o.port = a.port;
  o.drain_seconds = a.drain;
  o.stop_delay_seconds = a.stop_delay;
  o.service_type = a.service_type;
  o.kserve = a.kserve;
  if (a.no_api_key) {
    if (!a.api_keys.empty()) bad("--no-api-key and --api-key contradict each other");
  } else {
    o.api_keys = make_keys(a.api_keys.empty() ? std::vector<std::string>{"auto"} : a.api_keys);
  }
  o.pier_version = version();
  std::vector<std::string> files;
  try {
    files = pkg::write_k8s_manifests(o, a.output);
  } catch (const std::invalid_argument& e) {
    bad(e.what());
  }
  for (const auto& f : files) std::printf("wrote %s\n", f.c_str());
  if (!o.api_keys.empty())
    std::printf("the API keys are in %s/secret.yaml (mode 0600): keep it out of version control\n", a.output.c_str());
  return 0;
}

}  // namespace

void add_k8s_command(CLI::App* dep, CommandRunner& runner) {
  auto a = std::make_shared<K8sArgs>();
  auto* k8 = dep->add_subcommand(
      "k8s",
      "Write Kubernetes manifests for an image built by pier image build: Deployment (probes on /v2/health/*, "
      "resources, replicas, a grace period for draining), Service, HorizontalPodAutoscaler, Secret with the API keys, "
      "and optionally a KServe InferenceService");
  add_workspace_flag(k8, a->workspace);
  k8->add_option("name", a->name, kNameHelp)->required();
  k8->add_option("--model", a->models, "The models the image serves (NAME, NAME:VERSION or NAME@ALIAS), for labels; repeatable")->required();
  k8->add_option("--image", a->image, "Image reference, e.g. registry.example.com/team/digits:1")->required();
  k8->add_option("-o,--output", a->output, "Folder to write the YAML files to (created)")->required();
  k8->add_option("--namespace", a->namespace_, "Namespace")->capture_default_str();
  k8->add_option("--replicas", a->replicas, "Replicas at first")->capture_default_str();
  k8->add_option("--min-replicas", a->min_replicas, "HPA minimum")->capture_default_str();
  k8->add_option("--max-replicas", a->max_replicas, "HPA maximum (default: 4 x max(--replicas, --min-replicas))");
  k8->add_option("--cpu-target", a->cpu_target, "HPA target: average CPU utilization, percent of the request")->capture_default_str();
  k8->add_option("--cpu", a->cpu, "CPU request per pod")->capture_default_str();
  k8->add_option("--memory", a->memory, "Memory request per pod")->capture_default_str();
  k8->add_option("--cpu-limit", a->cpu_limit, "CPU limit per pod (default: none)");
  k8->add_option("--memory-limit", a->memory_limit, "Memory limit per pod")->capture_default_str();
  k8->add_option("--port", a->port, "Container port")->capture_default_str();
  k8->add_option("--drain-timeout", a->drain, "Seconds a stopping pod may take to finish its requests")->capture_default_str();
  k8->add_option("--stop-delay", a->stop_delay,
                 "Seconds a pod keeps serving after SIGTERM (readiness 503) while Kubernetes removes it from the "
                 "Service's endpoints, before it drains")
      ->capture_default_str();
  k8->add_option("--service-type", a->service_type, "ClusterIP, NodePort or LoadBalancer")->capture_default_str();
  k8->add_option("--api-key", a->api_keys, "Keys for the Secret: \"auto\" (the default) or one or two keys");
  k8->add_flag("--no-api-key", a->no_api_key, "No keys and no Secret: the service accepts anyone");
  k8->add_flag("--kserve", a->kserve, "Also write a KServe InferenceService (serving.kserve.io/v1beta1)");
  k8->callback([a, &runner] { runner.set([a] { return ws_guard([a] { return k8s_command(*a); }); }); });
}

}  // namespace pier::cli::deploy_cli
