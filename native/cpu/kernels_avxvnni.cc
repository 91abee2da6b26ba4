// AVX2 kernels whose INT8 micro-kernel uses AVX-VNNI's 256-bit vpdpbusd (VEX-encoded: Intel Alder Lake and later
// client cores, Zen 5), for CPUs that have it without AVX-512. Used only after cpuid reports AVX2, FMA, F16C and
// AVX-VNNI; its FP32 kernels are the AVX2 ones.
#include "isa_prelude.h"

// AVX-VNNI as a target needs GCC 11 or Clang 12; an older compiler builds the addon without this table.
#if defined(__x86_64__) && defined(__GNUC__) && \
    (defined(__clang__) ? __clang_major__ >= 12 : __GNUC__ >= 11)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#define BERTRT_SIMD_AVX2 1
#define BERTRT_S8_VNNI256 _mm256_dpbusd_avx_epi32
#include "kernels_impl.h"

namespace bertrt::cpu {
constexpr uint32_t kAll = kAvx2 | kFma | kF16c | kAvxVnni;  // the pragma's, for every kernel
constexpr KernelNeeds kNeeds{kAll, kAll, 0};
const Kernels* kernels_avxvnni() { return make_kernels<simd::Avx2>("avxvnni", kNeeds); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_avxvnni() { return nullptr; }
}  // namespace bertrt::cpu
#endif
