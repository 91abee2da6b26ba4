// INT8 weight quantization, the one definition the CPU kernels (every ISA) and the CUDA backend's upload both use, so
// that both engines multiply the same integers: symmetric per output channel, scale = max|W[r]| / 127, q =
// round-half-to-even(W * 127 / max|W[r]|) clamped to [-127, 127]; an all-zero row has scale 0 and zeros.
// Header-only: the CUDA library is built by nvcc apart from the core.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace bertrt {

inline void quantize_weight_rows(const float* w, int n, int k, int8_t* q, float* scale) {
  for (int r = 0; r < n; ++r) {
    const float* row = w + static_cast<size_t>(r) * k;
    float mx = 0.f;
    for (int i = 0; i < k; ++i) mx = std::max(mx, std::fabs(row[i]));
    const float inv = mx > 0.f ? 127.f / mx : 0.f;
    scale[r] = mx > 0.f ? mx / 127.f : 0.f;
    for (int i = 0; i < k; ++i) {
      const float v = std::nearbyint(row[i] * inv);
      q[static_cast<size_t>(r) * k + i] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, v)));
    }
  }
}

}  // namespace bertrt
