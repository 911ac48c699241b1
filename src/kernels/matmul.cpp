// Matrix products: argument checks, work split across threads, and cache tiling around the
// per-type vec_dot kernels.
#include "kernels/matmul.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "kernels/matmul_x8.h"
#include "kernels/quantize_act.h"
#include "kernels/vec_dot.h"
#include "tensor/interleave.h"

namespace swapmoe {

namespace {

// Tile sizes for prefill. A tile of kRowTile weight rows (~18 KiB for 2048-column Q4_0) is
// reused for kTokTile tokens whose activations (~17 KiB as Q8_0) stay in L1/L2 meanwhile.
constexpr int64_t kRowTile = 16;
constexpr int64_t kTokTile = 8;
// Matrices up to this size may stay cache-resident between decode steps (see matmul_tile).
constexpr size_t kX4DecodeMaxBytes = size_t{1} << 20;
// Up to this many tokens, a matrix above that size is streamed once for all of them. From 4
// tokens on, the 4x4 register tiles win despite reading 4 row streams (512-bit tiles: Qwen3-shaped
// Q4_0 pp128 +5%, 4 OLMoE-shaped Q8_0 sequences decoding together +12%, against a limit of 8).
constexpr int64_t kStreamMaxTokens = 3;

// Rows per thread below which splitting tokens (not rows) across threads is better.
constexpr int64_t kMinRowsPerThread = 16;
// Chunks of rows per thread in a parallel product (see run_job).
constexpr int64_t kChunksPerThread = 4;

struct Job {
  const TensorView* w;
  int64_t r0, r1;
  const QuantizedActivations* x;
  const int32_t* ids;
  int64_t n_ids;
  MatmulOutput out;
};

void check(const TensorView& w, const QuantizedActivations& x, int64_t r0, int64_t r1) {
  const TypeTraits& tr = type_traits(w.type);
  if (!can_compute(w.type)) {
    fail("matmul", std::string("no dot product for weight type ") + type_name(w.type),
         "supported: " + supported_weight_types());
  }
  if (w.ne[2] != 1 || w.ne[3] != 1) {
    fail("matmul", "weight has more than 2 dimensions", "pass one matrix, e.g. w.slice2(expert)");
  }
  if (x.type() != tr.vec_dot_type) {
    fail("matmul", std::string("activations are ") + type_name(x.type()) + ", weight " + type_name(w.type) +
                       " needs " + type_name(tr.vec_dot_type),
         "quantize() the activations with type_traits(w.type).vec_dot_type");
  }
  if (x.n_cols() != w.ne[0]) {
    fail("matmul", "activation width " + std::to_string(x.n_cols()) + " != weight ne[0] " + std::to_string(w.ne[0]),
         "check the weight's orientation: ne[0] is the input dimension");
  }
  if (r0 < 0 || r1 > w.ne[1] || r0 > r1) {
    fail("matmul", "row range [" + std::to_string(r0) + ", " + std::to_string(r1) + ") outside the weight");
  }
}

void run_job(const Job& job, ThreadPool& pool) {
  const int64_t n_rows = job.r1 - job.r0;
  if (n_rows == 0 || job.n_ids == 0) return;
  const int nth = pool.size();
  // Small products are not worth waking threads for.
  const bool tiny = n_rows * job.n_ids * job.x->n_cols() < 16 * 1024;
  if (nth == 1 || tiny) {
    matmul_tile(*job.w, job.r0, job.r1, *job.x, job.ids, 0, job.n_ids, job.out);
    return;
  }
  const bool split_rows = n_rows >= kMinRowsPerThread * nth || job.n_ids < nth;
  const Job* j = &job;
  if (split_rows) {
    // Rows in kChunksPerThread chunks per thread, taken as threads finish the last (a thread
    // that starts late leaves its chunks to the others); interleaved weights split on whole
    // groups of rows.
    const int64_t align = row_alignment(job.w->type);
    const int64_t n_chunks = std::min<int64_t>(kChunksPerThread * nth, (n_rows + align - 1) / align);
    pool.for_each_job(n_chunks, [j, align, n_chunks](int, int64_t c) {
      auto [a, b] = split_rows_aligned(j->r1 - j->r0, align, static_cast<int>(c), static_cast<int>(n_chunks));
      matmul_tile(*j->w, j->r0 + a, j->r0 + b, *j->x, j->ids, 0, j->n_ids, MatmulOutput{j->out.y + a, j->out.stride});
    });
    return;
  }
  // Captures one pointer so std::function stores it inline (no allocation per call).
  pool.run([j](int ith, int nth_) {
    auto [a, b] = split_range(static_cast<long>(j->n_ids), ith, nth_);
    matmul_tile(*j->w, j->r0, j->r1, *j->x, j->ids, a, b, j->out);
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// QuantizedActivations

void QuantizedActivations::quantize(GgmlType vec_dot_type, const float* x, int64_t n_tokens, int64_t n_cols,
                                    ThreadPool* pool) {
  const TypeTraits& tr = type_traits(vec_dot_type);
  if (!tr.from_float || tr.block_size <= 0) {
    fail("QuantizedActivations", std::string("cannot convert activations to ") + type_name(vec_dot_type));
  }
  if (n_cols % tr.block_size != 0) {
    fail("QuantizedActivations",
         "n_cols " + std::to_string(n_cols) + " is not a multiple of " + type_name(vec_dot_type) + "'s block size " +
             std::to_string(tr.block_size),
         "the weight's ne[0] must be a multiple of its block size too");
  }
  type_ = vec_dot_type;
  n_tokens_ = n_tokens;
  n_cols_ = n_cols;
  // Rows padded to 64 bytes so each token's row starts on its own cache line.
  row_bytes_ = bytes_for(vec_dot_type, 1, n_cols);
  const size_t need = row_bytes_ * static_cast<size_t>(n_tokens);
  if (need > buf_.size()) buf_.resize(need);

  auto rows = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      quantize_act_row(vec_dot_type, x + t * n_cols, buf_.data() + static_cast<size_t>(t) * row_bytes_, n_cols);
    }
  };
  if (pool && pool->size() > 1 && n_tokens > 1) {
    auto* self = &rows;
    pool->run([self, n_tokens](int ith, int nth) {
      auto [a, b] = split_range(static_cast<long>(n_tokens), ith, nth);
      (*self)(a, b);
    });
  } else {
    rows(0, n_tokens);
  }
}

// ---------------------------------------------------------------------------------------------
// matmul

int64_t row_alignment(GgmlType t) { return is_interleaved(t) ? kInterleaveRows : 1; }

std::pair<int64_t, int64_t> split_rows_aligned(int64_t n_rows, int64_t align, int ith, int nth) {
  auto [a, b] = split_range(static_cast<long>((n_rows + align - 1) / align), ith, nth);
  return {std::min(n_rows, a * align), std::min(n_rows, b * align)};
}

void matmul_tile(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                 const int32_t* token_ids, int64_t i0, int64_t i1, MatmulOutput out, bool from_memory) {
  if (is_interleaved(w.type)) return matmul_tile_x8(w, r0, r1, x, token_ids, i0, i1, out);
  const VecDotKernels& k = vec_dot_kernels(w.type);
  const int64_t n = w.ne[0];
  auto act = [&](int64_t i) { return x.row(token_ids ? token_ids[i] : i); };
  // The 4-row kernels reuse each activation block for 4 rows, which wins while the weights sit
  // in cache (prefill tiles, small models). A decode pass over a matrix that must come from
  // DRAM streams 2.2-2.4x faster one row at a time: four interleaved row streams defeat the
  // hardware prefetcher (measured: OLMoE-shaped Q8_0 decode 7.4 -> 17.8 tok/s on one core).
  const bool decode = i1 - i0 == 1;
  const bool streamed = from_memory || w.nb[1] * static_cast<size_t>(w.ne[1]) > kX4DecodeMaxBytes;
  const bool use_x4 = k.x4 && (!decode || !streamed);
  // Rows [ra, rb) for token i; 4 at a time when a 4-row kernel is used.
  auto rows_for_token = [&](int64_t ra, int64_t rb, int64_t i) {
    const void* a = act(i);
    float* y = out.y + i * out.stride - r0;
    int64_t r = ra;
    if (use_x4) {
      for (; r + 4 <= rb; r += 4) k.x4(n, y + r, w.row(r), w.nb[1], a);
    }
    for (; r < rb; ++r) k.fast(n, y + r, w.row(r), a);
  };
  if (decode) {  // one pass over the rows
    rows_for_token(r0, r1, i0);
    return;
  }
  // Row r for tokens [ia, ib): 4 at a time with the 4-token kernel (weight blocks unpacked
  // once for 4 tokens). Three left over go through it too, the last repeated (cheaper than
  // three one-token calls); one or two go one by one.
  auto row_for_tokens = [&](int64_t r, int64_t ia, int64_t ib) {
    const void* row = w.row(r);
    int64_t i = ia;
    if (k.t4) {
      for (; i + 3 <= ib; i += 4) {
        const int64_t last = std::min(i + 3, ib - 1);
        const void* acts[4] = {act(i), act(i + 1), act(i + 2), act(last)};
        float s[4];
        k.t4(n, s, row, acts);
        for (int64_t t = 0; t < last - i + 1; ++t) out.y[(i + t) * out.stride - r0 + r] = s[t];
      }
    }
    for (; i < ib; ++i) k.fast(n, out.y + i * out.stride - r0 + r, row, act(i));
  };
  // A few tokens against a matrix that must come from DRAM (a batched decode step of several
  // sequences, an expert with a few tokens): one pass over the rows, one row stream, each row
  // used for every token while it sits in L1. The tiles below would read it as four streams.
  if (i1 - i0 <= kStreamMaxTokens && streamed) {
    for (int64_t r = r0; r < r1; ++r) row_for_tokens(r, i0, i1);
    return;
  }
  for (int64_t rt = r0; rt < r1; rt += kRowTile) {
    const int64_t rt_end = std::min(r1, rt + kRowTile);
    for (int64_t it = i0; it < i1; it += kTokTile) {
      const int64_t it_end = std::min(i1, it + kTokTile);
      if (k.x4t4 && k.x4) {
        // 4 x 4 register tiles; tokens left over take the 4-row kernel, rows left over one by one.
        int64_t r = rt;
        for (; r + 4 <= rt_end; r += 4) {
          int64_t i = it;
          for (; i + 4 <= it_end; i += 4) {
            const void* acts[4] = {act(i), act(i + 1), act(i + 2), act(i + 3)};
            float s[16];
            k.x4t4(n, s, w.row(r), w.nb[1], acts);
            for (int t = 0; t < 4; ++t)
              for (int q = 0; q < 4; ++q) out.y[(i + t) * out.stride - r0 + r + q] = s[t * 4 + q];
          }
          for (; i < it_end; ++i) k.x4(n, out.y + i * out.stride - r0 + r, w.row(r), w.nb[1], act(i));
        }
        for (; r < rt_end; ++r) row_for_tokens(r, it, it_end);
      } else if (k.t4) {
        for (int64_t r = rt; r < rt_end; ++r) row_for_tokens(r, it, it_end);
      } else {
        for (int64_t i = it; i < it_end; ++i) rows_for_token(rt, rt_end, i);
      }
    }
  }
}

void matmul_rows(const TensorView& w, int64_t r0, int64_t r1, const QuantizedActivations& x,
                 const int32_t* token_ids, int64_t n_ids, MatmulOutput out, ThreadPool& pool) {
  check(w, x, r0, r1);
  if (token_ids) {
    for (int64_t i = 0; i < n_ids; ++i) {
      if (token_ids[i] < 0 || token_ids[i] >= x.n_tokens()) {
        fail("matmul", "token id " + std::to_string(token_ids[i]) + " outside the activations");
      }
    }
  } else if (n_ids > x.n_tokens()) {
    fail("matmul", "more output rows than activation tokens");
  }
  run_job(Job{&w, r0, r1, &x, token_ids, n_ids, out}, pool);
}

void matmul(const TensorView& w, const QuantizedActivations& x, float* y, ThreadPool& pool) {
  matmul_rows(w, 0, w.ne[1], x, nullptr, x.n_tokens(), MatmulOutput{y, w.ne[1]}, pool);
}

void matmul(const TensorView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  thread_local QuantizedActivations scratch;
  scratch.quantize(type_traits(w.type).vec_dot_type, x, n_tokens, w.ne[0], &pool);
  matmul(w, scratch, y, pool);
}

}  // namespace swapmoe
