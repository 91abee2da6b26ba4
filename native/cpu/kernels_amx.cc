// The AVX-512 table with its INT8 GEMM on AMX tiles (kernels_s8.h, BERTRT_S8_AMX): 32-row blocks of each panel
// through tdpbusd, the rows past the last whole block and K widths that are not a multiple of 64 through the
// VNNI micro-kernel. Same packing, same integers as "avx512". Opt-in: with BERTRT_AMX=1 (or BERTRT_ISA=amx) it is
// chosen for INT8 where cpuid reports AMX-INT8 and the process is allowed its tile state (amx_permitted()).
#include "isa_prelude.h"

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c,amx-tile,amx-int8")
#define BERTRT_SIMD_AVX512 1
#define BERTRT_S8_AMX 1
#include "kernels_impl.h"

namespace bertrt::cpu {
const Kernels* kernels_amx() { return make_kernels<simd::Avx512>("amx"); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_amx() { return nullptr; }
}  // namespace bertrt::cpu
#endif
