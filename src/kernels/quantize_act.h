// Activation quantisers for the matmul hot path: vectorised, and bit-identical to the
// reference from_float of the traits table (tested), so results do not depend on the ISA. The
// AVX2 versions run when active_cpu_level() allows them.
#pragma once

#include <cstdint>

#include "tensor/ggml_type.h"

namespace swapmoe {

void quantize_row_q8_0_act(const float* x, void* y, int64_t n);
void quantize_row_q8_K_act(const float* x, void* y, int64_t n);

// x (n floats) converted to type t (a vec_dot_type): F32 is copied, Q8_0/Q8_K use the
// functions above, anything else the traits table's from_float.
void quantize_act_row(GgmlType t, const float* x, void* y, int64_t n);

}  // namespace swapmoe
