// What the CPU can run, read once with cpuid (and xgetbv for OS support of the wide registers).
#pragma once
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

// True once this process may use AMX tile data, which is opt-in (BERTRT_AMX=1, or BERTRT_ISA=amx): then on Linux
// it asks the kernel the first time (arch_prctl ARCH_REQ_XCOMP_PERM; the kernel refuses, for instance, when a
// thread's sigaltstack is too small for the larger signal frame). False on CPUs or systems without AMX.
bool amx_permitted();
// Whether the BF16 GEMMs may run on AMX-BF16 tiles: the CPU has them, BERTRT_AMX is not 0, and the OS granted the tile
// state (asked at the first call: call it only when about to use them).
bool amx_bf16_permitted();

}  // namespace bertrt
