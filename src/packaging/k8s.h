// Kubernetes manifests for a Pier image: a Deployment (probes on the health
// endpoints, resources, replicas, a termination grace period that covers
// pier serve's drain), a Service, a HorizontalPodAutoscaler (autoscaling/v2,
// CPU), a Secret with the API keys, and optionally a KServe
// InferenceService. One object per file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "packaging/yaml.h"

namespace pier::pkg {

struct K8sModel {
  std::string name;
  int64_t version = 1;
  std::string sha256;
};

struct K8sOptions {
  std::string name;  // DNS label
  std::string namespace_ = "default";
  std::string image;
  std::vector<K8sModel> models;
  int replicas = 1, min_replicas = 1, max_replicas = 4;
  int cpu_target = 70;  // percent of the CPU request
  std::string cpu_request = "500m", memory_request = "512Mi", cpu_limit, memory_limit = "1Gi";
  int port = 8080;
  int drain_seconds = 30;
  int stop_delay_seconds = 5;  // serving on after SIGTERM while endpoints are updated
  std::string service_type = "ClusterIP";
  std::vector<std::string> api_keys;  // none: no Secret, no keys
  bool kserve = false;
  std::string pier_version;
};

struct K8sObjects {
  std::vector<std::pair<std::string, Yaml>> files;  // file name, object
};

// Checks the options (std::invalid_argument with a clear message) and
// builds the objects.
K8sObjects k8s_objects(const K8sOptions& o);

// Writes each object to DIR/FILE (DIR is created; each file is replaced
// atomically; secret.yaml gets mode 0600). Returns the paths written.
std::vector<std::string> write_k8s_manifests(const K8sOptions& o, const std::string& dir);

}  // namespace pier::pkg
