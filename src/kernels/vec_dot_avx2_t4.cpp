// One weight row against 4 activation rows (4 tokens) for the K-quants, 256-bit flavours: the
// GEMM micro-kernel of prefill and of batched decode.
//
// A K-quant dot product spends about half its instructions turning packed weights into bytes
// and scales (nibble masks, the 6-bit scale unpacking, the per-sub-block scale shuffles), work
// that depends on the weights only. Here it is done once per super-block and reused for 4
// tokens, whose products (maddubs + a scaled madd, or VNNI's dpwssd) are all that is left per
// token: for Q4_K about 1.8x fewer instructions per product than 4 calls of the one-token kernel.
//
// Each token's result is bit-identical to the one-token kernel's (vec_dot_avx2.cpp): the integer
// parts are exact, and the float operations run in the same order, so a token's logits do not
// depend on which tokens were batched with it.
// Built in every 256-bit flavour (isa_kernels.h); vec_dot_avx2.cpp lists them in its table.
#include <immintrin.h>

#include "kernels/avx2_helpers.h"
#include <type_traits>

#include "kernels/isa_kernels.h"
#include "tensor/fp16.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

constexpr int kT = 4;  // tokens per call

// Each token's 8 float lanes summed, s[t] = sum(acc[t]), in hsum()'s order: the two halves
// added, then lanes (0 + 2) + (1 + 3).
inline void store_hsum4(const __m256* acc, float* s) {
  __m128 h0 = _mm_add_ps(_mm256_castps256_ps128(acc[0]), _mm256_extractf128_ps(acc[0], 1));
  __m128 h1 = _mm_add_ps(_mm256_castps256_ps128(acc[1]), _mm256_extractf128_ps(acc[1], 1));
  __m128 h2 = _mm_add_ps(_mm256_castps256_ps128(acc[2]), _mm256_extractf128_ps(acc[2], 1));
  __m128 h3 = _mm_add_ps(_mm256_castps256_ps128(acc[3]), _mm256_extractf128_ps(acc[3], 1));
  _MM_TRANSPOSE4_PS(h0, h1, h2, h3);  // now h_k holds lane k of every token
  _mm_storeu_ps(s, _mm_add_ps(_mm_add_ps(h0, h2), _mm_add_ps(h1, h3)));
}

// The products of one weight pair (32 low and 32 high values of 64) with every token's bytes
// at offset `off` of its super-block, scaled per sub-block, into sumi[t] (low) and sumi[kT + t]
// (high): two chains per token, so the accumulations' latency hides behind the other tokens'.
inline void add_pair(__m256i* sumi, __m256i lo, __m256i hi, __m256i sc_lo, __m256i sc_hi,
                     const BlockQ8_K* const* y, int64_t b, int off) {
  for (int t = 0; t < kT; ++t) {
    const int8_t* q8 = y[t][b].qs + off;
    sumi[t] = add_scaled_dot(sumi[t], lo, load256(q8), sc_lo);
    sumi[kT + t] = add_scaled_dot(sumi[kT + t], hi, load256(q8 + 32), sc_hi);
  }
}

// Q4_K and Q5_K share everything but the fifth bit: qh == nullptr for Q4_K.
template <typename Block>
void k4_t4(int64_t n, float* s, const Block* x, const void* const* vy) {
  const BlockQ8_K* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_K*>(vy[t]);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc[kT] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sm = unpack_k4_scales(x[b].scales);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
    __m256i sumi[2 * kT];
    for (auto& v : sumi) v = _mm256_setzero_si256();
    const uint8_t* q4 = x[b].qs;
    auto pair = [&](int j, __m256i sc_lo, __m256i sc_hi) {
      const __m256i q = load256(q4 + 32 * j);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (std::is_same_v<Block, BlockQ5_K>) {
        const __m256i one = _mm256_set1_epi8(1);
        const __m256i h = _mm256_srli_epi16(load256(x[b].qh), 2 * j);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(h, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 1), one), 4));
      }
      add_pair(sumi, lo, hi, sc_lo, sc_hi, y, b, 64 * j);
    };
    pair(0, scale_k<0>(scales), scale_k<1>(scales));
    pair(1, scale_k<2>(scales), scale_k<3>(scales));
    pair(2, scale_k<4>(scales), scale_k<5>(scales));
    pair(3, scale_k<6>(scales), scale_k<7>(scales));
    const float xd = fp16_to_fp32(x[b].d), xdmin = fp16_to_fp32(x[b].dmin);
    for (int t = 0; t < kT; ++t) {
      const __m256 mins = _mm256_cvtepi32_ps(_mm256_zextsi128_si256(mins_dot_bsums(sm, y[t][b].bsums)));
      const __m256i si = _mm256_add_epi32(sumi[t], sumi[kT + t]);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * xd), _mm256_cvtepi32_ps(si), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_set1_ps(y[t][b].d * xdmin), mins, acc[t]);
    }
  }
  store_hsum4(acc, s);
}

void vec_dot_t4_q4_K_q8_K(int64_t n, float* s, const void* vx, const void* const* vy) {
  k4_t4(n, s, static_cast<const BlockQ4_K*>(vx), vy);
}

void vec_dot_t4_q5_K_q8_K(int64_t n, float* s, const void* vx, const void* const* vy) {
  k4_t4(n, s, static_cast<const BlockQ5_K*>(vx), vy);
}

// Q6_K: as vec_dot_q6_K_q8_K, the 6-bit values used unsigned and the -32 offset applied per
// token as 32 * sum_k(scale_k * bsum_k).
void vec_dot_t4_q6_K_q8_K(int64_t n, float* s, const void* vx, const void* const* vy) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  const BlockQ8_K* y[kT];
  for (int t = 0; t < kT; ++t) y[t] = static_cast<const BlockQ8_K*>(vy[t]);
  __m256 acc[kT] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    __m256i sumi[kT] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()};
    const uint8_t* ql = x[b].ql;
    const uint8_t* qh = x[b].qh;
    for (int h = 0; h < 2; ++h, ql += 64, qh += 32) {
      __m256i q[4], sc;
      unpack_q6_half(ql, qh, sc16, h, q, &sc);
      for (int k = 0; k < 4; ++k) {
        const __m256i scale = q6_group_scale(sc, k);
        for (int t = 0; t < kT; ++t) {
          sumi[t] = add_scaled_dot(sumi[t], q[k], load256(y[t][b].qs + 128 * h + 32 * k), scale);
        }
      }
    }
    const float xd = fp16_to_fp32(x[b].d);
    for (int t = 0; t < kT; ++t) {
      const __m256i offset = _mm256_madd_epi16(sc16, load256(y[t][b].bsums));
      const __m256i si = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(offset, 5));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][b].d * xd), _mm256_cvtepi32_ps(si), acc[t]);
    }
  }
  store_hsum4(acc, s);
}

}  // namespace

// The table entries (vec_dot_avx2.cpp): functions with external linkage in this flavour.
void vec_dot_t4_q4_K(int64_t n, float* s, const void* x, const void* const* y) { vec_dot_t4_q4_K_q8_K(n, s, x, y); }
void vec_dot_t4_q5_K(int64_t n, float* s, const void* x, const void* const* y) { vec_dot_t4_q5_K_q8_K(n, s, x, y); }
void vec_dot_t4_q6_K(int64_t n, float* s, const void* x, const void* const* y) { vec_dot_t4_q6_K_q8_K(n, s, x, y); }

}  // namespace swapmoe::SWAPMOE_ISA_NS
