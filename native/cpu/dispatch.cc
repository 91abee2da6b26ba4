// Chooses the kernel table once per process from cpuid, honouring BERTRT_ISA.
#include <cstdlib>

#include "../core/cpu_features.h"
#include "kernels.h"

namespace bertrt::cpu {

namespace {
bool runnable(const Kernels* k) {
  if (!k) return false;
  const CpuFeatures& f = cpu_features();
  std::string n = k->name;
  if (n == "avx512") return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma;
  if (n == "avx2") return f.avx2 && f.fma && f.f16c;
  return true;
}
}  // namespace

std::vector<std::string> runnable_isas() {
  std::vector<std::string> out;
  for (const Kernels* k : {kernels_avx512(), kernels_avx2(), kernels_generic()})
    if (runnable(k)) out.emplace_back(k->name);
  return out;
}

const Kernels* kernels_for(const std::string& isa) {
  for (const Kernels* k : {kernels_avx512(), kernels_avx2(), kernels_generic()})
    if (k && isa == k->name && runnable(k)) return k;
  return nullptr;
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    if (const char* env = std::getenv("BERTRT_ISA")) {
      if (const Kernels* k = kernels_for(env)) return k;
    }
    for (const Kernels* k : {kernels_avx512(), kernels_avx2()})
      if (runnable(k)) return k;
    return kernels_generic();
  }();
  return *chosen;
}

}  // namespace bertrt::cpu
