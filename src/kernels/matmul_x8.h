// matmul_tile for interleaved weights (tensor/interleave.h), which matmul_tile hands over to.
// Internal to swapmoe_kernels.
#pragma once

#include "kernels/matmul.h"

namespace swapmoe {

// As matmul_tile, for w of an interleaved type. Any row range works; ranges that start and end
// on a group of 8 rows waste nothing (run_job and the MoE layer split rows that way).
void matmul_tile_x8(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                    const int32_t* token_ids, int64_t i0, int64_t i1, MatmulOutput out);

}  // namespace swapmoe
