// Reference quantise/dequantise of one row, per type: the traits table's from_float/to_float.
//
// quantize_row_*_ref reproduce ggml's reference quantisation bit for bit (same search, same
// float operation order, compiled without FMA contraction), so a file we write is the file
// llama.cpp would write. n must be a multiple of the type's block size.
#pragma once

#include <cstdint>

namespace swapmoe {

void quantize_row_f32_ref(const float* x, void* y, int64_t n);
void quantize_row_f16_ref(const float* x, void* y, int64_t n);
void quantize_row_bf16_ref(const float* x, void* y, int64_t n);
void quantize_row_q4_0_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_0_ref(const float* x, void* y, int64_t n);
void quantize_row_q4_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q5_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q6_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, void* y, int64_t n);

void dequantize_row_f32(const void* x, float* y, int64_t n);
void dequantize_row_f16(const void* x, float* y, int64_t n);
void dequantize_row_bf16(const void* x, float* y, int64_t n);
void dequantize_row_q4_0(const void* x, float* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);
void dequantize_row_q4_K(const void* x, float* y, int64_t n);
void dequantize_row_q5_K(const void* x, float* y, int64_t n);
void dequantize_row_q6_K(const void* x, float* y, int64_t n);
void dequantize_row_q8_K(const void* x, float* y, int64_t n);

}  // namespace swapmoe
