// Chooses the kernel table once per process from cpuid, honouring BERTRT_ISA (ProcessKnobs).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../core/cpu_features.h"
#include "../core/knobs.h"
#include "kernels.h"

namespace bertrt::cpu {

namespace {
bool runnable(const Kernels* k) {
  if (!k) return false;
  const CpuFeatures& f = cpu_features();
  std::string n = k->name;
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (n == "avx512") return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma && f.avx2;
  if (n == "avx2") return avx2;
  if (n == "avxvnni") return avx2 && f.avx_vnni;
  if (n == "avxvnni-evex") return avx2 && f.avx512f && f.avx512vl && f.avx512_vnni;
  if (n == "amx") return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma && f.avx2 && f.amx_int8 && amx_permitted();
  return true;
}

// The tables with FP32 kernels of their own, best first.
std::vector<const Kernels*> fp32_tables() { return {kernels_avx512(), kernels_avx2(), kernels_generic()}; }
// Every table compiled in, best first for INT8 (the VNNI-256 tables' FP32 kernels are AVX2's).
std::vector<const Kernels*> all_tables() {
  return {kernels_amx(), kernels_avx512(), kernels_avxvnni(), kernels_avxvnni_evex(), kernels_avx2(), kernels_generic()};
}
}  // namespace

std::vector<std::string> runnable_isas() {
  std::vector<std::string> out;
  for (const Kernels* k : fp32_tables())
    if (runnable(k)) out.emplace_back(k->name);
  return out;
}

const Kernels* kernels_for(const std::string& isa) {
  for (const Kernels* k : all_tables())
    if (k && isa == k->name && runnable(k)) return k;
  return nullptr;
}

namespace {
bool runnable_s8(const Kernels* k) {
  if (!runnable(k) || !k->gemm_s8) return false;
  const std::string n = k->name;
  return (n != "avx512" && n != "amx") || cpu_features().avx512_vnni;  // AMX's row tails run VNNI
}
}  // namespace

std::vector<std::string> runnable_s8_isas() {
  std::vector<std::string> out;
  for (const Kernels* k : all_tables())
    if (runnable_s8(k)) out.emplace_back(k->name);
  return out;
}

const Kernels& kernels_s8() {
  static const Kernels* chosen = [] {
    if (const std::string& isa = ProcessKnobs::get().isa; !isa.empty()) {
      const Kernels* k = kernels_for(isa);
      if (runnable_s8(k)) return k;
    }
    for (const Kernels* k : {kernels_amx(), kernels_avx512(), kernels_avxvnni(), kernels_avx2()})
      if (runnable_s8(k)) return k;
    return kernels_generic();
  }();
  return *chosen;
}

namespace {
bool env_is_avx512() { return ProcessKnobs::get().isa == "avx512"; }
bool bf16_runnable() { return runnable(kernels_avx512()) && cpu_features().avx512_bf16; }
// the "amx" table for its BF16 GEMM (the rest of its BF16 entries are the AVX-512 ones); asks for the tile state
bool amx_bf16_runnable() { return bf16_runnable() && kernels_amx() && amx_bf16_permitted(); }
}  // namespace

std::vector<std::string> runnable_bf16_isas() {
  std::vector<std::string> out;
  if (amx_bf16_runnable()) out.emplace_back("amx");
  if (bf16_runnable()) out.emplace_back("avx512");
  return out;
}

const Kernels* kernels_bf16(bool tiles) {
  if (!bf16_runnable()) return nullptr;
  if (tiles && !env_is_avx512() && amx_bf16_runnable()) return kernels_amx();
  return kernels_avx512();
}

uint16_t float_to_bf16(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((b >> 16) | 0x40);  // NaN stays NaN
  b += 0x7fff + ((b >> 16) & 1);
  return static_cast<uint16_t>(b >> 16);
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    if (const std::string& isa = ProcessKnobs::get().isa; !isa.empty())
      if (const Kernels* k = kernels_for(isa)) return k;
    for (const Kernels* k : {kernels_avx512(), kernels_avx2()})
      if (runnable(k)) return k;
    return kernels_generic();
  }();
  return *chosen;
}

}  // namespace bertrt::cpu
