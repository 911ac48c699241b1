// The interleaved Q4_0, Q8_0, Q4_K and Q6_K kernels (tensor/interleave.h) with NEON's dot product (the
// neon_dotprod flavour only: without SDOT the emulated dot step gains nothing from the layout,
// and such CPUs keep the file's). A group of 8 rows is two vectors of 4 int32 lanes, rows 0-3
// and 4-7: each 32-byte chunk of the group holds 4 consecutive values of every row, so its two
// 16-byte halves meet the activation's matching 4 bytes, taken by lane (SDOT's indexed form),
// in one step each. SDOT multiplies signed bytes: Q8_0's weights go in as they are, Q4_0's and
// Q4_K's nibbles (0..15) and Q6_K's 6-bit values (0..63) too; Q4_0's sum starts at the offset
// -8 x the activation block's sum, Q6_K's sub-block sums at -32 x theirs, and Q4_K's mins come
// from the activation's sub-block sums, as in the reference.
#include <arm_neon.h>

#include <cstring>

#include "kernels/isa_kernels.h"
#include "kernels/neon_common.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

#if !SWAPMOE_NEON_DOT
#error "vec_dot_x8_neon.cpp needs SDOT: build it in the neon_dotprod flavour only"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// A group's block unpacked: u[2k] (rows 0-3) and u[2k + 1] (rows 4-7) meet activation bytes
// 4k..4k+3. Q4_0: k < 4 the low nibbles of chunk k, k >= 4 the high ones of chunk k - 4
// (values 16 + 4(k - 4)..). Q8_0: chunk k.
struct Q4_0Group {
  using Block = BlockQ4_0x8;
  static constexpr bool kStartsAtOffset = true;
  static void unpack(const Block& x, int8x16_t* u) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F);
    for (int c = 0; c < 4; ++c)
      for (int h = 0; h < 2; ++h) {
        const uint8x16_t w = vld1q_u8(x.qs + c * 32 + h * 16);
        u[2 * c + h] = vreinterpretq_s8_u8(vandq_u8(w, low4));
        u[2 * (4 + c) + h] = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
      }
  }
};

struct Q8_0Group {
  using Block = BlockQ8_0x8;
  static constexpr bool kStartsAtOffset = false;
  static void unpack(const Block& x, int8x16_t* u) {
    for (int k = 0; k < 16; ++k) u[k] = vld1q_s8(x.qs + k * 16);
  }
};

// Chunk k's two halves against activation bytes 4k..4k+3 (lane k % 4 of y).
template <int L>
inline void dot_chunk(const int8x16_t* u, int8x16_t y, int32x4_t* lo, int32x4_t* hi) {
  *lo = vdotq_laneq_s32(*lo, u[0], y, L);
  *hi = vdotq_laneq_s32(*hi, u[1], y, L);
}

// The integer sums of one activation block against the unpacked group block: rows 0-3, 4-7.
template <class G>
inline void group_block_sums(const int8x16_t* u, const BlockQ8_0& y, int32_t offset, int32x4_t* lo, int32x4_t* hi) {
  *lo = *hi = vdupq_n_s32(G::kStartsAtOffset ? offset : 0);
  const int8x16_t y0 = vld1q_s8(y.qs), y1 = vld1q_s8(y.qs + 16);
  dot_chunk<0>(u + 0, y0, lo, hi);
  dot_chunk<1>(u + 2, y0, lo, hi);
  dot_chunk<2>(u + 4, y0, lo, hi);
  dot_chunk<3>(u + 6, y0, lo, hi);
  dot_chunk<0>(u + 8, y1, lo, hi);
  dot_chunk<1>(u + 10, y1, lo, hi);
  dot_chunk<2>(u + 12, y1, lo, hi);
  dot_chunk<3>(u + 14, y1, lo, hi);
}

// The 8 rows' fp16 values (scales) as floats: [0] rows 0-3, [1] rows 4-7.
inline void rows_f32(const uint16_t* h, float32x4_t* out) {
  const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h));
  out[0] = vcvt_f32_f16(vget_low_f16(v));
  out[1] = vcvt_high_f32_f16(v);
}

// Block b of an activation row, Q8_0 or Q8_K.
template <class Y>
inline const Y& act_block(const X8Activation& y, int64_t b) {
  return static_cast<const Y*>(y.q)[b];
}

// acc[2t], acc[2t + 1] of T tokens += the block's fused step, as the reference.
template <class G, int T>
void scale_group_block(const typename G::Block& x, const X8Activation* y, int64_t b, float32x4_t* acc) {
  int8x16_t u[16];
  G::unpack(x, u);  // once for T tokens
  float32x4_t d[2];
  rows_f32(x.d, d);
  for (int t = 0; t < T; ++t) {
    int32x4_t sums[2];
    group_block_sums<G>(u, act_block<BlockQ8_0>(y[t], b), y[t].offset[b], &sums[0], &sums[1]);
    for (int h = 0; h < 2; ++h) acc[2 * t + h] = vfmaq_f32(acc[2 * t + h], vmulq_n_f32(d[h], y[t].d[b]), vcvtq_f32_s32(sums[h]));
  }
}

// ---- Q4_K

// The 8 rows' 6-bit scales and mins of one sub-block (12 bytes of BlockQ4_Kx8): [0] rows 0-3, [1] 4-7.
inline void q4_K_scales(const uint8_t* g, int32x4_t* sc, int32x4_t* m) {
  static constexpr int32_t kScaleShift[2][4] = {{0, -2, -4, -6}, {-8, -10, -12, -14}};
  static constexpr int32_t kMinShift[2][4] = {{-16, -18, -20, -22}, {-24, -26, -28, -30}};
  const uint16x8_t g16 = vmovl_u8(vld1_u8(g));
  uint32_t high;
  std::memcpy(&high, g + 8, sizeof high);
  const uint32x4_t h = vdupq_n_u32(high), three = vdupq_n_u32(3);
  for (int half = 0; half < 2; ++half) {
    const uint32x4_t low = half ? vmovl_high_u16(g16) : vmovl_u16(vget_low_u16(g16));
    const uint32x4_t sc_high = vandq_u32(vshlq_u32(h, vld1q_s32(kScaleShift[half])), three);
    const uint32x4_t m_high = vandq_u32(vshlq_u32(h, vld1q_s32(kMinShift[half])), three);
    sc[half] = vreinterpretq_s32_u32(vorrq_u32(vandq_u32(low, vdupq_n_u32(0xF)), vshlq_n_u32(sc_high, 4)));
    m[half] = vreinterpretq_s32_u32(vorrq_u32(vshrq_n_u32(low, 4), vshlq_n_u32(m_high, 4)));
  }
}

// One token's integer sums of a pair j of sub-blocks: lo[] sub-block 2j, hi[] 2j+1 (rows 0-3, 4-7).
struct PairSums {
  int32x4_t lo[2], hi[2];
};

// Chunk c = 4q + L of pair j (its low nibbles meet activation bytes 64j + 4c, its high ones
// 64j + 32 + 4c: lane L of y_lo and y_hi) against T tokens.
template <int L, int T>
inline void q4_K_chunk(const uint8_t* qs, const int8x16_t* y_lo, const int8x16_t* y_hi, PairSums* p) {
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int h = 0; h < 2; ++h) {
    const uint8x16_t w = vld1q_u8(qs + L * 32 + h * 16);
    const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(w, low4)), hi = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
    for (int t = 0; t < T; ++t) {
      p[t].lo[h] = vdotq_laneq_s32(p[t].lo[h], lo, y_lo[t], L);
      p[t].hi[h] = vdotq_laneq_s32(p[t].hi[h], hi, y_hi[t], L);
    }
  }
}

// acc[0..1] of T tokens += the super-block's two fused steps, as the reference: d * dy * total,
// then - dmin * dy * mins.
template <int T>
void q4_K_block(const BlockQ4_Kx8& x, const X8Activation* ya, int64_t b, float32x4_t* acc) {
  const BlockQ8_K* y[T];
  for (int t = 0; t < T; ++t) y[t] = &act_block<BlockQ8_K>(ya[t], b);
  PairSums p[T];
  int32x4_t total[T][2], mins[T][2];
  for (int t = 0; t < T; ++t) total[t][0] = total[t][1] = mins[t][0] = mins[t][1] = vdupq_n_s32(0);
  for (int j = 0; j < 4; ++j) {
    for (int t = 0; t < T; ++t) p[t].lo[0] = p[t].lo[1] = p[t].hi[0] = p[t].hi[1] = vdupq_n_s32(0);
    for (int q = 0; q < 2; ++q) {
      int8x16_t y_lo[T], y_hi[T];
      for (int t = 0; t < T; ++t) {
        y_lo[t] = vld1q_s8(y[t]->qs + 64 * j + 16 * q);
        y_hi[t] = vld1q_s8(y[t]->qs + 64 * j + 32 + 16 * q);
      }
      const uint8_t* qs = x.qs + j * 256 + q * 128;
      q4_K_chunk<0, T>(qs, y_lo, y_hi, p);
      q4_K_chunk<1, T>(qs, y_lo, y_hi, p);
      q4_K_chunk<2, T>(qs, y_lo, y_hi, p);
      q4_K_chunk<3, T>(qs, y_lo, y_hi, p);
    }
    int32x4_t sc[2][2], m[2][2];  // [sub-block of the pair][rows 0-3, 4-7]
    q4_K_scales(x.scales + (2 * j) * 12, sc[0], m[0]);
    q4_K_scales(x.scales + (2 * j + 1) * 12, sc[1], m[1]);
    for (int t = 0; t < T; ++t) {
      const int16_t* bs = y[t]->bsums;
      const int32_t s0 = bs[4 * j] + bs[4 * j + 1], s1 = bs[4 * j + 2] + bs[4 * j + 3];
      for (int h = 0; h < 2; ++h) {
        total[t][h] = vmlaq_s32(vmlaq_s32(total[t][h], sc[0][h], p[t].lo[h]), sc[1][h], p[t].hi[h]);
        mins[t][h] = vmlaq_n_s32(vmlaq_n_s32(mins[t][h], m[0][h], s0), m[1][h], s1);
      }
    }
  }
  float32x4_t d[2], dmin[2];
  rows_f32(x.d, d);
  rows_f32(x.dmin, dmin);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < 2; ++h) {
      const float dy = y[t]->d;
      float32x4_t& a = acc[2 * t + h];
      a = vfmaq_f32(a, vmulq_n_f32(d[h], dy), vcvtq_f32_s32(total[t][h]));
      a = vfmsq_f32(a, vmulq_n_f32(dmin[h], dy), vcvtq_f32_s32(mins[t][h]));
    }
}

// ---- Q6_K (quant_blocks.h: BlockQ6_Kx8)

// Column group C (lane C of the activation vector) of quarter (h, q) for value k of each
// column, against T tokens: sub[t][0..1] += rows 0-3, 4-7. Value k takes the low (k < 2) or high
// nibbles of ql chunk 16h + col (k even) or 16h + 8 + col (k odd), and bits 2k, 2k + 1 of qh
// chunk 8h + col as its bits 4-5.
template <int C, int T>
inline void q6_K_column(const BlockQ6_Kx8& g, int h, int q, int k, const int8x16_t* y, int32x4_t (*sub)[2]) {
  const int col = 4 * q + C;
  const uint8_t* ql = g.ql + (16 * h + (k % 2 ? 8 : 0) + col) * 32;
  const uint8_t* qh = g.qh + (8 * h + col) * 32;
  const int8x16_t shift = vdupq_n_s8(static_cast<int8_t>(4 - 2 * k));
  for (int half = 0; half < 2; ++half) {
    const uint8x16_t low = vld1q_u8(ql + half * 16), high = vld1q_u8(qh + half * 16);
    const uint8x16_t nibbles = k < 2 ? vandq_u8(low, vdupq_n_u8(0x0F)) : vshrq_n_u8(low, 4);
    const int8x16_t v = vreinterpretq_s8_u8(vorrq_u8(nibbles, vandq_u8(vshlq_u8(high, shift), vdupq_n_u8(0x30))));
    for (int t = 0; t < T; ++t) sub[t][half] = vdotq_laneq_s32(sub[t][half], v, y[t], C);
  }
}

// acc[2t], acc[2t + 1] += d * dy * (the super-block's sum of scale x sub-block sum), as the
// reference. One sub-block at a time: 8h + q + 2k holds value k of the columns of quarter (h, q).
template <int T>
void q6_K_block(const BlockQ6_Kx8& g, const X8Activation* ya, int64_t b, float32x4_t* acc) {
  const BlockQ8_K* y[T];
  for (int t = 0; t < T; ++t) y[t] = &act_block<BlockQ8_K>(ya[t], b);
  int32x4_t total[T][2];
  for (int t = 0; t < T; ++t) total[t][0] = total[t][1] = vdupq_n_s32(0);
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 2; ++q)
      for (int k = 0; k < 4; ++k) {
        const int sb = 8 * h + q + 2 * k;
        int32x4_t sub[T][2];
        int8x16_t ys[T];
        for (int t = 0; t < T; ++t) {
          sub[t][0] = sub[t][1] = vdupq_n_s32(-32 * y[t]->bsums[sb]);
          ys[t] = vld1q_s8(y[t]->qs + 128 * h + 16 * q + 32 * k);
        }
        q6_K_column<0, T>(g, h, q, k, ys, sub);
        q6_K_column<1, T>(g, h, q, k, ys, sub);
        q6_K_column<2, T>(g, h, q, k, ys, sub);
        q6_K_column<3, T>(g, h, q, k, ys, sub);
        const int16x8_t sc = vmovl_s8(vld1_s8(g.scales + sb * 8));
        const int32x4_t sc_rows[2] = {vmovl_s16(vget_low_s16(sc)), vmovl_high_s16(sc)};
        for (int t = 0; t < T; ++t)
          for (int half = 0; half < 2; ++half) total[t][half] = vmlaq_s32(total[t][half], sc_rows[half], sub[t][half]);
      }
  float32x4_t d[2];
  rows_f32(g.d, d);
  for (int t = 0; t < T; ++t)
    for (int half = 0; half < 2; ++half)
      acc[2 * t + half] = vfmaq_f32(acc[2 * t + half], vmulq_n_f32(d[half], y[t]->d), vcvtq_f32_s32(total[t][half]));
}

// T tokens (1: gemv, 4: gemm4) against one group of kValues-value blocks, through a block kernel.
template <class Block, int kValues, int T, void (*kBlock)(const Block&, const X8Activation*, int64_t, float32x4_t*)>
void group_rows(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const Block*>(vx);
  float32x4_t acc[2 * T];
  for (float32x4_t& a : acc) a = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kValues; ++b) kBlock(x[b], y, b, acc);
  for (int t = 0; t < T; ++t) {
    vst1q_f32(s + t * kInterleaveRows, acc[2 * t]);
    vst1q_f32(s + t * kInterleaveRows + 4, acc[2 * t + 1]);
  }
}

}  // namespace

void gemv_q4_0x8(int64_t n, float* s, const void* x, const X8Activation& y) {
  group_rows<BlockQ4_0x8, QK4_0, 1, scale_group_block<Q4_0Group, 1>>(n, s, x, &y);
}
void gemm4_q4_0x8(int64_t n, float* s, const void* x, const X8Activation* y) {
  group_rows<BlockQ4_0x8, QK4_0, 4, scale_group_block<Q4_0Group, 4>>(n, s, x, y);
}
void gemv_q8_0x8(int64_t n, float* s, const void* x, const X8Activation& y) {
  group_rows<BlockQ8_0x8, QK8_0, 1, scale_group_block<Q8_0Group, 1>>(n, s, x, &y);
}
void gemm4_q8_0x8(int64_t n, float* s, const void* x, const X8Activation* y) {
  group_rows<BlockQ8_0x8, QK8_0, 4, scale_group_block<Q8_0Group, 4>>(n, s, x, y);
}
void gemv_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation& y) {
  group_rows<BlockQ4_Kx8, QK_K, 1, q4_K_block<1>>(n, s, x, &y);
}
void gemm4_q4_Kx8(int64_t n, float* s, const void* x, const X8Activation* y) {
  group_rows<BlockQ4_Kx8, QK_K, 4, q4_K_block<4>>(n, s, x, y);
}
void gemv_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation& y) {
  group_rows<BlockQ6_Kx8, QK_K, 1, q6_K_block<1>>(n, s, x, &y);
}
void gemm4_q6_Kx8(int64_t n, float* s, const void* x, const X8Activation* y) {
  group_rows<BlockQ6_Kx8, QK_K, 4, q6_K_block<4>>(n, s, x, y);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
