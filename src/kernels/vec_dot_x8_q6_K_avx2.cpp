// The interleaved Q6_K kernels (quant_blocks.h: BlockQ6_Kx8) in the 256-bit flavours: a group of
// 8 rows in the 8 int32 lanes. Per 4 columns of a half super-block, three 32-byte loads (two of
// low bits, one of high bits) give 4 vectors of 6-bit values, 4 of every row each,
// and the activation's matching 4 bytes are broadcast, so one u8 x s8 dot step serves 8 rows.
// The values' -32 offset starts each sub-block's sum as -32 times the activation's block sum.
#include <immintrin.h>

#include "kernels/avx2_helpers.h"
#include "kernels/isa_kernels.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe::SWAPMOE_ISA_NS {

namespace {

// Every cache line of a super-block group into L1, two groups ahead of its use: the kernels read
// a group's lines out of order (two bit planes in turn), which the hardware prefetcher does not
// follow. 8 rows x 4096 from memory, one thread: 5.5 GB/s without, 31-42 with it (the plain
// one-row kernel: 25-33 in the same runs); it costs 10-20% in cache, where nothing waits on memory.
inline void prefetch_block(const BlockQ6_Kx8* g) {
  for (size_t i = 0; i < sizeof(BlockQ6_Kx8); i += 64) _mm_prefetch(reinterpret_cast<const char*>(g) + i, _MM_HINT_T0);
}

// One quarter-pass (h, q) of a group: columns l = 16q .. 16q + 15 of half h, which feed sub-blocks
// 8h + q + 2k (k = 0..3) through v[4c + k], c the column group of 4.
struct Q6KQuarter {
  __m256i v[16];
  __m256i sc[4];
};

inline void unpack_q6_K_quarter(const BlockQ6_Kx8& g, int h, int q, Q6KQuarter* p) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
  for (int c = 0; c < 4; ++c) {
    const int col = 4 * q + c;  // the column group within the half
    const __m256i a = load256(g.ql + (16 * h + col) * 32);
    const __m256i b = load256(g.ql + (16 * h + 8 + col) * 32);
    const __m256i hi = load256(g.qh + (8 * h + col) * 32);
    // The 16-bit shifts carry a neighbour byte's bits only into bits the masks drop.
    p->v[4 * c + 0] = _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_and_si256(_mm256_slli_epi16(hi, 4), bits45));
    p->v[4 * c + 1] = _mm256_or_si256(_mm256_and_si256(b, low4), _mm256_and_si256(_mm256_slli_epi16(hi, 2), bits45));
    p->v[4 * c + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low4), _mm256_and_si256(hi, bits45));
    p->v[4 * c + 3] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), low4), _mm256_and_si256(_mm256_srli_epi16(hi, 2), bits45));
  }
  for (int k = 0; k < 4; ++k)
    p->sc[k] = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g.scales + (8 * h + q + 2 * k) * 8)));
}

// total += each sub-block's scale times its integer sum against one token.
inline __m256i add_q6_K_quarter(const Q6KQuarter& p, const BlockQ8_K& y, int h, int q, __m256i total) {
  __m256i sub[4];
  for (int k = 0; k < 4; ++k) sub[k] = _mm256_set1_epi32(-32 * y.bsums[8 * h + q + 2 * k]);
  for (int c = 0; c < 4; ++c) {
    const int8_t* ys = y.qs + 128 * h + 16 * q + 4 * c;
    for (int k = 0; k < 4; ++k) sub[k] = add_dot_u8s8(sub[k], p.v[4 * c + k], broadcast4(ys + 32 * k));
  }
  for (int k = 0; k < 4; ++k) total = _mm256_add_epi32(total, _mm256_mullo_epi32(p.sc[k], sub[k]));
  return total;
}

inline __m256 add_q6_K_block(__m256 acc, const BlockQ6_Kx8& g, float dy, __m256i total) {
  const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g.d))), _mm256_set1_ps(dy));
  return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(total), acc);
}

}  // namespace

void gemv_q6_Kx8(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ6_Kx8*>(vx);
  const auto* yq = static_cast<const BlockQ8_K*>(y.q);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK_K; ++b) {
    prefetch_block(&x[b + 2]);
    __m256i total = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q) {
        Q6KQuarter p;
        unpack_q6_K_quarter(x[b], h, q, &p);
        total = add_q6_K_quarter(p, yq[b], h, q, total);
      }
    acc = add_q6_K_block(acc, x[b], yq[b].d, total);
  }
  _mm256_storeu_ps(s, acc);
}

void gemm4_q6_Kx8(int64_t n, float* s, const void* vx, const X8Activation* y) {
  const auto* x = static_cast<const BlockQ6_Kx8*>(vx);
  const BlockQ8_K* yq[4];
  for (int t = 0; t < 4; ++t) yq[t] = static_cast<const BlockQ8_K*>(y[t].q);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < n / QK_K; ++b) {
    prefetch_block(&x[b + 2]);
    __m256i total[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q) {
        Q6KQuarter p;
        unpack_q6_K_quarter(x[b], h, q, &p);  // once for 4 tokens
        for (int t = 0; t < 4; ++t) total[t] = add_q6_K_quarter(p, yq[t][b], h, q, total[t]);
      }
    for (int t = 0; t < 4; ++t) acc[t] = add_q6_K_block(acc[t], x[b], yq[t][b].d, total[t]);
  }
  for (int t = 0; t < 4; ++t) _mm256_storeu_ps(s + t * kInterleaveRows, acc[t]);
}

}  // namespace swapmoe::SWAPMOE_ISA_NS
