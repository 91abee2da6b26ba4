// What the CPU can run, read once with cpuid (and xgetbv for OS support of the wide registers).
#pragma once
#include <cstdint>
#include <string>

namespace bertrt {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512dq = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx_vnni = false;
  // AMX tiles with their INT8 / BF16 dot products, as cpuid reports them and the OS enables their state in XCR0.
  // Using them also needs the process's permission on Linux: amx_permitted().
  bool amx_int8 = false;
  bool amx_bf16 = false;
  std::string brand;
  std::string flags() const;  // space-separated names of what is present
};

const CpuFeatures& cpu_features();

// The same features as bits, for kernel tables to declare what their code needs (cpu::Kernels::needs).
enum Feature : uint32_t {
  kAvx2 = 1u << 0,
  kFma = 1u << 1,
  kF16c = 1u << 2,
  kAvx512f = 1u << 3,
  kAvx512bw = 1u << 4,
  kAvx512vl = 1u << 5,
  kAvx512dq = 1u << 6,
  kAvx512Vnni = 1u << 7,
  kAvx512Bf16 = 1u << 8,
  kAvxVnni = 1u << 9,
  kAmxInt8 = 1u << 10,  // AMX-INT8 and this process's permission to use the tiles for it (amx_permitted(): opt-in)
  kAmxBf16 = 1u << 11,  // AMX-BF16 and amx_bf16_permitted()
  // AVX-512 as the 512-bit tables use it (F, BW, DQ, VL; FMA and AVX2 for their 256-bit parts)
  kAvx512Base = kAvx512f | kAvx512bw | kAvx512vl | kAvx512dq | kFma | kAvx2,
};

// Whether this CPU has every feature in mask. An AMX bit in mask asks the OS for the tile state (see amx_permitted),
// so pass one only when about to use the tiles.
bool has_features(uint32_t mask);

// True once this process may use AMX tile data, which is opt-in (BERTRT_AMX=1, or BERTRT_ISA=amx): then on Linux
// it asks the kernel the first time (arch_prctl ARCH_REQ_XCOMP_PERM; the kernel refuses, for instance, when a
// thread's sigaltstack is too small for the larger signal frame). False on CPUs or systems without AMX.
bool amx_permitted();
// Whether the BF16 GEMMs may run on AMX-BF16 tiles: the CPU has them, BERTRT_AMX is not 0, and the OS granted the tile
// state (asked at the first call: call it only when about to use them).
bool amx_bf16_permitted();

}  // namespace bertrt
