// Products of interleaved weights: each group of 8 rows is one stream of bytes, read once per
// group of up to 4 tokens (gemm4) or per token (gemv), in cache tiles as matmul_tile's.
#include "kernels/matmul_x8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/vec_dot.h"
#include "tensor/interleave.h"

namespace swapmoe {

namespace {

constexpr int64_t kGroupTile = 2;  // groups of rows (16 rows) per cache tile
constexpr int64_t kX8TokTile = 8;

}  // namespace

void matmul_tile_x8(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                    const int32_t* token_ids, int64_t i0, int64_t i1, MatmulOutput out) {
  if (r0 >= r1 || i0 >= i1) return;
  const InterleavedKernels& k = interleaved_kernels(w.type);
  const int64_t n = w.ne[0];
  const int64_t nb = n / type_traits(w.type).block_size;
  // Each token's block scales and offsets, once for all the groups it meets.
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> offset;
  const size_t need = static_cast<size_t>((i1 - i0) * nb);
  if (d.size() < need) d.resize(need), offset.resize(need);
  auto act = [&](int64_t i) { return x.row(token_ids ? token_ids[i] : i); };
  for (int64_t i = i0; i < i1; ++i)
    prepare_x8_activation(w.type, act(i), n, &d[(i - i0) * nb], &offset[(i - i0) * nb]);
  auto prepared = [&](int64_t i) { return X8Activation{act(i), &d[(i - i0) * nb], &offset[(i - i0) * nb]}; };

  // Rows of group g0 + 8j outside [r0, r1) are computed and dropped (only at unaligned ends).
  const int64_t g_first = r0 / kInterleaveRows, g_end = (r1 + kInterleaveRows - 1) / kInterleaveRows;
  auto store = [&](int64_t g, int64_t i, const float* s) {
    for (int64_t r = std::max(r0, g * kInterleaveRows); r < std::min(r1, (g + 1) * kInterleaveRows); ++r)
      out.y[i * out.stride + r - r0] = s[r - g * kInterleaveRows];
  };
  for (int64_t gt = g_first; gt < g_end; gt += kGroupTile) {
    const int64_t gt_end = std::min(g_end, gt + kGroupTile);
    for (int64_t it = i0; it < i1; it += kX8TokTile) {
      const int64_t it_end = std::min(i1, it + kX8TokTile);
      for (int64_t g = gt; g < gt_end; ++g) {
        const void* group = w.row(g * kInterleaveRows);
        const bool whole = g * kInterleaveRows >= r0 && (g + 1) * kInterleaveRows <= r1;
        int64_t i = it;
        for (; i + 4 <= it_end; i += 4) {
          const X8Activation ys[4] = {prepared(i), prepared(i + 1), prepared(i + 2), prepared(i + 3)};
          float s[4 * kInterleaveRows];
          k.gemm4(n, s, group, ys);
          for (int t = 0; t < 4; ++t) {
            const float* rows = s + t * kInterleaveRows;
            if (whole)  // the common case: one 32-byte copy, not a bounds check a row
              std::memcpy(out.y + (i + t) * out.stride + g * kInterleaveRows - r0, rows, sizeof(float) * kInterleaveRows);
            else
              store(g, i + t, rows);
          }
        }
        for (; i < it_end; ++i) {
          if (whole) {  // straight into the output (decode's common case)
            k.gemv(n, out.y + i * out.stride + g * kInterleaveRows - r0, group, prepared(i));
            continue;
          }
          float s[kInterleaveRows];
          k.gemv(n, s, group, prepared(i));
          store(g, i, s);
        }
      }
    }
  }
}

}  // namespace swapmoe
