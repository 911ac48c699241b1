// TensorView: a non-owning, trivially copyable view of a tensor in GGML's layout.
//
// ne[0] is the innermost (contiguous) dimension: a weight matrix W of shape {n_in, n_out}
// holds n_out rows of n_in values each, and y = W x is computed row by row.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tensor/ggml_type.h"

namespace swapmoe {

struct TensorView {
  GgmlType type = GgmlType::F32;
  int64_t ne[4] = {1, 1, 1, 1};  // elements per dimension
  size_t nb[4] = {0, 0, 0, 0};   // bytes between consecutive elements/rows/planes (nb[0] = block bytes)
  const void* data = nullptr;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_bytes() const { return nb[1]; }
  size_t n_bytes() const { return nb[3] * static_cast<size_t>(ne[3]); }
  const uint8_t* row(int64_t i) const { return static_cast<const uint8_t*>(data) + i * nb[1]; }

  // The i-th 2-D slice along ne[2], e.g. expert i of a stacked {n_in, n_out, n_expert} tensor.
  TensorView slice2(int64_t i) const {
    TensorView v = *this;
    v.ne[2] = 1;
    v.ne[3] = 1;
    v.nb[3] = v.nb[2];
    v.data = static_cast<const uint8_t*>(data) + i * nb[2];
    return v;
  }

  // A contiguous view of `data` with the given shape.
  static TensorView contiguous(GgmlType type, const int64_t* ne, int n_dims, const void* data) {
    TensorView v;
    v.type = type;
    for (int d = 0; d < n_dims && d < 4; ++d) v.ne[d] = ne[d];
    const TypeTraits& t = type_traits(type);
    v.nb[0] = t.type_size;
    v.nb[1] = t.type_size * static_cast<size_t>(v.ne[0] / t.block_size);
    v.nb[2] = v.nb[1] * static_cast<size_t>(v.ne[1]);
    v.nb[3] = v.nb[2] * static_cast<size_t>(v.ne[2]);
    v.data = data;
    return v;
  }
};

}  // namespace swapmoe
