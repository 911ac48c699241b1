// The interleaved kernels' scalar reference and the activation preparation they share. Every
// flavour's gemv and gemm4 equal these bit for bit (exact integer sums, the same float steps).
#include <cmath>

#include "kernels/vec_dot.h"
#include "tensor/fp16.h"
#include "tensor/interleave.h"
#include "tensor/quant_blocks.h"

namespace swapmoe {

void gemv_q4_0x8_ref(int64_t n, float* s, const void* vx, const X8Activation& y) {
  const auto* x = static_cast<const BlockQ4_0x8*>(vx);
  const auto* yq = static_cast<const BlockQ8_0*>(y.q);
  float acc[kInterleaveRows] = {};
  for (int64_t b = 0; b < n / QK4_0; ++b) {
    for (int r = 0; r < kInterleaveRows; ++r) {
      int32_t isum = y.offset[b];
      for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i) {
          const uint8_t q = x[b].qs[c * 32 + r * 4 + i];
          isum += (q & 0xF) * yq[b].qs[c * 4 + i] + (q >> 4) * yq[b].qs[16 + c * 4 + i];
        }
      acc[r] = std::fma(fp16_to_fp32(x[b].d[r]) * y.d[b], static_cast<float>(isum), acc[r]);
    }
  }
  for (int r = 0; r < kInterleaveRows; ++r) s[r] = acc[r];
}

void gemm4_q4_0x8_ref(int64_t n, float* s, const void* x, const X8Activation* y) {
  for (int t = 0; t < 4; ++t) gemv_q4_0x8_ref(n, s + t * kInterleaveRows, x, y[t]);
}

void prepare_x8_activation(GgmlType, const void* q, int64_t n, float* d, int32_t* offset) {
  // Q4_0_X8 is the only interleaved type: nibbles q encode q - 8.
  const auto* y = static_cast<const BlockQ8_0*>(q);
  for (int64_t b = 0; b < n / QK8_0; ++b) {
    int32_t sum = 0;
    for (int j = 0; j < QK8_0; ++j) sum += y[b].qs[j];
    d[b] = fp16_to_fp32(y[b].d);
    offset[b] = -8 * sum;
  }
}

}  // namespace swapmoe
