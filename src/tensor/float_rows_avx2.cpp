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

// R query rows x 16 values of each row held in registers over all keys: each value block is
// widened once for the R rows, and out is read and written once per block, not once per key.
template <int R>
void weighted_sum_rows(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride) {
  int64_t d = 0;
  for (; d + 16 <= n; d += 16) {
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm256_loadu_ps(out + r * out_stride + d);
      acc[r][1] = _mm256_loadu_ps(out + r * out_stride + d + 8);
    }
    for (int64_t j = 0; j < n_keys; ++j) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + j * v_stride + d));
      const __m256 x0 = _mm256_cvtph_ps(_mm256_castsi256_si128(h)), x1 = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
      for (int r = 0; r < R; ++r) {
        const __m256 wj = _mm256_broadcast_ss(w + r * w_stride + j);
        acc[r][0] = _mm256_fmadd_ps(wj, x0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(wj, x1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(out + r * out_stride + d, acc[r][0]);
      _mm256_storeu_ps(out + r * out_stride + d + 8, acc[r][1]);
    }
  }
  for (; d < n; ++d)  // head sizes that are not a multiple of 16
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
