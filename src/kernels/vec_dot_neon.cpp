// ARMv8 NEON dot products (sdot in the dot-product flavour): the float types and the 32-value
// block types; the K-quants (Q2_K to Q6_K) and IQ4_XS in vec_dot_neon_k.cpp.
//
// Built per flavour (isa_kernels.h): SWAPMOE_NEON_DOT=0 neon (aarch64 baseline),
// 1 neon_dotprod (-march=armv8.2-a+dotprod), in namespace SWAPMOE_ISA_NS.
#include <arm_neon.h>

#include "kernels/isa_kernels.h"
#include "kernels/neon_common.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_NEON_DOT)
#error "vec_dot_neon.cpp is built per flavour: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

inline float d2(uint16_t a, uint16_t b) { return fp16_to_fp32(a) * fp16_to_fp32(b); }

// The 32 nibbles of a Q4_0-ordered block: values 0-15 (low nibbles) and 16-31 (high nibbles).
struct Nibbles {
  uint8x16_t lo, hi;
};
inline Nibbles unpack_nibbles(const uint8_t* qs) {
  const uint8x16_t v = vld1q_u8(qs);
  return {vandq_u8(v, vdupq_n_u8(0x0F)), vshrq_n_u8(v, 4)};
}

// The fifth bits of a Q5 block (bit j of the 32-bit qh) as 0x10 in byte j: bytes 0-15 from
// qh bits 0-15, bytes 16-31 from bits 16-31.
inline Nibbles fifth_bits(const uint8_t* qh) {
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit);
  const uint8x16_t sixteen = vdupq_n_u8(0x10);
  const uint8x16_t lo = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
  const uint8x16_t hi = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
  return {vandq_u8(vtstq_u8(lo, bit), sixteen), vandq_u8(vtstq_u8(hi, bit), sixteen)};
}

// Integer dot of 32 weight bytes (as int8: all callers' values fit) with a block's 32 int8 activations.
inline int32x4_t dot32(Nibbles q, const int8_t* y) {
  const int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q.lo), vld1q_s8(y));
  return dot16(p, vreinterpretq_s8_u8(q.hi), vld1q_s8(y + 16));
}

inline Nibbles add(Nibbles a, Nibbles b) { return {vaddq_u8(a.lo, b.lo), vaddq_u8(a.hi, b.hi)}; }

// Signed levels looked up by nibble (IQ4_NL, MXFP4).
inline Nibbles lookup(int8x16_t table, Nibbles q) {
  return {vreinterpretq_u8_s8(vqtbl1q_s8(table, q.lo)), vreinterpretq_u8_s8(vqtbl1q_s8(table, q.hi))};
}

void vec_dot_f32_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const float*>(vx);
  const auto* y = static_cast<const float*>(vy);
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) acc[k] = vfmaq_f32(acc[k], vld1q_f32(x + i + 4 * k), vld1q_f32(y + i + 4 * k));
  }
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) sum += x[i] * y[i];
  *s = sum;
}

void vec_dot_f16_f32(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
    acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(y + i));
    acc1 = vfmaq_f32(acc1, vcvt_high_f32_f16(h), vld1q_f32(y + i + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
  *s = sum;
}

void vec_dot_q8_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32x4_t p = dot16(vdupq_n_s32(0), vld1q_s8(x[b].qs), vld1q_s8(y[b].qs));
    p = dot16(p, vld1q_s8(x[b].qs + 16), vld1q_s8(y[b].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), d2(x[b].d, y[b].d));
  }
  *s = vaddvq_f32(acc);
}

void vec_dot_q4_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    const uint8x16_t v = vld1q_u8(x[b].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, low4)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
    int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(y[b].qs));
    p = dot16(p, hi, vld1q_s8(y[b].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), d2(x[b].d, y[b].d));
  }
  *s = vaddvq_f32(acc);
}

}  // namespace

// The types added with issue 9 (declared in isa_kernels.h for every flavour).

// Q4_1/Q5_1 x Q8_1: unsigned quants (< 32, so int8 too); the minimum adds m * s per block.
void vec_dot_q4_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  float32x4_t acc = vdupq_n_f32(0);
  float mins = 0;
  for (int64_t b = 0; b < n / QK4_1; ++b) {
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(unpack_nibbles(x[b].qs), y[b].qs)), d2(x[b].d, y[b].d));
    mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  }
  *s = vaddvq_f32(acc) + mins;
}

void vec_dot_q5_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  float32x4_t acc = vdupq_n_f32(0);
  float mins = 0;
  for (int64_t b = 0; b < n / QK5_1; ++b) {
    const Nibbles q = add(unpack_nibbles(x[b].qs), fifth_bits(x[b].qh));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(q, y[b].qs)), d2(x[b].d, y[b].d));
    mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  }
  *s = vaddvq_f32(acc) + mins;
}

void vec_dot_q5_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const uint8x16_t minus16 = vdupq_n_u8(static_cast<uint8_t>(-16));
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / QK5_0; ++b) {
    const Nibbles q = add(add(unpack_nibbles(x[b].qs), fifth_bits(x[b].qh)), Nibbles{minus16, minus16});  // [-16, 15]
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(dot32(q, y[b].qs)), d2(x[b].d, y[b].d));
  }
  *s = vaddvq_f32(acc);
}

// IQ4_NL/MXFP4: the nibbles index a table of signed levels; block_scale(b) is the weight
// block's scale. kT tokens against one row: the levels are looked up once for all of them, and
// each token's sums run as with one (kT = 1 is the one-token kernel), so results are bit-identical.
template <int kT, typename Block, typename BlockScale>
void table_dot(int64_t n, float* s, const Block* x, const void* const* vy, const int8_t* levels16,
               BlockScale block_scale) {
  const BlockQ8_0* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  const int8x16_t table = vld1q_s8(levels16);
  float32x4_t acc[kT];
  for (int t = 0; t < kT; ++t) acc[t] = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    const Nibbles q = lookup(table, unpack_nibbles(x[b].qs));
    for (int t = 0; t < kT; ++t)
      acc[t] = vmlaq_n_f32(acc[t], vcvtq_f32_s32(dot32(q, y[t][b].qs)), block_scale(b) * fp16_to_fp32(y[t][b].d));
  }
  for (int t = 0; t < kT; ++t) s[t] = vaddvq_f32(acc[t]);
}

void vec_dot_iq4_nl_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  table_dot<1>(n, s, x, &vy, kValuesIQ4NL, [&](int64_t b) { return fp16_to_fp32(x[b].d); });
}

void vec_dot_mxfp4_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  table_dot<1>(n, s, x, &vy, kValuesMXFP4, [&](int64_t b) { return e8m0_to_fp32_half(x[b].e); });
}

void vec_dot_t4_iq4_nl_q8_0(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  table_dot<4>(n, s, x, vy, kValuesIQ4NL, [&](int64_t b) { return fp16_to_fp32(x[b].d); });
}

void vec_dot_t4_mxfp4_q8_0(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  table_dot<4>(n, s, x, vy, kValuesMXFP4, [&](int64_t b) { return e8m0_to_fp32_half(x[b].e); });
}

extern constinit const VecDotSet kVecDots{
    .f32 = vec_dot_f32_f32,
    .f16 = vec_dot_f16_f32,
    .q8_0 = vec_dot_q8_0_q8_0,
    .q4_0 = vec_dot_q4_0_q8_0,
    .q4_K = vec_dot_q4_K_q8_K,  // vec_dot_neon_k.cpp, same flavour
    .q5_K = vec_dot_q5_K_q8_K,
    .q6_K = vec_dot_q6_K_q8_K,
    .q4_1 = vec_dot_q4_1_q8_1,
    .q5_0 = vec_dot_q5_0_q8_0,
    .q5_1 = vec_dot_q5_1_q8_1,
    .iq4_nl = vec_dot_iq4_nl_q8_0,
    .mxfp4 = vec_dot_mxfp4_q8_0,
    .q2_K = vec_dot_q2_K_q8_K,  // vec_dot_neon_k.cpp too
    .q3_K = vec_dot_q3_K_q8_K,
    .iq4_xs = vec_dot_iq4_xs_q8_K,
    .t4_q4_K = vec_dot_t4_q4_K,
    .t4_q5_K = vec_dot_t4_q5_K,
    .t4_q6_K = vec_dot_t4_q6_K,
    .t4_iq4_nl = vec_dot_t4_iq4_nl_q8_0,
    .t4_mxfp4 = vec_dot_t4_mxfp4_q8_0,
    .t4_q2_K = vec_dot_t4_q2_K,  // vec_dot_neon_k.cpp, same flavour
    .t4_q3_K = vec_dot_t4_q3_K,
    .t4_iq4_xs = vec_dot_t4_iq4_xs,
#if SWAPMOE_NEON_DOT
    .x8_q4_0 = gemv_q4_0x8,  // vec_dot_x8_neon.cpp, in this flavour only
    .x8t4_q4_0 = gemm4_q4_0x8,
    .x8_q8_0 = gemv_q8_0x8,
    .x8t4_q8_0 = gemm4_q8_0x8,
    .x8_q4_K = gemv_q4_Kx8,
    .x8t4_q4_K = gemm4_q4_Kx8,
    .x8_q6_K = gemv_q6_Kx8,
    .x8t4_q6_K = gemm4_q6_Kx8,
#endif
};

}  // namespace swapmoe::SWAPMOE_ISA_NS
