#include "packaging/k8s.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

namespace pier::pkg {

namespace {

namespace fs = std::filesystem;

void check_dns_label(const std::string& what, const std::string& s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  if (s.size() > 63 || !std::regex_match(s, re))
    throw std::invalid_argument(what + " \"" + s + "\" is not a DNS label (1-63 lowercase letters, digits and '-', "
                                "starting and ending with a letter or digit)");
}

void check_quantity(const std::string& what, const std::string& s) {
  // Kubernetes' resource.Quantity: a number with an optional suffix.
  static const std::regex re(R"(^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$)");
  if (!std::regex_match(s, re))
    throw std::invalid_argument(what + " \"" + s + "\" is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1Gi)");
}

Yaml labels(const K8sOptions& o) {
  return Yaml::object({{"app.kubernetes.io/name", o.name},
                       {"app.kubernetes.io/component", "scoring"},
                       {"app.kubernetes.io/managed-by", "pier"}});
}

Yaml annotations(const K8sOptions& o) {
  Yaml a;
  a.set("pier.io/version", o.pier_version);
  for (size_t i = 0; i < o.models.size(); ++i) {
    const std::string k = "pier.io/model." + std::to_string(i) + ".";
    a.set(k + "name", o.models[i].name);
    a.set(k + "version", std::to_string(o.models[i].version));
    a.set(k + "sha256", o.models[i].sha256);
  }
  return a;
}

Yaml metadata(const K8sOptions& o, const std::string& name) {
  return Yaml::object({{"name", name}, {"namespace", o.namespace_}, {"labels", labels(o)}, {"annotations", annotations(o)}});
}

std::string secret_name(const K8sOptions& o) { return o.name + "-keys"; }

// The pier container, shared by the Deployment and the InferenceService.
Yaml container(const K8sOptions& o, const std::string& name) {
  Yaml c;
  c.set("name", name);
  c.set("image", o.image);
  c.set("imagePullPolicy", "IfNotPresent");
  // The image's entrypoint is `pier serve --model-file ...`; these replace
  // its default command (--host 0.0.0.0 --port 8080).
  // --stop-delay: on SIGTERM the pod keeps serving (readiness 503) while
  // Kubernetes removes it from the Service's endpoints, then drains.
  c.set("args", Yaml::seq({"--host", "0.0.0.0", "--port", std::to_string(o.port), "--stop-delay",
                           std::to_string(o.stop_delay_seconds), "--drain-timeout", std::to_string(o.drain_seconds)}));
  c.set("ports", Yaml::seq({Yaml::object({{"name", "http"}, {"containerPort", o.port}, {"protocol", "TCP"}})}));
  if (!o.api_keys.empty())
    c.set("env", Yaml::seq({Yaml::object(
                     {{"name", "PIER_API_KEYS"},
                      {"valueFrom", Yaml::object({{"secretKeyRef", Yaml::object({{"name", secret_name(o)},
                                                                                  {"key", "PIER_API_KEYS"}})}})}})}));
  Yaml requests = Yaml::object({{"cpu", o.cpu_request}, {"memory", o.memory_request}});
  Yaml limits;
  if (!o.cpu_limit.empty()) limits.set("cpu", o.cpu_limit);
  if (!o.memory_limit.empty()) limits.set("memory", o.memory_limit);
  Yaml res = Yaml::object({{"requests", requests}});
  if (!o.cpu_limit.empty() || !o.memory_limit.empty()) res.set("limits", limits);
  c.set("resources", res);
  auto probe = [&](const char* path, int period, int failures) {
    return Yaml::object({{"httpGet", Yaml::object({{"path", path}, {"port", "http"}})},
                         {"periodSeconds", period},
                         {"timeoutSeconds", 2},
                         {"failureThreshold", failures}});
  };
  // Models load before the server listens: allow up to 5 minutes for that.
  c.set("startupProbe", probe("/v2/health/ready", 2, 150));
  c.set("readinessProbe", probe("/v2/health/ready", 5, 2));
  c.set("livenessProbe", probe("/v2/health/live", 10, 3));
  c.set("securityContext", Yaml::object({{"allowPrivilegeEscalation", false},
                                         {"readOnlyRootFilesystem", true},
                                         {"runAsNonRoot", true},
                                         {"capabilities", Yaml::object({{"drop", Yaml::seq({"ALL"})}})}}));
  return c;
}

}  // namespace

K8sObjects k8s_objects(const K8sOptions& o) {
  check_dns_label("the name", o.name);
  check_dns_label("the namespace", o.namespace_);
  if (o.image.empty() || o.image.find_first_of(" \t\r\n") != std::string::npos)
    throw std::invalid_argument("--image must be an image reference without spaces");
  if (o.models.empty()) throw std::invalid_argument("give at least one --model");
  if (o.replicas < 1 || o.replicas > 1000) throw std::invalid_argument("--replicas must be 1-1000");
  if (o.min_replicas < 1 || o.min_replicas > o.max_replicas)
    throw std::invalid_argument("--min-replicas must be at least 1 and at most --max-replicas");
  if (o.max_replicas > 1000) throw std::invalid_argument("--max-replicas must be at most 1000");
  if (o.cpu_target < 1 || o.cpu_target > 1000) throw std::invalid_argument("--cpu-target must be 1-1000 (percent)");
  if (o.port < 1 || o.port > 65535) throw std::invalid_argument("--port must be 1-65535");
  if (o.drain_seconds < 0 || o.drain_seconds > 3600) throw std::invalid_argument("--drain-timeout must be 0-3600");
  if (o.stop_delay_seconds < 0 || o.stop_delay_seconds > 600) throw std::invalid_argument("--stop-delay must be 0-600");
  if (o.service_type != "ClusterIP" && o.service_type != "NodePort" && o.service_type != "LoadBalancer")
    throw std::invalid_argument("--service-type must be ClusterIP, NodePort or LoadBalancer");
  check_quantity("--cpu", o.cpu_request);
  check_quantity("--memory", o.memory_request);
  if (!o.cpu_limit.empty()) check_quantity("--cpu-limit", o.cpu_limit);
  if (!o.memory_limit.empty()) check_quantity("--memory-limit", o.memory_limit);
  for (const auto& k : o.api_keys)
    if (k.empty() || k.find_first_of(" \t\r\n,") != std::string::npos)
      throw std::invalid_argument("an API key must be non-empty, without spaces or commas");

  K8sObjects out;
  const Yaml selector = Yaml::object({{"app.kubernetes.io/name", o.name}});

  Yaml pod_spec;
  // After SIGTERM pier serve keeps serving for --stop-delay, then drains for
  // up to --drain-timeout; the kubelet waits a little longer before SIGKILL.
  const int grace = o.stop_delay_seconds + o.drain_seconds + 10;
  pod_spec.set("terminationGracePeriodSeconds", grace);
  pod_spec.set("automountServiceAccountToken", false);
  pod_spec.set("securityContext", Yaml::object({{"runAsNonRoot", true},
                                                {"runAsUser", 65532},
                                                {"runAsGroup", 65532},
                                                {"seccompProfile", Yaml::object({{"type", "RuntimeDefault"}})}}));
  pod_spec.set("containers", Yaml::seq({container(o, "pier")}));

  Yaml dep;
  dep.set("apiVersion", "apps/v1");
  dep.set("kind", "Deployment");
  dep.set("metadata", metadata(o, o.name));
  dep.set("spec", Yaml::object({{"replicas", o.replicas},
                                {"revisionHistoryLimit", 5},
                                {"selector", Yaml::object({{"matchLabels", selector}})},
                                {"strategy", Yaml::object({{"type", "RollingUpdate"},
                                                           {"rollingUpdate", Yaml::object({{"maxUnavailable", 0},
                                                                                           {"maxSurge", 1}})}})},
                                {"template", Yaml::object({{"metadata", Yaml::object({{"labels", labels(o)},
                                                                                      {"annotations", annotations(o)}})},
                                                           {"spec", pod_spec}})}}));
  out.files.emplace_back("deployment.yaml", dep);

  Yaml svc;
  svc.set("apiVersion", "v1");
  svc.set("kind", "Service");
  svc.set("metadata", metadata(o, o.name));
  svc.set("spec", Yaml::object({{"type", o.service_type},
                                {"selector", selector},
                                {"ports", Yaml::seq({Yaml::object({{"name", "http"},
                                                                   {"port", 80},
                                                                   {"targetPort", "http"},
                                                                   {"protocol", "TCP"}})})}}));
  out.files.emplace_back("service.yaml", svc);

  Yaml hpa;
  hpa.set("apiVersion", "autoscaling/v2");
  hpa.set("kind", "HorizontalPodAutoscaler");
  hpa.set("metadata", metadata(o, o.name));
  hpa.set("spec",
          Yaml::object(
              {{"scaleTargetRef", Yaml::object({{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", o.name}})},
               {"minReplicas", o.min_replicas},
               {"maxReplicas", o.max_replicas},
               {"metrics", Yaml::seq({Yaml::object(
                               {{"type", "Resource"},
                                {"resource", Yaml::object({{"name", "cpu"},
                                                           {"target", Yaml::object({{"type", "Utilization"},
                                                                                    {"averageUtilization", o.cpu_target}})}})}})})}}));
  out.files.emplace_back("hpa.yaml", hpa);

  if (!o.api_keys.empty()) {
    std::string keys;
    for (const auto& k : o.api_keys) keys += (keys.empty() ? "" : ",") + k;
    Yaml sec;
    sec.set("apiVersion", "v1");
    sec.set("kind", "Secret");
    sec.set("metadata", metadata(o, secret_name(o)));
    sec.set("type", "Opaque");
    sec.set("stringData", Yaml::object({{"PIER_API_KEYS", keys}}));
    out.files.emplace_back("secret.yaml", sec);
  }

  if (o.kserve) {
    // The same container as KServe's custom predictor (the container must be
    // called kserve-container). Apply it instead of the Deployment, Service
    // and HPA; it uses the same Secret.
    Yaml pred;
    pred.set("minReplicas", o.min_replicas);
    pred.set("maxReplicas", o.max_replicas);
    pred.set("scaleMetric", "cpu");
    pred.set("scaleTarget", o.cpu_target);
    pred.set("terminationGracePeriodSeconds", grace);
    pred.set("securityContext", Yaml::object({{"runAsNonRoot", true}, {"runAsUser", 65532}, {"runAsGroup", 65532}}));
    pred.set("containers", Yaml::seq({container(o, "kserve-container")}));
    Yaml isvc;
    isvc.set("apiVersion", "serving.kserve.io/v1beta1");
    isvc.set("kind", "InferenceService");
    Yaml md = metadata(o, o.name);
    isvc.set("metadata", md);
    isvc.set("spec", Yaml::object({{"predictor", pred}}));
    out.files.emplace_back("inferenceservice.yaml", isvc);
  }
  return out;
}

std::vector<std::string> write_k8s_manifests(const K8sOptions& o, const std::string& dir) {
  const K8sObjects objs = k8s_objects(o);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw std::runtime_error("cannot create the folder " + dir + ": " + (ec ? ec.message() : "a file is in the way"));
  std::vector<std::string> written;
  for (const auto& [file, obj] : objs.files) {
    const std::string text = "# Written by pier deploy k8s (pier " + o.pier_version + ").\n" + obj.dump();
    const fs::path path = fs::path(dir) / file;
    const fs::path tmp = fs::path(dir) / ("." + file + ".tmp");
    const mode_t mode = file == "secret.yaml" ? 0600 : 0644;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
    ::fchmod(fd, mode);
    const ssize_t n = ::write(fd, text.data(), text.size());
    const int werr = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()) || ::rename(tmp.c_str(), path.c_str()) != 0) {
      const int e = n < 0 ? werr : errno;
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(e ? e : EIO));
    }
    written.push_back(path.string());
  }
  return written;
}

}  // namespace pier::pkg
