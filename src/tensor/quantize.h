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
void quantize_row_q4_1_ref(const float* x, void* y, int64_t n);
void quantize_row_q5_0_ref(const float* x, void* y, int64_t n);
void quantize_row_q5_1_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_1_ref(const float* x, void* y, int64_t n);
void quantize_row_q2_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q3_K_ref(const float* x, void* y, int64_t n);
// IQ4_NL as llama-quantize writes it (ggml's quantize_iq4_nl without importance weights, which
// searches 15 scales per block). ggml's quantize_row_iq4_nl_ref searches none and leaves the
// quants of all-zero blocks undefined, so it is not what files hold.
void quantize_row_iq4_nl(const float* x, void* y, int64_t n);
void quantize_row_iq4_xs_ref(const float* x, void* y, int64_t n);
void quantize_row_mxfp4_ref(const float* x, void* y, int64_t n);
void quantize_row_q4_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q5_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q6_K_ref(const float* x, void* y, int64_t n);
void quantize_row_q8_K_ref(const float* x, void* y, int64_t n);

void dequantize_row_f32(const void* x, float* y, int64_t n);
void dequantize_row_f16(const void* x, float* y, int64_t n);
void dequantize_row_bf16(const void* x, float* y, int64_t n);
void dequantize_row_q4_0(const void* x, float* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);
void dequantize_row_q4_1(const void* x, float* y, int64_t n);
void dequantize_row_q5_0(const void* x, float* y, int64_t n);
void dequantize_row_q5_1(const void* x, float* y, int64_t n);
void dequantize_row_q8_1(const void* x, float* y, int64_t n);
void dequantize_row_q2_K(const void* x, float* y, int64_t n);
void dequantize_row_q3_K(const void* x, float* y, int64_t n);
void dequantize_row_iq4_nl(const void* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const void* x, float* y, int64_t n);
void dequantize_row_mxfp4(const void* x, float* y, int64_t n);
void dequantize_row_q4_K(const void* x, float* y, int64_t n);
void dequantize_row_q5_K(const void* x, float* y, int64_t n);
void dequantize_row_q6_K(const void* x, float* y, int64_t n);
void dequantize_row_q8_K(const void* x, float* y, int64_t n);

}  // namespace swapmoe
