// Row conversions for the float types (F32, F16, BF16): the F16C/AVX2 versions
// (float_rows_avx2.cpp) when active_cpu_level() allows them, else the scalar loops here.
#include <cmath>
#include <cstring>

#include "tensor/cpu_level.h"
#include "tensor/fp16.h"
#include "tensor/quantize.h"

#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
namespace swapmoe::avx2 {
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n);
void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n);
void fp16_weighted_sum(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride, int64_t n_rows);
}  // namespace swapmoe::avx2
#endif

namespace swapmoe {

void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) {
    avx2::fp16_to_fp32_row(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) {
    avx2::fp32_to_fp16_row(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void bf16_to_fp32_row(const uint16_t* src, float* dst, int64_t n) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) {
    avx2::bf16_to_fp32_row(src, dst, n);
    return;
  }
#endif
  // A plain loop: compilers turn the shift into a widening move + shift on every ISA.
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

void fp32_to_bf16_row(const float* src, uint16_t* dst, int64_t n) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) {
    avx2::fp32_to_bf16_row(src, dst, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_bf16(src[i]);
}

void fp16_weighted_sum(const uint16_t* v, int64_t v_stride, int64_t n_keys, int64_t n, const float* w, int64_t w_stride,
                       float* out, int64_t out_stride, int64_t n_rows) {
#if defined(SWAPMOE_FLOAT_ROWS_AVX2)
  if (avx2_active()) {
    avx2::fp16_weighted_sum(v, v_stride, n_keys, n, w, w_stride, out, out_stride, n_rows);
    return;
  }
#endif
  for (int64_t r = 0; r < n_rows; ++r) {
    float* o = out + r * out_stride;
    for (int64_t j = 0; j < n_keys; ++j) {
      const float wj = w[r * w_stride + j];
      const uint16_t* vj = v + j * v_stride;
      for (int64_t d = 0; d < n; ++d) o[d] = std::fma(wj, fp16_to_fp32(vj[d]), o[d]);
    }
  }
}

void quantize_row_f32_ref(const float* x, void* y, int64_t n) { std::memcpy(y, x, sizeof(float) * n); }
void quantize_row_f16_ref(const float* x, void* y, int64_t n) { fp32_to_fp16_row(x, static_cast<uint16_t*>(y), n); }
void quantize_row_bf16_ref(const float* x, void* y, int64_t n) { fp32_to_bf16_row(x, static_cast<uint16_t*>(y), n); }

void dequantize_row_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, sizeof(float) * n); }
void dequantize_row_f16(const void* x, float* y, int64_t n) { fp16_to_fp32_row(static_cast<const uint16_t*>(x), y, n); }
void dequantize_row_bf16(const void* x, float* y, int64_t n) { bf16_to_fp32_row(static_cast<const uint16_t*>(x), y, n); }

}  // namespace swapmoe
