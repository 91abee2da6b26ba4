// AVX-512 (F, BW, DQ, VL) kernels, used only after cpuid reports them; the INT8 ones (VNNI) only with VNNI too, the BF16 ones only with AVX512-BF16.
#include "isa_prelude.h"

#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c")
#define BERTRT_SIMD_AVX512 1
#include "kernels_impl.h"

namespace bertrt::cpu {
// FP32 uses F/BW/DQ/VL (and FMA, AVX2); only the INT8 kernels emit VNNI and only the BF16 ones AVX512-BF16
constexpr KernelNeeds kNeeds{kAvx512Base, kAvx512Base | kAvx512Vnni, kAvx512Base | kAvx512Bf16};
const Kernels* kernels_avx512() { return make_kernels<simd::Avx512>("avx512", kNeeds); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_avx512() { return nullptr; }
}  // namespace bertrt::cpu
#endif
