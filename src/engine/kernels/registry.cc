// Kernel registry. Every file under kernels/ops/ is one op family and
// defines register_kernels_<path>(KernelRegistry&); the build generates the
// list of those functions (kernel_families.inc), so the table is explicit
// and complete without a hand-kept list.
#include <algorithm>

#include "kernels/kernel.h"

namespace pier::kernels {

#define PIER_KERNEL_FAMILY(fn) void fn(KernelRegistry&);
#include "kernel_families.inc"
#undef PIER_KERNEL_FAMILY

namespace {
std::string key_of(const std::string& domain, const std::string& op) {
  return (domain == "ai.onnx" ? std::string() : domain) + "::" + op;
}
bool types_overlap(const std::vector<DataType>& a, const std::vector<DataType>& b) {
  if (a.empty() || b.empty()) return true;
  for (DataType t : a)
    if (std::find(b.begin(), b.end(), t) != b.end()) return true;
  return false;
}
}  // namespace

void KernelRegistry::add(const std::string& domain, const std::string& op, int since, int end, KernelFactory f,
                         std::vector<DataType> types) {
  if (since > end) throw Error(ErrorCode::kRuntime, "kernel " + op + ": empty version range");
  auto& list = defs_[key_of(domain, op)];
  for (const auto& d : list) {
    if (since <= d.end && d.since <= end && types_overlap(types, d.types))
      throw Error(ErrorCode::kRuntime, "kernel " + key_of(domain, op) + " versions " + std::to_string(since) + "-" +
                                           std::to_string(end) + " overlap an earlier registration");
  }
  list.push_back(KernelDef{domain == "ai.onnx" ? "" : domain, op, since, end, std::move(types), std::move(f)});
}

const KernelDef* KernelRegistry::find(const std::string& domain, const std::string& op, int version,
                                      DataType dtype) const {
  auto it = defs_.find(key_of(domain, op));
  if (it == defs_.end()) return nullptr;
  for (const auto& d : it->second) {
    if (version < d.since || version > d.end) continue;
    if (dtype != DataType::kUndefined && !d.types.empty() &&
        std::find(d.types.begin(), d.types.end(), dtype) == d.types.end())
      continue;
    return &d;
  }
  return nullptr;
}

bool KernelRegistry::knows(const std::string& domain, const std::string& op) const {
  return defs_.count(key_of(domain, op)) != 0;
}

std::vector<std::string> KernelRegistry::ops() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : defs_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
#define PIER_KERNEL_FAMILY(fn) fn(*r);
#include "kernel_families.inc"
#undef PIER_KERNEL_FAMILY
    return r;
  }();
  return *registry;
}

void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace pier::kernels
