// Dispatch for the activation quantisers: the AVX2 versions when active_cpu_level() allows
// them, otherwise the references (which they match bit for bit).
#include "kernels/quantize_act.h"

#include <cstring>

#include "kernels/isa_kernels.h"
#include "tensor/cpu_level.h"
#include "tensor/quantize.h"

namespace swapmoe {

void quantize_row_q8_0_act(const float* x, void* y, int64_t n) {
#if defined(SWAPMOE_KERNELS_X86)
  if (avx2_active()) {
    avx2::quantize_row_q8_0_act(x, y, n);
    return;
  }
#endif
  quantize_row_q8_0_ref(x, y, n);
}

void quantize_row_q8_K_act(const float* x, void* y, int64_t n) {
#if defined(SWAPMOE_KERNELS_X86)
  if (avx2_active()) {
    avx2::quantize_row_q8_K_act(x, y, n);
    return;
  }
#endif
  quantize_row_q8_K_ref(x, y, n);
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
