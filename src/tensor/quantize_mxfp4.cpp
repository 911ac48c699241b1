// Reference quantisation of MXFP4 (OCP microscaling FP4: E2M1 values, one E8M0 exponent per
// 32), ggml's rules. Compiled with -ffp-contract=off so results are bit-identical to ggml's.
#include <cmath>

#include "tensor/quant_blocks.h"
#include "tensor/quantize.h"

namespace swapmoe {

namespace {

// The FP4 code nearest to x / e (first one on ties, so +0 rather than -0).
int nearest_fp4(float x, float e) {
  int best = 0;
  float best_err = std::fabs(static_cast<float>(kValuesMXFP4[0]) * e - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(static_cast<float>(kValuesMXFP4[i]) * e - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

}  // namespace

// The exponent puts the largest magnitude in [8, 16) times the (halved) scale d: among the top
// levels 8 and 12, where values beyond 12 * d saturate (ggml's choice, not the OCP spec's).
void quantize_row_mxfp4_ref(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockMXFP4*>(vy);
  for (int64_t i = 0; i < n / QK_MXFP4; ++i, x += QK_MXFP4) {
    float amax = 0.0f;
    for (int j = 0; j < QK_MXFP4; ++j) {
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
    }
    const uint8_t e = amax > 0.0f ? static_cast<uint8_t>(static_cast<int>(std::floor(std::log2(amax)) - 2 + 127)) : 0;
    const float d = e8m0_to_fp32_half(e);
    y[i].e = e;
    for (int j = 0; j < QK_MXFP4 / 2; ++j) {
      const int q0 = nearest_fp4(x[j], d);
      const int q1 = nearest_fp4(x[j + QK_MXFP4 / 2], d);
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_mxfp4(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockMXFP4*>(vx);
  for (int64_t i = 0; i < n / QK_MXFP4; ++i, y += QK_MXFP4) {
    const float d = e8m0_to_fp32_half(x[i].e);
    for (int j = 0; j < QK_MXFP4 / 2; ++j) {
      y[j] = static_cast<float>(kValuesMXFP4[x[i].qs[j] & 0x0F]) * d;
      y[j + QK_MXFP4 / 2] = static_cast<float>(kValuesMXFP4[x[i].qs[j] >> 4]) * d;
    }
  }
}

}  // namespace swapmoe
