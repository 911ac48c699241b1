// Matrix products of a weight matrix (any supported GGML type) with a batch of activations:
// the entry point the model code calls for every linear layer and expert.
//
//   y[t * y_stride + r] = dot(W row r, x[t])     t < n_tokens, r < n_rows
//
// Activations are converted once to W's vec_dot_type (QuantizedActivations) and can be reused
// for every matrix with the same n_cols. Decode (1 token) splits rows across threads; prefill
// tiles rows x tokens so a weight row is read from memory once per thread and reused from
// cache for a tile of tokens, and inside a tile the GEMM micro-kernels (vec_dot.h) use each
// weight block for 4 tokens while it sits in registers: 1 row x 4 tokens where unpacking the
// weights is the cost (K-quants, Q4_0), 4 rows x 4 tokens for Q8_0 and Q4_0 with VNNI. Nothing
// is allocated once buffers have reached their size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "tensor/ggml_type.h"
#include "tensor/tensor_view.h"

namespace swapmoe {

// A batch of activation rows in one vec_dot_type, e.g. Q8_0 for Q4_0/Q8_0 weights, Q8_K for
// the K-quants, F32 for float weights. Owns its (grow-only) buffer.
class QuantizedActivations {
 public:
  // x: (n_tokens, n_cols) row-major floats. n_cols must be a multiple of the type's block size.
  // With a pool, tokens are split across its threads (call from outside any pool job).
  void quantize(GgmlType vec_dot_type, const float* x, int64_t n_tokens, int64_t n_cols,
                ThreadPool* pool = nullptr);

  // Grows the buffer to at least n_bytes now, so that later quantize() calls that fit do not
  // allocate (the memory plan sizes it for the widest activations).
  void reserve(size_t n_bytes) {
    if (n_bytes > buf_.size()) buf_.resize(n_bytes);
  }
  size_t capacity_bytes() const { return buf_.size(); }
  // Bytes of a buffer holding n_tokens rows of n_cols values of `type`: rows are padded to 64.
  static size_t bytes_for(GgmlType type, int64_t n_tokens, int64_t n_cols) {
    return (row_size(type, n_cols) + 63) / 64 * 64 * static_cast<size_t>(n_tokens);
  }

  GgmlType type() const { return type_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t n_cols() const { return n_cols_; }
  size_t row_bytes() const { return row_bytes_; }
  const void* row(int64_t t) const { return buf_.data() + static_cast<size_t>(t) * row_bytes_; }

 private:
  AlignedBuffer buf_;
  GgmlType type_ = GgmlType::F32;
  int64_t n_tokens_ = 0;
  int64_t n_cols_ = 0;
  size_t row_bytes_ = 0;
};

// Where results go: y[t * stride + r]; stride >= the number of rows computed.
struct MatmulOutput {
  float* y = nullptr;
  int64_t stride = 0;
};

// y = W x for all rows and tokens; y has n_tokens rows of w.ne[1] floats.
// W: ne[0] = n_cols = x.n_cols(), ne[1] = n_rows, ne[2] = ne[3] = 1 (take a slice2() of a
// stacked expert tensor). x.type() must be type_traits(w.type).vec_dot_type.
void matmul(const TensorView& w, const QuantizedActivations& x, float* y, ThreadPool& pool);

// Convenience: quantises x (n_tokens rows of w.ne[0] floats) into a thread_local scratch first.
void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool);

// Rows [r0, r1) of W for a subset of the tokens: output row i is token token_ids[i] (or token i
// when token_ids is null), written to out.y[i * out.stride + (r - r0)], i < n_ids. Lets a MoE
// layer quantise all tokens once and run each expert on just the tokens routed to it.
void matmul_rows(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                 const int32_t* token_ids, int64_t n_ids, MatmulOutput out, ThreadPool& pool);

// The single-threaded core: the same as matmul_rows for the given rows and ids, on the calling
// thread. For callers that split work themselves inside one pool job (e.g. several small
// experts per thread). Does not validate arguments. `from_memory`: the caller knows these
// weights are not in the caches whatever their size (a large MoE's experts: a token's set of
// them is far larger than the caches), so a decode step streams them one row at a time, the
// way a large matrix is read; by default a matrix up to 1 MiB is taken to be cache-resident.
void matmul_tile(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                 const int32_t* token_ids, int64_t i0, int64_t i1, MatmulOutput out, bool from_memory = false);

// Rows of a weight of type t come in units of this many (8 for interleaved types, else 1):
// split row ranges across threads on multiples of it (split_rows_aligned) so no unit is cut.
int64_t row_alignment(GgmlType t);
// Thread ith's share [a, b) of n_rows rows in units of `align` (the last may be partial).
std::pair<int64_t, int64_t> split_rows_aligned(int64_t n_rows, int64_t align, int ith, int nth);

}  // namespace swapmoe
