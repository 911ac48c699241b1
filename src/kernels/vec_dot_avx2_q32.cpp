// 256-bit dot products of the 32-value block types added with issue 9: Q4_1 and Q5_1 (x Q8_1),
// Q5_0, IQ4_NL and MXFP4 (x Q8_0), and 4-token kernels for IQ4_NL and MXFP4. One block per
// register, as Q4_0 in vec_dot_avx2.cpp; built in each of its flavours (isa_kernels.h).
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// sum over blocks of scale(b) * dot(b), dot giving 8 int32 lanes; two accumulators hide the
// FMA latency (blocks are independent).
template <typename Dot, typename Scale>
float sum_blocks(int64_t nb, Dot dot, Scale scale) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b)), _mm256_cvtepi32_ps(dot(b)), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b + 1)), _mm256_cvtepi32_ps(dot(b + 1)), acc1);
  }
  if (b < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(scale(b)), _mm256_cvtepi32_ps(dot(b)), acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
}

// The fifth bits of a Q5 block (bit j of the 32-bit qh) as 0x10 in byte j, 0 elsewhere.
inline __m256i fifth_bits(const uint8_t* qh_bytes) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  // Byte j gets byte j / 8 of qh, then keeps bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                                             _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                               0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// A 16-entry int8 table in both 128-bit lanes, for byte lookups with shuffle_epi8.
inline __m256i table16(const int8_t* values) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(values)));
}

// IQ4_NL/MXFP4 x Q8_0: the nibbles index a table of signed levels (|level| <= 127, so the sign
// trick of dot_s8s8 holds); block_scale(b) is the weight block's scale. kT tokens against one
// row: kT = 1 is the one-token kernel, kT = 4 the GEMM micro-kernel, which looks the levels up
// (and takes their absolute values) once for its 4 tokens. Each token's sums run as in
// sum_blocks (same accumulators, same order), so a token's result does not depend on kT.
template <int kT, typename Block, typename BlockScale>
void table_dot(int64_t n, float* s, const Block* x, const void* const* vy, const int8_t* levels16,
               BlockScale block_scale) {
  const BlockQ8_0* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_0*>(vy[t]);
  const __m256i levels = table16(levels16);
  struct Levels {
    __m256i q, abs_q;
  };
  const auto prep = [&](int64_t b) {
    const __m256i q = _mm256_shuffle_epi8(levels, unpack_nibbles_32(x[b].qs));
    return Levels{q, _mm256_sign_epi8(q, q)};
  };
  const auto term = [&](const Levels& w, int t, int64_t b) {  // dot_s8s8, its |x| taken once
    return _mm256_cvtepi32_ps(dot_u8s8(w.abs_q, _mm256_sign_epi8(load256(y[t][b].qs), w.q)));
  };
  const auto scale = [&](int t, int64_t b) { return _mm256_set1_ps(block_scale(b) * fp16_to_fp32(y[t][b].d)); };
  __m256 acc0[kT], acc1[kT];
  for (int t = 0; t < kT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  const int64_t nb = n / QK8_0;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const Levels w0 = prep(b), w1 = prep(b + 1);
    for (int t = 0; t < kT; ++t) {
      acc0[t] = _mm256_fmadd_ps(scale(t, b), term(w0, t, b), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(scale(t, b + 1), term(w1, t, b + 1), acc1[t]);
    }
  }
  if (b < nb) {
    const Levels w0 = prep(b);
    for (int t = 0; t < kT; ++t) acc0[t] = _mm256_fmadd_ps(scale(t, b), term(w0, t, b), acc0[t]);
  }
  for (int t = 0; t < kT; ++t) s[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
}

}  // namespace

// Q4_1/Q5_1: the quants are unsigned; the minimum adds m * s per block (s = dy * sum(q8)).
void vec_dot_q4_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  const int64_t nb = n / QK4_1;
  float mins = 0;
  for (int64_t b = 0; b < nb; ++b) mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  *s = mins + sum_blocks(
                  nb, [&](int64_t b) { return dot_u8s8(unpack_nibbles_32(x[b].qs), load256(y[b].qs)); },
                  [&](int64_t b) { return fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d); });
}

void vec_dot_q5_1_q8_1(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  const auto* y = static_cast<const BlockQ8_1*>(vy);
  const int64_t nb = n / QK5_1;
  float mins = 0;
  for (int64_t b = 0; b < nb; ++b) mins += fp16_to_fp32(x[b].m) * fp16_to_fp32(y[b].s);
  *s = mins + sum_blocks(
                  nb,
                  [&](int64_t b) {
                    const __m256i q = _mm256_or_si256(unpack_nibbles_32(x[b].qs), fifth_bits(x[b].qh));
                    return dot_u8s8(q, load256(y[b].qs));
                  },
                  [&](int64_t b) { return fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d); });
}

void vec_dot_q5_0_q8_0(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const __m256i sixteen = _mm256_set1_epi8(16);
  *s = sum_blocks(
      n / QK5_0,
      [&](int64_t b) {
        const __m256i q = _mm256_or_si256(unpack_nibbles_32(x[b].qs), fifth_bits(x[b].qh));
        return dot_s8s8(_mm256_sub_epi8(q, sixteen), load256(y[b].qs));  // [-16, 15]
      },
      [&](int64_t b) { return fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d); });
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

}  // namespace swapmoe::SWAPMOE_ISA_NS
