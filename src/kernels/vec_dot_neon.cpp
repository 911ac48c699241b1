// ARMv8 NEON dot products (sdot in the dot-product flavour). The K-quants use the scalar
// references on ARM for now.
//
// Built per flavour (isa_kernels.h): SWAPMOE_NEON_DOT=0 neon (aarch64 baseline),
// 1 neon_dotprod (-march=armv8.2-a+dotprod), in namespace SWAPMOE_ISA_NS.
#include <arm_neon.h>

#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_NEON_DOT)
#error "vec_dot_neon.cpp is built per flavour: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// Four int32 lanes summing the 16 products a[i] * b[i].
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if SWAPMOE_NEON_DOT
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_high_s8(a, b);
  return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

inline float d2(uint16_t a, uint16_t b) { return fp16_to_fp32(a) * fp16_to_fp32(b); }

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

extern constinit const VecDotSet kVecDots{
    .f32 = vec_dot_f32_f32,
    .f16 = vec_dot_f16_f32,
    .q8_0 = vec_dot_q8_0_q8_0,
    .q4_0 = vec_dot_q4_0_q8_0,
};

}  // namespace swapmoe::SWAPMOE_ISA_NS
