// cpuid-based feature detection. Only x86-64 is probed; other architectures report no x86 features and the
// portable kernels run.
#include "cpu_features.h"
#include "knobs.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define BERTRT_X86 1
#endif
#if defined(__linux__) && defined(BERTRT_X86)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace bertrt {

namespace {

#ifdef BERTRT_X86
unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef BERTRT_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  const bool avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = avx && os_ymm && (b & (1u << 5));
    f.avx512f = os_zmm && (b & (1u << 16));
    f.avx512dq = f.avx512f && (b & (1u << 17));
    f.avx512bw = f.avx512f && (b & (1u << 30));
    f.avx512vl = f.avx512f && (b & (1u << 31));
    f.avx512_vnni = f.avx512f && (c & (1u << 11));
    // EDX: AMX-BF16 (22), AMX-TILE (24), AMX-INT8 (25); XCR0 bits 17 and 18: XTILECFG and XTILEDATA
    const bool os_tiles = (xcr0 & (3ull << 17)) == (3ull << 17);
    const bool tiles = os_tiles && (d & (1u << 24));
    f.amx_int8 = tiles && (d & (1u << 25));
    f.amx_bf16 = tiles && (d & (1u << 22));
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
    f.avx_vnni = os_ymm && (a & (1u << 4));
    f.avx512_bf16 = f.avx512f && (a & (1u << 5));
  }
  f.fma = f.fma && os_ymm;
  f.f16c = f.f16c && os_ymm;
  unsigned brand[12] = {};
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    for (unsigned i = 0; i < 3; ++i) __get_cpuid(0x80000002 + i, &brand[i * 4], &brand[i * 4 + 1], &brand[i * 4 + 2], &brand[i * 4 + 3]);
    char s[49] = {};
    std::memcpy(s, brand, 48);
    f.brand = s;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
  }
#endif
  return f;
}

}  // namespace

std::string CpuFeatures::flags() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512dq, "avx512dq");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(avx_vnni, "avx_vnni");
  add(amx_int8, "amx_int8");
  add(amx_bf16, "amx_bf16");
  return s;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

namespace {
// Linux's permission to use tile data (arch_prctl ARCH_REQ_XCOMP_PERM), asked once; it enlarges every signal frame of
// the process, so it is asked only when a kernel is about to use the tiles.
bool request_tile_permission() {
  static const bool ok = [] {
#if defined(__linux__) && defined(BERTRT_X86)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;  // other systems' tile-state rules are not handled here
#endif
  }();
  return ok;
}

}  // namespace

bool amx_permitted() {
  static const bool ok = [] {
    const CpuFeatures& f = cpu_features();
    if (!f.amx_int8 && !f.amx_bf16) return false;
    // opt-in: the INT8 tiles are no clear end-to-end win on the one AMX machine measured (bench/results/amx.md)
    if (ProcessKnobs::get().amx != 1 && ProcessKnobs::get().isa != "amx") return false;
    return request_tile_permission();
  }();
  return ok;
}

bool has_features(uint32_t mask) {
  const CpuFeatures& f = cpu_features();
  const bool has[] = {f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vl, f.avx512dq, f.avx512_vnni, f.avx512_bf16, f.avx_vnni};
  for (int i = 0; i < 10; ++i)
    if ((mask & (1u << i)) && !has[i]) return false;
  if ((mask & kAmxInt8) && !(f.amx_int8 && amx_permitted())) return false;
  if ((mask & kAmxBf16) && !amx_bf16_permitted()) return false;
  return true;
}

bool amx_bf16_permitted() {
  static const bool ok = [] {
    // by default: BF16 GEMMs on the tiles ran 3.6x the AVX512-BF16 kernel at 32x128 (bench/results/cpu-bf16.md)
    if (!cpu_features().amx_bf16 || ProcessKnobs::get().amx == 0) return false;
    return request_tile_permission();
  }();
  return ok;
}

}  // namespace bertrt
