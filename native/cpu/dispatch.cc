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
// a table's part runs where the CPU has what the table declares it needs (Kernels::needs)
bool runnable(const Kernels* k) { return k && has_features(k->needs.fp32); }

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
bool runnable_s8(const Kernels* k) { return k && k->gemm_s8 && has_features(k->needs.int8); }
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
bool runnable_bf16(const Kernels* k) { return k && k->gemm_bf16 && has_features(k->needs.bf16); }
bool bf16_runnable() { return runnable_bf16(kernels_avx512()); }
// the "amx" table for its BF16 GEMM (the rest of its BF16 entries are the AVX-512 ones); asks for the tile state
bool amx_bf16_runnable() { return bf16_runnable() && runnable_bf16(kernels_amx()); }
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
  if ((b & 0x7f800000) == 0) return static_cast<uint16_t>((b >> 16) & 0x8000);       // a denormal: zero of its sign
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
