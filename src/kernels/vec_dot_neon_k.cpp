// ARMv8 NEON K-quant dot products against Q8_K (Q2_K to Q6_K, IQ4_XS), one token and 4 tokens.
//
// A super-block is unpacked into bytes (Q4_K 0-15, Q5_K 0-31, Q6_K 0-63, Q2_K 0-3, Q3_K -4..3,
// IQ4_XS its table's values: all valid as int8) and per-sub-block integer scales; each token
// then takes 16-byte dot products (sdot in the dot-product flavour) and a multiply-add by the
// sub-block's scale. The weight offsets (Q4_K/Q5_K/Q2_K mins, Q6_K's -32) come from the
// activations' block sums, once per super-block. The 4-token kernels unpack once for 4 tokens; both kinds share `Unpacked`
// and `finish`, so a token's result is bit-identical either way (integer sums are exact, and
// the float steps are the same function).
//
// Built per flavour with vec_dot_neon.cpp (isa_kernels.h): SWAPMOE_NEON_DOT=0 neon, 1 neon_dotprod.
#include <arm_neon.h>

#include <cmath>

#include <type_traits>

#include "kernels/isa_kernels.h"
#include "kernels/neon_common.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

#if !defined(SWAPMOE_ISA_NS) || !defined(SWAPMOE_NEON_DOT)
#error "vec_dot_neon_k.cpp is built per flavour: see src/kernels/CMakeLists.txt"
#endif

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

constexpr int kT = 4;

// One super-block of weights as bytes and integer scales. Q4_K/Q5_K: 8 sub-blocks of 32 values,
// q[2k], q[2k+1] their halves, scale[k] and min[k] (n_scales = 8, values_per_scale = 32);
// Q6_K: 16 sub-blocks of 16 values, q[k] each, scale[k] (n_scales = 16, values_per_scale = 16).
// How a block's values are offset: by mins (x = d*sc*q - dmin*m), by -32 (Q6_K), or not at all
// (Q3_K and IQ4_XS, whose unpacked values and scales are already signed).
enum class Offset { MINS, MINUS_32, NONE };

struct Unpacked {
  int8x16_t q[16];
  int32_t scale[16];
  int32_t min[16];
  int n_scales;
  Offset offset;
  float d, dmin;
};

void unpack_k4(const uint8_t* qs, const uint8_t* packed_scales, const uint8_t* qh, Unpacked& u) {
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  const uint8x16_t sixteen = vdupq_n_u8(0x10);
  uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
  if (qh) h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
  for (int j = 0; j < 4; ++j) {  // 32 bytes of nibbles: sub-blocks 2j (low) and 2j+1 (high)
    const uint8x16_t v0 = vld1q_u8(qs + 32 * j), v1 = vld1q_u8(qs + 32 * j + 16);
    uint8x16_t lo0 = vandq_u8(v0, low4), lo1 = vandq_u8(v1, low4);
    uint8x16_t hi0 = vshrq_n_u8(v0, 4), hi1 = vshrq_n_u8(v1, 4);
    if (qh) {  // bit 2j of qh[l]: fifth bit of value l of sub-block 2j; bit 2j+1: of 2j+1
      const uint8x16_t m_lo = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * j)));
      const uint8x16_t m_hi = vdupq_n_u8(static_cast<uint8_t>(1u << (2 * j + 1)));
      lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(h0, m_lo), sixteen));
      lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(h1, m_lo), sixteen));
      hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(h0, m_hi), sixteen));
      hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(h1, m_hi), sixteen));
    }
    u.q[4 * j] = vreinterpretq_s8_u8(lo0), u.q[4 * j + 1] = vreinterpretq_s8_u8(lo1);
    u.q[4 * j + 2] = vreinterpretq_s8_u8(hi0), u.q[4 * j + 3] = vreinterpretq_s8_u8(hi1);
  }
  for (int k = 0; k < 8; ++k) {
    uint8_t sc, m;
    unpack_scale_min_k4(k, packed_scales, &sc, &m);
    u.scale[k] = sc, u.min[k] = m;
  }
  u.n_scales = 8;
  u.offset = Offset::MINS;
}

template <typename Block>
void unpack(const Block& x, Unpacked& u) {
  if constexpr (std::is_same_v<Block, BlockQ5_K>) unpack_k4(x.qs, x.scales, x.qh, u);
  else unpack_k4(x.qs, x.scales, nullptr, u);
  u.d = fp16_to_fp32(x.d), u.dmin = fp16_to_fp32(x.dmin);
}

template <>
void unpack<BlockQ6_K>(const BlockQ6_K& x, Unpacked& u) {
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  const uint8x16_t three = vdupq_n_u8(3);
  for (int h = 0; h < 2; ++h) {  // 128 values: 4 groups of 32 (two 16-value sub-blocks each)
    const uint8_t* ql = x.ql + 64 * h;
    const uint8_t* qh = x.qh + 32 * h;
    for (int i = 0; i < 2; ++i) {  // the first and second 16 values of each group
      const uint8x16_t l0 = vld1q_u8(ql + 16 * i), l1 = vld1q_u8(ql + 32 + 16 * i), hb = vld1q_u8(qh + 16 * i);
      const uint8x16_t g[4] = {
          vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(hb, three), 4)),
          vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), three), 4)),
          vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), three), 4)),
          vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4)),
      };
      for (int k = 0; k < 4; ++k) u.q[8 * h + 2 * k + i] = vreinterpretq_s8_u8(g[k]);
    }
  }
  for (int k = 0; k < 16; ++k) u.scale[k] = x.scales[k];
  u.n_scales = 16;
  u.offset = Offset::MINUS_32;
  u.d = fp16_to_fp32(x.d), u.dmin = 0;
}

// Q2_K and Q3_K store their 2-bit values alike: value 32g + l of half h (l < 32) is bits 2g-2g+1
// of qs[32h + l]. Sub-block j = 8h + 2g + l / 16, as Q6_K's.
inline void unpack_two_bits(const uint8_t* qs, Unpacked& u) {
  const uint8x16_t three = vdupq_n_u8(3);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 2; ++i) {
      const uint8x16_t b = vld1q_u8(qs + 32 * h + 16 * i);
      u.q[8 * h + i] = vreinterpretq_s8_u8(vandq_u8(b, three));
      u.q[8 * h + 2 + i] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b, 2), three));
      u.q[8 * h + 4 + i] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b, 4), three));
      u.q[8 * h + 6 + i] = vreinterpretq_s8_u8(vshrq_n_u8(b, 6));
    }
}

template <>
void unpack<BlockQ2_K>(const BlockQ2_K& x, Unpacked& u) {
  unpack_two_bits(x.qs, u);
  for (int k = 0; k < 16; ++k) u.scale[k] = x.scales[k] & 0xF, u.min[k] = x.scales[k] >> 4;
  u.n_scales = 16;
  u.offset = Offset::MINS;
  u.d = fp16_to_fp32(x.d), u.dmin = fp16_to_fp32(x.dmin);
}

template <>
void unpack<BlockQ3_K>(const BlockQ3_K& x, Unpacked& u) {
  unpack_two_bits(x.qs, u);
  // The third bit of value v is bit v / 32 of hmask[v % 32]; without it the value is q - 4.
  const int8x16_t four = vdupq_n_s8(4);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 2; ++i) {
      const uint8x16_t hm = vld1q_u8(x.hmask + 16 * i);
      for (int g = 0; g < 4; ++g) {
        const uint8x16_t high = vtstq_u8(hm, vdupq_n_u8(static_cast<uint8_t>(1u << (4 * h + g))));
        int8x16_t& q = u.q[8 * h + 2 * g + i];
        q = vsubq_s8(q, vbicq_s8(four, vreinterpretq_s8_u8(high)));
      }
    }
  int8_t sc[16];
  unpack_scales_q3_K(x.scales, sc);
  for (int k = 0; k < 16; ++k) u.scale[k] = sc[k];
  u.n_scales = 16;
  u.offset = Offset::NONE;
  u.d = fp16_to_fp32(x.d), u.dmin = 0;
}

template <>
void unpack<BlockIQ4_XS>(const BlockIQ4_XS& x, Unpacked& u) {
  const int8x16_t table = vld1q_s8(kValuesIQ4NL);
  const uint8x16_t low4 = vdupq_n_u8(0x0F);
  for (int k = 0; k < 8; ++k) {  // 16 bytes a sub-block: low nibbles values 0-15, high 16-31
    const uint8x16_t v = vld1q_u8(x.qs + 16 * k);
    u.q[2 * k] = vqtbl1q_s8(table, vandq_u8(v, low4));
    u.q[2 * k + 1] = vqtbl1q_s8(table, vshrq_n_u8(v, 4));
    u.scale[k] = iq4_xs_scale(x, k);
  }
  u.n_scales = 8;
  u.offset = Offset::NONE;
  u.d = fp16_to_fp32(x.d), u.dmin = 0;
}

// One token's sum for an unpacked super-block, added to acc: the same steps for every kernel.
inline float finish(const Unpacked& u, const BlockQ8_K& y, float acc) {
  int32x4_t sumi = vdupq_n_s32(0);
  int32_t offset = 0;
  if (u.n_scales == 8) {
    for (int k = 0; k < 8; ++k) {
      const int32x4_t p = dot16(dot16(vdupq_n_s32(0), u.q[2 * k], vld1q_s8(y.qs + 32 * k)), u.q[2 * k + 1],
                                vld1q_s8(y.qs + 32 * k + 16));
      sumi = vmlaq_n_s32(sumi, p, u.scale[k]);
      if (u.offset == Offset::MINS) offset += u.min[k] * (y.bsums[2 * k] + y.bsums[2 * k + 1]);
    }
  } else {
    for (int k = 0; k < 16; ++k) {
      sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), u.q[k], vld1q_s8(y.qs + 16 * k)), u.scale[k]);
      if (u.offset == Offset::MINS) offset += u.min[k] * y.bsums[k];
      else if (u.offset == Offset::MINUS_32) offset += u.scale[k] * y.bsums[k];
    }
  }
  const int32_t isum = vaddvq_s32(sumi);
  switch (u.offset) {
    case Offset::MINS:
      acc = std::fma(y.d * u.d, static_cast<float>(isum), acc);
      return std::fma(-(y.d * u.dmin), static_cast<float>(offset), acc);
    case Offset::MINUS_32: return std::fma(y.d * u.d, static_cast<float>(isum - 32 * offset), acc);  // Q6_K: q - 32
    case Offset::NONE: break;
  }
  return std::fma(y.d * u.d, static_cast<float>(isum), acc);
}

template <typename Block>
void one(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const Block*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  float acc = 0;
  Unpacked u{};  // (zeroed once: gcc cannot see that each unpack sets what finish reads)
  for (int64_t b = 0; b < n / QK_K; ++b) {
    unpack(x[b], u);
    acc = finish(u, y[b], acc);
  }
  *s = acc;
}

template <typename Block>
void four(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const Block*>(vx);
  const BlockQ8_K* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_K*>(vy[t]);
  float acc[kT] = {};
  Unpacked u{};  // (zeroed once: gcc cannot see that each unpack sets what finish reads)
  for (int64_t b = 0; b < n / QK_K; ++b) {
    unpack(x[b], u);
    for (int t = 0; t < kT; ++t) acc[t] = finish(u, y[t][b], acc[t]);
  }
  for (int t = 0; t < kT; ++t) s[t] = acc[t];
}

}  // namespace

void vec_dot_q4_K_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockQ4_K>(n, s, x, y); }
void vec_dot_q5_K_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockQ5_K>(n, s, x, y); }
void vec_dot_q6_K_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockQ6_K>(n, s, x, y); }
void vec_dot_q2_K_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockQ2_K>(n, s, x, y); }
void vec_dot_q3_K_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockQ3_K>(n, s, x, y); }
void vec_dot_iq4_xs_q8_K(int64_t n, float* s, const void* x, const void* y) { one<BlockIQ4_XS>(n, s, x, y); }
void vec_dot_t4_q4_K(int64_t n, float* s, const void* x, const void* const* y) { four<BlockQ4_K>(n, s, x, y); }
void vec_dot_t4_q5_K(int64_t n, float* s, const void* x, const void* const* y) { four<BlockQ5_K>(n, s, x, y); }
void vec_dot_t4_q6_K(int64_t n, float* s, const void* x, const void* const* y) { four<BlockQ6_K>(n, s, x, y); }
void vec_dot_t4_q2_K(int64_t n, float* s, const void* x, const void* const* y) { four<BlockQ2_K>(n, s, x, y); }
void vec_dot_t4_q3_K(int64_t n, float* s, const void* x, const void* const* y) { four<BlockQ3_K>(n, s, x, y); }
void vec_dot_t4_iq4_xs(int64_t n, float* s, const void* x, const void* const* y) { four<BlockIQ4_XS>(n, s, x, y); }

}  // namespace swapmoe::SWAPMOE_ISA_NS
