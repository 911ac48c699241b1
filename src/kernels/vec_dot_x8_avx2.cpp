// The interleaved Q4_0, Q8_0 and Q4_K kernels (tensor/interleave.h) in the 256-bit flavours: a
// group of 8 rows in the 8 int32 lanes. Each 32-byte load of weights holds 4 consecutive values
// of every row (Q4_0, Q4_K: in the low nibbles, with the 4 values 16 further on in the high
// ones); the activation's matching 4 bytes are broadcast to all lanes, so one u8 x s8 dot step
// serves 8 rows. The offsets of the encodings start the integer sums, as in the reference.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// Q4_K: the 8 rows' 6-bit scales and mins of one sub-block (12 bytes, BlockQ4_Kx8) as lanes.
inline void scales_and_mins(const uint8_t* g, __m256i* sc, __m256i* m) {
  const __m256i low = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g)));
  uint32_t high;
  std::memcpy(&high, g + 8, sizeof high);
  const __m256i h = _mm256_set1_epi32(static_cast<int>(high));
  const __m256i three = _mm256_set1_epi32(3);
  const __m256i sc_high = _mm256_and_si256(_mm256_srlv_epi32(h, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)), three);
  const __m256i m_high = _mm256_and_si256(_mm256_srlv_epi32(h, _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30)), three);
  *sc = _mm256_or_si256(_mm256_and_si256(low, _mm256_set1_epi32(0xF)), _mm256_slli_epi32(sc_high, 4));
  *m = _mm256_or_si256(_mm256_srli_epi32(low, 4), _mm256_slli_epi32(m_high, 4));
}

// One pair j of sub-blocks (2j, 2j+1) of a Q4_K group: its nibbles unpacked, u[c] the low
// (sub-block 2j) and u[8 + c] the high (2j+1) of chunk c, and both sub-blocks' scales and mins.
struct Q4KPair {
  __m256i u[16];
  __m256i sc[2], m[2];
};

inline void unpack_q4_K_pair(const BlockQ4_Kx8& x, int j, Q4KPair* p) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int c = 0; c < 8; ++c) {
    const __m256i w = load256(x.qs + j * 256 + c * 32);
    p->u[c] = _mm256_and_si256(w, low4);
    p->u[8 + c] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
  }
  scales_and_mins(x.scales + (2 * j) * 12, &p->sc[0], &p->m[0]);
  scales_and_mins(x.scales + (2 * j + 1) * 12, &p->sc[1], &p->m[1]);
}

// Adds one token's share of pair j: total += sc * (sub-block dot), mins += m * (its y sum).
inline void add_q4_K_pair(const Q4KPair& p, const BlockQ8_K& y, __m256i y_sums, int j, __m256i* total, __m256i* mins) {
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int c = 0; c < 8; ++c) {
    lo = add_dot_u8s8(lo, p.u[c], broadcast4(y.qs + 64 * j + 4 * c));
    hi = add_dot_u8s8(hi, p.u[8 + c], broadcast4(y.qs + 64 * j + 32 + 4 * c));
  }
  *total = _mm256_add_epi32(*total, _mm256_add_epi32(_mm256_mullo_epi32(p.sc[0], lo), _mm256_mullo_epi32(p.sc[1], hi)));
  const __m256i s0 = _mm256_permutevar8x32_epi32(y_sums, _mm256_set1_epi32(2 * j));
  const __m256i s1 = _mm256_permutevar8x32_epi32(y_sums, _mm256_set1_epi32(2 * j + 1));
  *mins = _mm256_add_epi32(*mins, _mm256_add_epi32(_mm256_mullo_epi32(p.m[0], s0), _mm256_mullo_epi32(p.m[1], s1)));
}

// Lane s: the sum of the activation's sub-block s (two 16-value block sums).
inline __m256i sub_block_sums(const BlockQ8_K& y) {
  return _mm256_madd_epi16(load256(y.bsums), _mm256_set1_epi16(1));
}

// acc += d * dy * total - dmin * dy * mins, as the reference's two fused steps.
inline __m256 add_q4_K_block(__m256 acc, const BlockQ4_Kx8& x, float dy, __m256i total, __m256i mins) {
  const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.d))), _mm256_set1_ps(dy));
  const __m256 dmin =
      _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.dmin))), _mm256_set1_ps(dy));
  acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(total), acc);
  return _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(mins), acc);
}

}  // namespace

void gemv_q4_Kx8(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ4_Kx8*>(vx);
  const auto* yq = static_cast<const BlockQ8_K*>(y.q);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i y_sums = sub_block_sums(yq[b]);
    __m256i total = _mm256_setzero_si256(), mins = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      Q4KPair p;
      unpack_q4_K_pair(x[b], j, &p);
      add_q4_K_pair(p, yq[b], y_sums, j, &total, &mins);
    }
    acc = add_q4_K_block(acc, x[b], yq[b].d, total, mins);
  }
  _mm256_storeu_ps(s, acc);
}

void gemm4_q4_Kx8(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const BlockQ4_Kx8*>(vx);
  const BlockQ8_K* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_K*>(y[t].q);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    __m256i y_sums[4], total[4], mins[4];
    for (int t = 0; t < 4; ++t) {
      y_sums[t] = sub_block_sums(yq[t][b]);
      total[t] = mins[t] = _mm256_setzero_si256();
    }
    for (int j = 0; j < 4; ++j) {
      Q4KPair p;
      unpack_q4_K_pair(x[b], j, &p);  // once for 4 tokens
      for (int t = 0; t < 4; ++t) add_q4_K_pair(p, yq[t][b], y_sums[t], j, &total[t], &mins[t]);
    }
    for (int t = 0; t < 4; ++t) acc[t] = add_q4_K_block(acc[t], x[b], yq[t][b].d, total[t], mins[t]);
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

// Q4_0 and Q8_0: a group's block unpacked into 8 vectors u[k], each meeting activation bytes
// 4k..4k+3 in every lane, and one scale a row. Q4_0: u[c] the low nibbles of chunk c, u[4 + c]
// the high ones (values 16 + 4c..), the sum started at -8 x the activation block's sum. Q8_0:
// u[c] chunk c. With VNNI its weights turn unsigned (q + 128, a sign-bit flip) and the sum starts
// at -128 x the block sum; without, maddubs would saturate on (q + 128) * y pairs, so the sign
// moves to the activation instead (|q| * sign(y, q): at most 2 * 128 * 127 a pair).
namespace {

struct Q4_0Group {
  using Block = BlockQ4_0x8;
  static constexpr bool kStartsAtOffset = true;
  static void unpack(const Block& x, __m256i* u) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; ++c) {
      const __m256i w = load256(x.qs + c * 32);
      u[c] = _mm256_and_si256(w, low4);
      u[4 + c] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
    }
  }
  static __m256i dot(__m256i acc, __m256i u, __m256i y) { return add_dot_u8s8(acc, u, y); }
};

struct Q8_0Group {
  using Block = BlockQ8_0x8;
  static constexpr bool kStartsAtOffset = SWAPMOE_VNNI256 != 0;
  static void unpack(const Block& x, __m256i* u) {
    for (int c = 0; c < 8; ++c) {
      const __m256i w = load256(x.qs + c * 32);
      u[c] = kStartsAtOffset ? _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80))) : w;
    }
  }
  static __m256i dot(__m256i acc, __m256i u, __m256i y) {
    if constexpr (kStartsAtOffset) return add_dot_u8s8(acc, u, y);
    return add_dot_u8s8(acc, _mm256_abs_epi8(u), _mm256_sign_epi8(y, u));
  }
};

// Integer sums of one activation block against the unpacked group block, one per row (lane).
template <class G>
__m256i group_block_sums(const __m256i* u, const BlockQ8_0& y, int32_t offset) {
  __m256i even = _mm256_set1_epi32(G::kStartsAtOffset ? offset : 0), odd = _mm256_setzero_si256();
  for (int k = 0; k < 8; k += 2) {
    even = G::dot(even, u[k], broadcast4(y.qs + 4 * k));
    odd = G::dot(odd, u[k + 1], broadcast4(y.qs + 4 * k + 4));
  }
  return _mm256_add_epi32(even, odd);
}

template <class G>
void gemv_scale_group(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const typename G::Block*>(vx);
  const auto* yq = static_cast<const BlockQ8_0*>(y.q);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    __m256i u[8];
    G::unpack(x[b], u);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    const __m256i sums = group_block_sums<G>(u, yq[b], y.offset[b]);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y.d[b])), _mm256_cvtepi32_ps(sums), acc);
  }
  _mm256_storeu_ps(s, acc);
}

template <class G>
void gemm4_scale_group(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const typename G::Block*>(vx);
  const BlockQ8_0* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_0*>(y[t].q);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    __m256i u[8];
    G::unpack(x[b], u);  // once for 4 tokens
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
    for (int t = 0; t < 4; ++t) {
      const __m256i sums = group_block_sums<G>(u, yq[t][b], y[t].offset[b]);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(y[t].d[b])), _mm256_cvtepi32_ps(sums), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

}  // namespace

void gemv_q4_0x8(int64_t n, float* s, const void* x, const X8Activation& y) { gemv_scale_group<Q4_0Group>(n, s, x, y); }
void gemm4_q4_0x8(int64_t n, float* s, const void* x, const X8Activation* y) { gemm4_scale_group<Q4_0Group>(n, s, x, y); }
void gemv_q8_0x8(int64_t n, float* s, const void* x, const X8Activation& y) { gemv_scale_group<Q8_0Group>(n, s, x, y); }
void gemm4_q8_0x8(int64_t n, float* s, const void* x, const X8Activation* y) { gemm4_scale_group<Q8_0Group>(n, s, x, y); }

}  // namespace swapmoe::SWAPMOE_ISA_NS
