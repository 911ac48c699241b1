// Kernel micro-benchmarks: single dot products per ISA flavour, decode matrix-vector products and
// prefill matrix products per weight type, at model-like shapes, with 1 and 2 threads.
//
//   kernels_bench --benchmark_filter='matvec/q4_0'      GB/s = weight bytes streamed per second
//   kernels_bench --benchmark_filter='vec_dot_t4'       GFLOP/s of the 4-token GEMM micro-kernels
//   kernels_bench --benchmark_filter='matmul'           GFLOP/s = 2 * rows * cols * tokens / s
//   kernels_bench --benchmark_filter='attention'        attention over an f16 cache, head size 128
//   kernels_bench --benchmark_filter='x8'               Q4_0, Q4_K, Q6_K interleaved 8 rows at a time (as loaded)
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/vec_dot.h"
#include "tensor/fp16.h"
#include "tensor/interleave.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,    GgmlType::BF16,  GgmlType::Q8_0, GgmlType::Q4_0,
                           GgmlType::Q4_K, GgmlType::Q5_K,   GgmlType::Q6_K,  GgmlType::Q4_1, GgmlType::Q5_0,
                           GgmlType::Q5_1, GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::Q2_K, GgmlType::Q3_K,
                           GgmlType::IQ4_XS};

// A quantised weight matrix (n_rows x n_cols), built once per shape and type.
struct Matrix {
  AlignedBuffer data;
  TensorView view;
};

// Interleaved types are built in their file type, then rearranged as the loader does.
const Matrix& matrix(GgmlType t, int64_t n_cols, int64_t n_rows) {
  static std::map<std::tuple<int, int64_t, int64_t>, std::unique_ptr<Matrix>> cache;
  auto& slot = cache[{static_cast<int>(t), n_cols, n_rows}];
  if (!slot) {
    slot = std::make_unique<Matrix>();
    const GgmlType stored = plain_type(t);
    const size_t rb = row_size(stored, n_cols);
    slot->data.resize(rb * n_rows);
    const auto row = test::weight_like(n_cols, 1);
    // Rows differ only by scale: quantising every row separately would take longer than the bench.
    std::vector<float> scaled(n_cols);
    for (int64_t r = 0; r < n_rows; ++r) {
      const float s = 0.5f + static_cast<float>(r % 7) * 0.25f;
      for (int64_t c = 0; c < n_cols; ++c) scaled[c] = row[(c + r) % n_cols] * s;
      type_traits(stored).from_float(scaled.data(), slot->data.data() + r * rb, n_cols);
    }
    if (stored != t) interleave_rows(stored, slot->data.data(), slot->data.data(), n_cols, n_rows);
    const int64_t ne[2] = {n_cols, n_rows};
    slot->view = TensorView::contiguous(t, ne, 2, slot->data.data());
  }
  return *slot;
}

ThreadPool& pool(int n) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[n];
  if (!p) p = std::make_unique<ThreadPool>(n);
  return *p;
}

std::vector<float> activations(int64_t n) {
  test::XorShift rng(3);
  std::vector<float> x(n);
  for (auto& v : x) v = rng.symmetric();
  return x;
}

// ---- one dot product of 4096 values, every compiled-in ISA
void bm_vec_dot(benchmark::State& state, GgmlType w, VecDotFn fn) {
  const int64_t n = 4096;
  const Matrix& m = matrix(w, n, 1);
  const GgmlType a = type_traits(w).vec_dot_type;
  const auto x = activations(n);
  std::vector<uint8_t> qa(row_size(a, n));
  type_traits(a).from_float(x.data(), qa.data(), n);
  float s = 0;
  for (auto _ : state) {
    fn(n, &s, m.view.data, qa.data());
    benchmark::DoNotOptimize(s);
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(row_size(w, n)) * state.iterations(),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- four rows at once (the 4-row kernels of the VNNI flavours), GB/s over the 4 rows
void bm_vec_dot_x4(benchmark::State& state, GgmlType w, VecDotX4Fn fn) {
  const int64_t n = 4096;
  const Matrix& m = matrix(w, n, 4);
  const GgmlType a = type_traits(w).vec_dot_type;
  const auto x = activations(n);
  std::vector<uint8_t> qa(row_size(a, n));
  type_traits(a).from_float(x.data(), qa.data(), n);
  float s[4] = {};
  for (auto _ : state) {
    fn(n, s, m.view.data, m.view.nb[1], qa.data());
    benchmark::DoNotOptimize(s);
  }
  state.counters["GB/s"] = benchmark::Counter(4.0 * static_cast<double>(row_size(w, n)) * state.iterations(),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// Four different activation rows of n values in w's vec_dot_type.
struct FourTokens {
  FourTokens(GgmlType w, int64_t n) {
    const GgmlType a = type_traits(w).vec_dot_type;
    for (int t = 0; t < 4; ++t) {
      data[t].resize(row_size(a, n));
      const auto x = activations(n + t);
      type_traits(a).from_float(x.data(), data[t].data(), n);
      rows[t] = data[t].data();
    }
  }
  std::vector<uint8_t> data[4];
  const void* rows[4];
};

// ---- one row against four tokens (the GEMM micro-kernels), GFLOP/s over the 4 dot products
void bm_vec_dot_t4(benchmark::State& state, GgmlType w, VecDotT4Fn fn) {
  const int64_t n = 4096;
  const Matrix& m = matrix(w, n, 1);
  const FourTokens tokens(w, n);
  const void* const* acts = tokens.rows;
  float s[4] = {};
  for (auto _ : state) {
    fn(n, s, m.view.data, acts);
    benchmark::DoNotOptimize(s);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 4 * n * state.iterations(), benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
}

// ---- four rows against four tokens (the Q8_0/Q4_0 register tiles), GFLOP/s over the 16 dots
void bm_vec_dot_x4t4(benchmark::State& state, GgmlType w, VecDotX4T4Fn fn) {
  const int64_t n = 4096;
  const Matrix& m = matrix(w, n, 4);
  const FourTokens tokens(w, n);
  const void* const* acts = tokens.rows;
  float s[16] = {};
  for (auto _ : state) {
    fn(n, s, m.view.data, m.view.nb[1], acts);
    benchmark::DoNotOptimize(s);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 16 * n * state.iterations(), benchmark::Counter::kIsRate,
                                                 benchmark::Counter::kIs1000);
}

// ---- attention's scores: 4 f16 key rows (of a cache row of 4 KV heads) against 1 or 4 queries
void bm_attention_keys(benchmark::State& state, AttentionKeyKernels k, int n_queries) {
  const int64_t hd = 128, row = 4 * hd;
  std::vector<uint16_t> keys(4 * row);
  fp32_to_fp16_row(activations(4 * row).data(), keys.data(), 4 * row);
  const auto q = activations(4 * hd);
  const float* qs[4] = {q.data(), q.data() + hd, q.data() + 2 * hd, q.data() + 3 * hd};
  float s[16] = {};
  for (auto _ : state) {
    if (n_queries == 4) k.x4t4(hd, s, keys.data(), row * sizeof(uint16_t), reinterpret_cast<const void* const*>(qs));
    else k.x4(hd, s, keys.data(), row * sizeof(uint16_t), q.data());
    benchmark::DoNotOptimize(s);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 4 * n_queries * hd * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- attention's value sums: `rows` heads over 1024 f16 value rows of 128 (the active level)
void bm_attention_values(benchmark::State& state) {
  const int64_t hd = 128, n_keys = 1024, row = 4 * hd, rows = state.range(0);
  std::vector<uint16_t> v(n_keys * row);
  fp32_to_fp16_row(activations(n_keys * row).data(), v.data(), n_keys * row);
  const auto w = activations(rows * n_keys);
  std::vector<float> out(rows * hd, 0.0f);
  for (auto _ : state) {
    fp16_weighted_sum(v.data(), row, n_keys, hd, w.data(), n_keys, out.data(), hd, rows);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * rows * n_keys * hd * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- one group of 8 interleaved rows against 1 token (gemv, GB/s) or 4 (gemm4, GFLOP/s)
void bm_x8(benchmark::State& state, GgmlType w, InterleavedKernels k, bool four) {
  const int64_t n = 4096, nb = n / type_traits(w).block_size;
  const GgmlType act = type_traits(w).vec_dot_type;
  const Matrix& m = matrix(w, n, kInterleaveRows);
  const auto x = activations(n);
  std::vector<uint8_t> q(row_size(act, n));
  type_traits(act).from_float(x.data(), q.data(), n);
  std::vector<float> d(nb);
  std::vector<int32_t> offset(nb);
  prepare_x8_activation(w, q.data(), n, d.data(), offset.data());
  const X8Activation y{q.data(), d.data(), offset.data()}, ys[4] = {y, y, y, y};
  float s[4 * kInterleaveRows];
  for (auto _ : state) {
    if (four) k.gemm4(n, s, m.view.data, ys);
    else k.gemv(n, s, m.view.data, y);
    benchmark::DoNotOptimize(s);
  }
  const double values = static_cast<double>(n) * kInterleaveRows * (four ? 4 : 1) * state.iterations();
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * values, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- decode: y = W x for one token, activations quantised inside (as in the model)
void bm_matvec(benchmark::State& state, GgmlType t) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1);
  const int n_threads = static_cast<int>(state.range(2));
  const Matrix& m = matrix(t, n_cols, n_rows);
  const auto x = activations(n_cols);
  std::vector<float> y(n_rows);
  ThreadPool& p = pool(n_threads);
  for (auto _ : state) {
    matmul(m.view, x.data(), 1, y.data(), p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(row_size(t, n_cols) * n_rows) * state.iterations(),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// ---- prefill: n_tokens at once
void bm_matmul(benchmark::State& state, GgmlType t) {
  const int64_t n_cols = state.range(0), n_rows = state.range(1), n_tokens = state.range(2);
  const int n_threads = static_cast<int>(state.range(3));
  const Matrix& m = matrix(t, n_cols, n_rows);
  const auto x = activations(n_cols * n_tokens);
  std::vector<float> y(n_rows * n_tokens);
  ThreadPool& p = pool(n_threads);
  for (auto _ : state) {
    matmul(m.view, x.data(), n_tokens, y.data(), p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n_cols * n_rows * n_tokens * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// vec_dot/* time every flavour this CPU runs; matvec/* and matmul/* the ones the active level
// picks (SWAPMOE_CPU=avx2 kernels_bench ... to compare levels).
const bool kRegistered = [] {
  benchmark::AddCustomContext("swapmoe_cpu", cpu_description());
  for (GgmlType t : kTypes) {
    NamedVecDot v[8];
    const int nv = vec_dot_variants(t, v, 8);
    for (int i = 0; i < nv; ++i) {
      const std::string name = std::string(type_name(t)) + "/" + v[i].isa;
      benchmark::RegisterBenchmark(("vec_dot/" + name).c_str(), bm_vec_dot, t, v[i].fn);
      if (v[i].x4) benchmark::RegisterBenchmark(("vec_dot_x4/" + name).c_str(), bm_vec_dot_x4, t, v[i].x4);
      if (v[i].t4) benchmark::RegisterBenchmark(("vec_dot_t4/" + name).c_str(), bm_vec_dot_t4, t, v[i].t4);
      if (v[i].x4t4) benchmark::RegisterBenchmark(("vec_dot_x4t4/" + name).c_str(), bm_vec_dot_x4t4, t, v[i].x4t4);
    }
  }
  const GgmlType kX8Types[] = {GgmlType::Q4_0_X8, GgmlType::Q8_0_X8, GgmlType::Q4_K_X8, GgmlType::Q6_K_X8};
  for (GgmlType w : kX8Types) {
    InterleavedKernels x8[8];
    const int n8 = interleaved_kernel_variants(w, x8, 8);
    for (int i = 0; i < n8; ++i) {
      const std::string name = std::string(type_name(w)) + "/" + x8[i].isa;
      benchmark::RegisterBenchmark(("x8_gemv/" + name).c_str(), bm_x8, w, x8[i], false);
      benchmark::RegisterBenchmark(("x8_gemm4/" + name).c_str(), bm_x8, w, x8[i], true);
    }
  }
  AttentionKeyKernels keys[8];
  const int nk = f16_key_kernel_variants(keys, 8);
  for (int i = 0; i < nk; ++i) {
    benchmark::RegisterBenchmark((std::string("attention_keys/x4/") + keys[i].isa).c_str(), bm_attention_keys, keys[i], 1);
    benchmark::RegisterBenchmark((std::string("attention_keys/x4t4/") + keys[i].isa).c_str(), bm_attention_keys, keys[i], 4);
  }
  benchmark::RegisterBenchmark("attention_values", bm_attention_values)->ArgName("heads")->Arg(1)->Arg(4)->Arg(8);
  std::vector<GgmlType> with_x8(std::begin(kTypes), std::end(kTypes));
  with_x8.insert(with_x8.end(), std::begin(kX8Types), std::end(kX8Types));
  for (GgmlType t : with_x8) {
    auto* b = benchmark::RegisterBenchmark((std::string("matvec/") + type_name(t)).c_str(), bm_matvec, t);
    b->ArgNames({"cols", "rows", "threads"})->UseRealTime();
    for (int th : {1, 2}) {
      b->Args({2048, 1024, th});
      b->Args({1024, 2048, th});
      const GgmlType p = plain_type(t);  // beyond the caches
      if (p == GgmlType::Q4_0 || p == GgmlType::Q8_0 || p == GgmlType::Q4_K || p == GgmlType::Q6_K) b->Args({4096, 8192, th});
    }
  }
  for (GgmlType t : with_x8) {
    auto* b = benchmark::RegisterBenchmark((std::string("matmul/") + type_name(t)).c_str(), bm_matmul, t);
    b->ArgNames({"cols", "rows", "tokens", "threads"})->UseRealTime();
    for (int tok : {32, 128}) {
      for (int th : {1, 2}) b->Args({2048, 1024, tok, th});
    }
  }
  return true;
}();

}  // namespace
}  // namespace swapmoe

BENCHMARK_MAIN();
