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
  std::string brand;
  std::string flags() const;  // space-separated names of what is present
};

const CpuFeatures& cpu_features();

}  // namespace bertrt
