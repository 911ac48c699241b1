// Row conversions for the float types (F32, F16, BF16); fp16 rows use F16C when built for it.
#include <cstring>

#include "tensor/fp16.h"
#include "tensor/quantize.h"

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace swapmoe {

void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
#endif
  for (; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
  // A plain loop: compilers turn the shift into vpmovzxwd + vpslld on every ISA.
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

void quantize_row_f32_ref(const float* x, void* y, int64_t n) { std::memcpy(y, x, sizeof(float) * n); }
void quantize_row_f16_ref(const float* x, void* y, int64_t n) { fp32_to_fp16_row(x, static_cast<uint16_t*>(y), n); }
void quantize_row_bf16_ref(const float* x, void* y, int64_t n) { fp32_to_bf16_row(x, static_cast<uint16_t*>(y), n); }

void dequantize_row_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, sizeof(float) * n); }
void dequantize_row_f16(const void* x, float* y, int64_t n) { fp16_to_fp32_row(static_cast<const uint16_t*>(x), y, n); }
void dequantize_row_bf16(const void* x, float* y, int64_t n) { bf16_to_fp32_row(static_cast<const uint16_t*>(x), y, n); }

}  // namespace swapmoe
