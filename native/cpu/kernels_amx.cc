// The AVX-512 table with its GEMMs on AMX tiles (amx.h): INT8 (kernels_s8.h, BERTRT_S8_AMX) in 32-row blocks of each
// panel through tdpbusd, the rows past the last whole block and K widths that are not a multiple of 64 through the
// VNNI micro-kernel — same packing, same integers as "avx512"; opt-in with BERTRT_AMX=1 (or BERTRT_ISA=amx), chosen
// for INT8 where cpuid reports AMX-INT8 and the process is allowed its tile state (amx_permitted()). BF16
// (kernels_bf16.h, BERTRT_BF16_AMX) through tdpbf16ps on the same blocks, K a multiple of 32, other rows and widths on
// vdpbf16ps; chosen for BF16 models by default where the CPU has AMX-BF16 (amx_bf16_permitted(); BERTRT_AMX=0 keeps
// vdpbf16ps). Its other kernels are the AVX-512 table's.
#include "isa_prelude.h"

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 11 || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16,avx2,fma,f16c,amx-tile,amx-int8,amx-bf16")
#define BERTRT_SIMD_AVX512 1
#define BERTRT_AMX_TILES 1
#define BERTRT_S8_AMX 1
#define BERTRT_BF16_AMX 1
#include "kernels_impl.h"

namespace bertrt::cpu {
// the AVX-512 table's needs plus the tiles: the whole table (never picked for FP32 by cpuid) only where INT8 tiles
// may run (opt-in), its BF16 GEMM where the BF16 tiles may
constexpr KernelNeeds kNeeds{kAvx512Base | kAmxInt8, kAvx512Base | kAvx512Vnni | kAmxInt8, kAvx512Base | kAvx512Bf16 | kAmxBf16};
const Kernels* kernels_amx() { return make_kernels<simd::Avx512>("amx", kNeeds); }
}  // namespace bertrt::cpu
#pragma GCC pop_options
#else
namespace bertrt::cpu {
const Kernels* kernels_amx() { return nullptr; }
}  // namespace bertrt::cpu
#endif
