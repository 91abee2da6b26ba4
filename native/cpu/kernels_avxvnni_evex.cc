// The same kernels as kernels_avxvnni.cc (the 256-bit VNNI micro-kernel over AVX2 registers), with vpdpbusd in
// its EVEX form (AVX512-VNNI + VL) so that machines with AVX-512 VNNI but no AVX-VNNI — where this project is
// developed and tested — run and test that code path. Never chosen by cpuid (the 512-bit table is faster there);
// BERTRT_ISA=avxvnni-evex forces it.
#include "isa_prelude.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")
#define BERTRT_SIMD_AVX2 1
#define BERTRT_S8_VNNI256 _mm256_dpbusd_epi32
#include "kernels_impl.h"

namespace bertrt::cpu {
constexpr uint32_t kAll = kAvx2 | kFma | kF16c | kAvx512f | kAvx512vl | kAvx512Vnni;  // the pragma's, for every kernel
constexpr KernelNeeds kNeeds{kAll, kAll, 0};
const Kernels* kernels_avxvnni_evex() { return make_kernels<simd::Avx2>("avxvnni-evex", kNeeds); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_avxvnni_evex() { return nullptr; }
}  // namespace bertrt::cpu
#endif
