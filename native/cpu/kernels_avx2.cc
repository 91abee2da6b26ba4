// AVX2 + FMA kernels, used only after cpuid reports AVX2, FMA and F16C.
#include "isa_prelude.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define BERTRT_SIMD_AVX2 1
#include "kernels_impl.h"

namespace bertrt::cpu {
constexpr KernelNeeds kNeeds{kAvx2 | kFma | kF16c, kAvx2 | kFma | kF16c, 0};  // the pragma's
const Kernels* kernels_avx2() { return make_kernels<simd::Avx2>("avx2", kNeeds); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_avx2() { return nullptr; }
}  // namespace bertrt::cpu
#endif
