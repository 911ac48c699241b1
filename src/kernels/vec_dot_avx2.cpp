// AVX2 + FMA + F16C dot products. Integer kernels multiply int8 pairs with maddubs (or VNNI
// dpbusd when the CPU has it), the same class of kernel llama.cpp uses.
#include "kernels/vec_dot.h"

#if defined(SWAPMOE_HAVE_AVX2_KERNELS)

#include <immintrin.h>

#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sums of 4 adjacent products u8 * s8 into int32 lanes (u in [0, 255], s in [-127, 127]).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
  // maddubs saturates at int16, safe here: 2 * 255 * 127 < 32767 only for u <= 128, which
  // holds for every caller (|q8| <= 127, 4-6 bit quants).
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// Signed int8 dot via the unsigned path: |x| * (y with x's sign). Needs x != -128.
inline __m256i dot_s8s8(__m256i x, __m256i y) {
  return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// 32 nibbles of a Q4 block as bytes: low nibbles in lanes 0-15, high nibbles in 16-31.
inline __m256i unpack_nibbles_32(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Q4_K/Q5_K packed 6-bit scales -> 8 scales then 8 mins, one byte each.
inline void unpack_k4_scales(const uint8_t* packed, uint8_t out[16]) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu;
  const uint32_t m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const uint32_t w[4] = {sc_lo, sc_hi, m_lo, m_hi};
  std::memcpy(out, w, 16);
}

// sum_j mins[j] * (bsums[2j] + bsums[2j+1]) for the Q4_K/Q5_K min correction.
inline int mins_dot_bsums(const uint8_t* mins8, const int16_t* bsums) {
  const __m128i m = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins8)));
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
  const __m128i pairs = _mm_hadd_epi16(b0, b1);  // |pair sums| <= 2 * 16 * 127, no overflow
  __m128i p = _mm_madd_epi16(m, pairs);
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(1, 0, 3, 2)));
  p = _mm_add_epi32(p, _mm_shuffle_epi32(p, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(p);
}

// int16 products of u8*s8 pairs, scaled by an int16 scale, summed pairwise into int32.
inline __m256i scaled_dot(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// float types

void vec_dot_f32_f32_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const float*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    }
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += x[i] * y[i];
  *s = sum;
}

void vec_dot_f16_f32_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  auto load_h = [&](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))); };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load_h(i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_h(i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
  *s = sum;
}

void vec_dot_bf16_f32_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const uint16_t*>(vx);
  const auto* y = static_cast<const float*>(vy);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  auto load_b = [&](int64_t i) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load_b(i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  }
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_b(i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += bf16_to_fp32(x[i]) * y[i];
  *s = sum;
}

// ---------------------------------------------------------------------------------------------
// 32-value blocks

void vec_dot_q8_0_q8_0_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK8_0;
  // Two accumulators hide the FMA latency; blocks are independent.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256i p0 = dot_s8s8(load256(x[b].qs), load256(y[b].qs));
    const __m256i p1 = dot_s8s8(load256(x[b + 1].qs), load256(y[b + 1].qs));
    const float d0 = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
    const float d1 = fp16_to_fp32(x[b + 1].d) * fp16_to_fp32(y[b + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1);
  }
  for (; b < nb; ++b) {
    const __m256i p = dot_s8s8(load256(x[b].qs), load256(y[b].qs));
    const float d = fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc0);
  }
  *s = hsum(_mm256_add_ps(acc0, acc1));
}

void vec_dot_q4_0_q8_0_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  const auto* y = static_cast<const BlockQ8_0*>(vy);
  const int64_t nb = n / QK4_0;
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  auto block_dot = [&](int64_t b) {
    const __m256i q = _mm256_sub_epi8(unpack_nibbles_32(x[b].qs), eight);  // [-8, 7]
    return _mm256_cvtepi32_ps(dot_s8s8(q, load256(y[b].qs)));
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m256 p0 = block_dot(b), p1 = block_dot(b + 1);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)), p0, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b + 1].d) * fp16_to_fp32(y[b + 1].d)), p1, acc1);
  }
  for (; b < nb; ++b) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(fp16_to_fp32(x[b].d) * fp16_to_fp32(y[b].d)), block_dot(b), acc0);
  }
  *s = hsum(_mm256_add_ps(acc0, acc1));
}

// ---------------------------------------------------------------------------------------------
// K-quants (256-value super-blocks)

void vec_dot_q4_K_q8_K_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ4_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sm[16];
    unpack_k4_scales(x[b].scales, sm);
    acc_m += y[b].d * fp16_to_fp32(x[b].dmin) * static_cast<float>(mins_dot_bsums(sm + 8, y[b].bsums));

    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q4 = x[b].qs;
    const int8_t* q8 = y[b].qs;
    for (int j = 0; j < QK_K / 64; ++j, q4 += 32, q8 += 64) {
      const __m256i q = load256(q4);
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      sumi = _mm256_add_epi32(sumi, scaled_dot(lo, load256(q8), _mm256_set1_epi16(sm[2 * j])));
      sumi = _mm256_add_epi32(sumi, scaled_dot(hi, load256(q8 + 32), _mm256_set1_epi16(sm[2 * j + 1])));
    }
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc) - acc_m;
}

void vec_dot_q5_K_q8_K_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ5_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    uint8_t sm[16];
    unpack_k4_scales(x[b].scales, sm);
    acc_m += y[b].d * fp16_to_fp32(x[b].dmin) * static_cast<float>(mins_dot_bsums(sm + 8, y[b].bsums));

    __m256i qh = load256(x[b].qh);
    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q4 = x[b].qs;
    const int8_t* q8 = y[b].qs;
    for (int j = 0; j < QK_K / 64; ++j, q4 += 32, q8 += 64) {
      const __m256i q = load256(q4);
      // Bits 2j / 2j+1 of each qh byte are the fifth bits of the low / high sub-block; qh is
      // shifted right by 2 per iteration so they are always bits 0 and 1. Move them to bit 4.
      const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(qh, one), 4);
      const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4);
      qh = _mm256_srli_epi16(qh, 2);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, low4), h_lo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), h_hi);
      sumi = _mm256_add_epi32(sumi, scaled_dot(lo, load256(q8), _mm256_set1_epi16(sm[2 * j])));
      sumi = _mm256_add_epi32(sumi, scaled_dot(hi, load256(q8 + 32), _mm256_set1_epi16(sm[2 * j + 1])));
    }
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc) - acc_m;
}

// Q6_K: q in [0, 63] is used unsigned in maddubs; the -32 offset is applied once per
// super-block as 32 * sum_k(scale_k * bsum_k).
void vec_dot_q6_K_q8_K_avx2(int64_t n, float* s, const void* vx, const void* vy) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  const auto* y = static_cast<const BlockQ8_K*>(vy);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i three = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    const __m256i offset = _mm256_madd_epi16(sc16, load256(y[b].bsums));  // sum_k sc_k * bsum_k

    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    const int8_t* q8 = y[b].qs;
    const int8_t* sc = x[b].scales;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32, q8 += 128, sc += 8) {
      const __m256i l0 = load256(ql), l1 = load256(ql + 32), hb = load256(qh);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, three), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), three), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), three), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), three), 4));
      for (int k = 0; k < 4; ++k) {
        // 16-bit lanes 0-7 hold values 0-15 of this group (scale 2k), lanes 8-15 values 16-31.
        const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        sumi = _mm256_add_epi32(sumi, scaled_dot(q[k], load256(q8 + 32 * k), scale));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offset, 5));
    const float d = y[b].d * fp16_to_fp32(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  *s = hsum(acc);
}

}  // namespace swapmoe

#endif  // SWAPMOE_HAVE_AVX2_KERNELS
