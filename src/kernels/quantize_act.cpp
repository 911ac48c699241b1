// Dispatch for the activation quantisers; without a SIMD version the reference is used.
#include "kernels/quantize_act.h"

#include <cstring>

#include "tensor/quantize.h"

namespace swapmoe {

void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  quantize_row_q8_0_act_avx2(x, y, n);
#else
  quantize_row_q8_0_ref(x, y, n);
#endif
}

void quantize_row_q8_K_act(const float* x, void* y, int64_t n) {
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
  quantize_row_q8_K_act_avx2(x, y, n);
#else
  quantize_row_q8_K_ref(x, y, n);
#endif
}

void quantize_act_row(GgmlType t, const float* x, void* y, int64_t n) {
  switch (t) {
    case GgmlType::F32: std::memcpy(y, x, sizeof(float) * n); return;
    case GgmlType::Q8_0: quantize_row_q8_0_act(x, y, n); return;
    case GgmlType::Q8_K: quantize_row_q8_K_act(x, y, n); return;
    default: type_traits(t).from_float(x, y, n); return;
  }
}

}  // namespace swapmoe
