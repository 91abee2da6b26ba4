// Portable kernels: the fallback on any CPU, and the baseline every ISA path is tested against.
#include "isa_prelude.h"
#include "kernels_impl.h"

namespace bertrt::cpu {
const Kernels* kernels_generic() { return make_kernels<simd::Generic>("generic", {}); }
}  // namespace bertrt::cpu
