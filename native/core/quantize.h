// Weight quantization, the one definition the CPU kernels (every ISA) and the CUDA backend's upload both use, so that
// both engines multiply the same integers: symmetric per output channel, scale = max|W[r]| / qmax and the stored value
// store(W * (qmax / max|W[r]|)); an all-zero row has scale 0 and zeros. INT8 (qmax 127): rounded half to even and
// clamped to [-127, 127]. The CUDA backend's FP8 (E4M3, qmax 448) passes its own conversion (norm.cuh).
// Header-only: the CUDA library is built by nvcc apart from the core.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace bertrt {

template <typename Q, typename Store>
inline void quantize_weight_rows_symmetric(const float* w, int n, int k, float qmax, Store store, Q* q, float* scale) {
  for (int r = 0; r < n; ++r) {
    const float* row = w + static_cast<size_t>(r) * k;
    float mx = 0.f;
    for (int i = 0; i < k; ++i) mx = std::max(mx, std::fabs(row[i]));
    const float inv = mx > 0.f ? qmax / mx : 0.f;
    scale[r] = mx > 0.f ? mx / qmax : 0.f;
    for (int i = 0; i < k; ++i) q[static_cast<size_t>(r) * k + i] = store(row[i] * inv);
  }
}

inline void quantize_weight_rows(const float* w, int n, int k, int8_t* q, float* scale) {
  quantize_weight_rows_symmetric(w, n, k, 127.f, [](float v) {
    return static_cast<int8_t>(std::max(-127.f, std::min(127.f, std::nearbyint(v))));
  }, q, scale);
}

}  // namespace bertrt
