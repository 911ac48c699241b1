// Float row conversions for AVX2 + F16C CPUs; compiled with -mavx2 -mfma -mf16c and called only
// when active_cpu_level() is AVX2 or above (float_rows.cpp). Bit-identical to the scalar loops.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "tensor/fp16.h"

namespace swapmoe::avx2 {

void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

namespace {

// R query rows x 8W values of each row held in registers over all keys, values [d, d + 8W): each
// value block is widened once for the R rows, and out is read and written once per block, not
// once per key. Few rows take wider blocks (W up to 4): each accumulator waits on its previous
// fused multiply-add, so one row of 16 values ran at the latency of two chains (a third of the
// 4-row speed).
template <int R, int W>
void weighted_sum_block(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t d, const float* w, int64_t w_stride,
                        float* out, int64_t out_stride) {
  __m256 acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < W; ++k) acc[r][k] = _mm256_loadu_ps(out + r * out_stride + d + 8 * k);
  for (int64_t j = 0; j < n_keys; ++j) {
    __m256 x[W];
    for (int k = 0; k < W; ++k)
      x[k] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + j * v_stride + d + 8 * k)));
    for (int r = 0; r < R; ++r) {
      const __m256 wj = _mm256_broadcast_ss(w + r * w_stride + j);
      for (int k = 0; k < W; ++k) acc[r][k] = _mm256_fmadd_ps(wj, x[k], acc[r][k]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < W; ++k) _mm256_storeu_ps(out + r * out_stride + d + 8 * k, acc[r][k]);
}

template <int R>
void weighted_sum_rows(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride) {
  constexpr int kWide = R <= 2 ? 4 : 2;
  int64_t d = 0;
  for (; d + 8 * kWide <= n; d += 8 * kWide)
    weighted_sum_block<R, kWide>(v, v_stride, n_keys, d, w, w_stride, out, out_stride);
  for (; d + 16 <= n; d += 16) weighted_sum_block<R, 2>(v, v_stride, n_keys, d, w, w_stride, out, out_stride);
  for (; d + 8 <= n; d += 8) weighted_sum_block<R, 1>(v, v_stride, n_keys, d, w, w_stride, out, out_stride);
  for (; d < n; ++d)  // head sizes that are not a multiple of 8
    for (int r = 0; r < R; ++r) {
      float o = out[r * out_stride + d];
      for (int64_t j = 0; j < n_keys; ++j) o = std::fma(w[r * w_stride + j], fp16_to_fp32(v[j * v_stride + d]), o);
      out[r * out_stride + d] = o;
    }
}

}  // namespace

void fp16_weighted_sum(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride, int64_t n_rows) {
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4)
    weighted_sum_rows<4>(v, v_stride, n_keys, n, w + r * w_stride, w_stride, out + r * out_stride, out_stride);
  switch (n_rows - r) {
    case 3: weighted_sum_rows<3>(v, v_stride, n_keys, n, w + r * w_stride, w_stride, out + r * out_stride, out_stride); break;
    case 2: weighted_sum_rows<2>(v, v_stride, n_keys, n, w + r * w_stride, w_stride, out + r * out_stride, out_stride); break;
    case 1: weighted_sum_rows<1>(v, v_stride, n_keys, n, w + r * w_stride, w_stride, out + r * out_stride, out_stride); break;
    default: break;
  }
}

void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

// The bf16 loops are left to the compiler, which vectorises them 8 lanes wide here.
void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

}  // namespace swapmoe::avx2
