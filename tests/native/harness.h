// A minimal test harness for the native tests: named cases, checks that count, a float64 error measure, and a
// deterministic RNG. Kept dependency-free so the same executables build on the GPU machine.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace th {

inline int& failures() { static int n = 0; return n; }
inline int& passes() { static int n = 0; return n; }

inline void check(bool ok, const std::string& what) {
  static const bool verbose = std::getenv("BERTRT_TEST_VERBOSE") != nullptr;
  if (ok) {
    ++passes();
    if (verbose) std::printf("  ok   %s\n", what.c_str());
  } else {
    ++failures();
    std::printf("  FAIL %s\n", what.c_str());
  }
}

// max |got - want| / (1 + max |want|): an error normalised by the output's scale, as ggml's test-backend-ops does.
inline double norm_err(const float* got, const std::vector<double>& want) {
  double m = 0, s = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(got[i])) return INFINITY;
    m = std::fmax(m, std::fabs(got[i] - want[i]));
    s = std::fmax(s, std::fabs(want[i]));
  }
  return m / (1.0 + s);
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint32_t next() {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    return static_cast<uint32_t>(s >> 11);
  }
  float uniform(float lo = -1.f, float hi = 1.f) { return lo + (hi - lo) * (next() & 0xffffff) / float(0x1000000); }
  void fill(std::vector<float>& v, float lo = -1.f, float hi = 1.f) { for (auto& x : v) x = uniform(lo, hi); }
};

inline int finish() {
  std::printf("%d passed, %d failed\n", passes(), failures());
  return failures() == 0 ? 0 : 1;
}

}  // namespace th
