// AMX tile state shared by the INT8 (kernels_s8.h) and BF16 (kernels_bf16.h) tile kernels of the "amx" table
// (kernels_amx.cc, which defines BERTRT_AMX_TILES). Every kernel uses the same shape: eight 16-row x 64-byte tiles,
// four accumulators for a 32-row x 32-column block (tmm0-3), two A tiles (tmm4, tmm5: rows 0-15 and 16-31) and the
// panel's two 16-column halves as B tiles read in place (tmm6, tmm7) at the 128-byte row stride that AVX-512's
// 32-column panels have in both precisions (K groups of 4 bytes: [k/4][32][4] s8, [k/2][32][2] bf16).
#pragma once
#if defined(BERTRT_AMX_TILES)
#include <cstdint>

namespace bertrt::cpu {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
constexpr int kAmxRows = 32;  // rows of one block
constexpr int kAmxMC = 128;   // rows per task: each panel's B tiles serve four blocks

inline void amx_config() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
}

// The four accumulator tiles to acc[32][32] (32-bit lanes: int32 or float).
template <class T>
inline void amx_store_block(T* acc) {
  _tile_stored(0, acc, 128);
  _tile_stored(1, acc + 16, 128);
  _tile_stored(2, acc + 16 * 32, 128);
  _tile_stored(3, acc + 16 * 32 + 16, 128);
}

// `blocks` 32-row blocks of one panel: compute(b) leaves block b's sums in tiles 0-3, finish(b, sums) is its
// epilogue. Block b + 1 is computed on the tile unit while block b's epilogue runs on the vector units.
template <class T, class Compute, class Finish>
inline void amx_pipelined(int blocks, Compute compute, Finish finish) {
  alignas(64) T block[2][kAmxRows * 32];
  compute(0);
  amx_store_block(block[0]);
  for (int b = 0; b < blocks; ++b) {
    if (b + 1 < blocks) compute(b + 1);
    finish(b, block[b & 1]);
    if (b + 1 < blocks) amx_store_block(block[(b + 1) & 1]);
  }
}

}  // namespace
}  // namespace bertrt::cpu
#endif
