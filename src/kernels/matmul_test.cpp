// matmul against a naive float64 loop over dequantised weights and activations, across types,
// odd shapes, token counts and thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/vec_dot.h"

namespace swapmoe {
namespace {

struct Case {
  GgmlType type;
  int64_t n_cols;
};

const Case kCases[] = {
    {GgmlType::F32, 72},   {GgmlType::F16, 136},  {GgmlType::BF16, 64},  {GgmlType::Q8_0, 96},
    {GgmlType::Q4_0, 160}, {GgmlType::Q4_K, 512}, {GgmlType::Q5_K, 256}, {GgmlType::Q6_K, 768},
    {GgmlType::Q4_1, 96},  {GgmlType::Q5_0, 160}, {GgmlType::Q5_1, 64},  {GgmlType::IQ4_NL, 96},
    {GgmlType::MXFP4, 224}, {GgmlType::Q2_K, 512}, {GgmlType::Q3_K, 256}, {GgmlType::IQ4_XS, 768},
};

struct Weights {
  std::vector<uint8_t> data;
  TensorView view;
  std::vector<float> deq;  // (n_rows, n_cols)
};

Weights make_weights(GgmlType t, int64_t n_cols, int64_t n_rows, uint64_t seed) {
  Weights w;
  const auto x = test::weight_like(n_cols * n_rows, seed);
  const size_t rb = row_size(t, n_cols);
  w.data.resize(rb * n_rows);
  for (int64_t r = 0; r < n_rows; ++r) type_traits(t).from_float(x.data() + r * n_cols, w.data.data() + r * rb, n_cols);
  const int64_t ne[2] = {n_cols, n_rows};
  w.view = TensorView::contiguous(t, ne, 2, w.data.data());
  w.deq.resize(n_cols * n_rows);
  for (int64_t r = 0; r < n_rows; ++r) type_traits(t).to_float(w.data.data() + r * rb, w.deq.data() + r * n_cols, n_cols);
  return w;
}

std::vector<float> activations(int64_t n_tokens, int64_t n_cols, uint64_t seed) {
  test::XorShift rng(seed);
  std::vector<float> x(n_tokens * n_cols);
  for (auto& v : x) v = rng.symmetric();
  return x;
}

// The activations exactly as matmul sees them: quantised, then dequantised.
std::vector<float> as_seen(const QuantizedActivations& qa) {
  std::vector<float> x(qa.n_tokens() * qa.n_cols());
  for (int64_t t = 0; t < qa.n_tokens(); ++t) type_traits(qa.type()).to_float(qa.row(t), x.data() + t * qa.n_cols(), qa.n_cols());
  return x;
}

void expect_matches(const Weights& w, const QuantizedActivations& qa, const float* y, int64_t n_tokens,
                    const int32_t* ids, int64_t r0, int64_t r1, int64_t stride, const char* what) {
  const int64_t n = w.view.ne[0];
  const std::vector<float> xs = as_seen(qa);
  for (int64_t i = 0; i < n_tokens; ++i) {
    const int64_t t = ids ? ids[i] : i;
    for (int64_t r = r0; r < r1; ++r) {
      double ref = test::q8_1_sum_rounding(w.view.type, w.view.row(r), qa.row(t), n), mag = 0;
      for (int64_t c = 0; c < n; ++c) {
        ref += double(w.deq[r * n + c]) * xs[t * n + c];
        mag += std::fabs(double(w.deq[r * n + c]) * xs[t * n + c]);
      }
      ASSERT_NEAR(y[i * stride + (r - r0)], ref, 2e-6 * mag + 1e-30)
          << what << " " << type_name(w.view.type) << " token " << i << " row " << r;
    }
  }
}

TEST(Matmul, MatchesNaiveLoop) {
  for (int nth : {1, 2, 3}) {
    ThreadPool pool(nth);
    for (const Case& c : kCases) {
      for (int64_t n_rows : {1, 5, 37, 67}) {
        const Weights w = make_weights(c.type, c.n_cols, n_rows, 7 + n_rows);
        for (int64_t n_tokens : {1, 3, 17}) {
          const auto x = activations(n_tokens, c.n_cols, 99 + n_tokens);
          QuantizedActivations qa;
          qa.quantize(type_traits(c.type).vec_dot_type, x.data(), n_tokens, c.n_cols, &pool);
          std::vector<float> y(n_tokens * n_rows, NAN);
          matmul(w.view, qa, y.data(), pool);
          expect_matches(w, qa, y.data(), n_tokens, nullptr, 0, n_rows, n_rows, "matmul");

          // The float convenience overload computes the same thing.
          std::vector<float> y2(n_tokens * n_rows, NAN);
          matmul(w.view, x.data(), n_tokens, y2.data(), pool);
          for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], y2[i]);
        }
      }
    }
  }
}

// Big enough that rows and tokens are both tiled and the work is split across threads.
TEST(Matmul, LargeTiledShapes) {
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_K}) {
    const int64_t n_cols = 512, n_rows = 131, n_tokens = 37;
    const Weights w = make_weights(t, n_cols, n_rows, 3);
    const auto x = activations(n_tokens, n_cols, 4);
    QuantizedActivations qa;
    qa.quantize(type_traits(t).vec_dot_type, x.data(), n_tokens, n_cols, &pool);
    std::vector<float> y(n_tokens * n_rows, NAN);
    matmul(w.view, qa, y.data(), pool);
    expect_matches(w, qa, y.data(), n_tokens, nullptr, 0, n_rows, n_rows, "large");
  }
}

// Above 1 MiB, a few tokens stream the matrix once, one row at a time (a batched decode step).
TEST(Matmul, FewTokensOnAMatrixFromDram) {
  ThreadPool pool(2);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K}) {
    const int64_t n_cols = 1024, n_rows = 2000;  // > 1 MiB in either type
    const Weights w = make_weights(t, n_cols, n_rows, 5);
    ASSERT_GT(w.view.nb[1] * static_cast<size_t>(n_rows), size_t{1} << 20);
    for (int64_t n_tokens : {2, 4, 8, 9}) {
      const auto x = activations(n_tokens, n_cols, 6 + n_tokens);
      QuantizedActivations qa;
      qa.quantize(type_traits(t).vec_dot_type, x.data(), n_tokens, n_cols, &pool);
      std::vector<float> y(n_tokens * n_rows, NAN);
      matmul(w.view, qa, y.data(), pool);
      expect_matches(w, qa, y.data(), n_tokens, nullptr, 0, n_rows, n_rows, "few tokens");
    }
  }
}

// A small matrix the caller says comes from memory (a large MoE's expert) is read as a large one:
// one row stream, each row through the one-token kernel (or its 4-token twin, the same bits),
// never the 4-row kernels.
TEST(Matmul, SmallMatrixFromMemoryStreamsRowByRow) {
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K}) {
    const int64_t n_cols = 256, n_rows = 36;  // a few KiB: cache-resident by its size
    const Weights w = make_weights(t, n_cols, n_rows, 9);
    const VecDotKernels& k = vec_dot_kernels(t);
    for (int64_t n_tokens : {1, 2, 3}) {  // up to kStreamMaxTokens
      const auto x = activations(n_tokens, n_cols, 30 + n_tokens);
      QuantizedActivations qa;
      qa.quantize(type_traits(t).vec_dot_type, x.data(), n_tokens, n_cols, nullptr);
      std::vector<float> y(n_tokens * n_rows, NAN);
      matmul_tile(w.view, 0, n_rows, qa, nullptr, 0, n_tokens, {y.data(), n_rows}, /*from_memory=*/true);
      for (int64_t i = 0; i < n_tokens; ++i)
        for (int64_t r = 0; r < n_rows; ++r) {
          float one = 0;
          k.fast(n_cols, &one, w.view.row(r), qa.row(i));
          ASSERT_EQ(y[i * n_rows + r], one) << type_name(t) << " " << n_tokens << " tokens, token " << i << " row " << r;
        }
      expect_matches(w, qa, y.data(), n_tokens, nullptr, 0, n_rows, n_rows, "from memory");
    }
  }
}

// Where a weight type has a 4-token kernel, a token's outputs are the same bits whatever tokens
// share its batch: alone (decode), in a group of 4, or as the repeated third of three.
TEST(Matmul, ATokensResultDoesNotDependOnItsBatch) {
  ThreadPool pool(2);
  int n_tested = 0;
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    if (!vec_dot_kernels(t).t4 || vec_dot_kernels(t).x4) continue;
    ++n_tested;
    for (int64_t n_rows : {int64_t{24}, int64_t{1100}}) {  // tiled, and streamed from "DRAM"
      const int64_t n_cols = 512;
      const Weights w = make_weights(t, n_cols, n_rows, 8);
      for (int64_t n_tokens : {2, 3, 5, 7, 8, 13}) {
        const auto x = activations(n_tokens, n_cols, 20 + n_tokens);
        QuantizedActivations qa;
        qa.quantize(type_traits(t).vec_dot_type, x.data(), n_tokens, n_cols, &pool);
        std::vector<float> batch(n_tokens * n_rows, NAN), alone(n_rows, NAN);
        matmul(w.view, qa, batch.data(), pool);
        for (int64_t i = 0; i < n_tokens; ++i) {
          const int32_t id = static_cast<int32_t>(i);
          matmul_rows(w.view, 0, n_rows, qa, &id, 1, {alone.data(), n_rows}, pool);
          for (int64_t r = 0; r < n_rows; ++r) {
            ASSERT_EQ(batch[i * n_rows + r], alone[r]) << type_name(t) << " " << n_tokens << " tokens, token " << i << " row " << r;
          }
        }
      }
    }
  }
  if (n_tested == 0) GTEST_SKIP() << "no 4-token kernel at this CPU level";
}

TEST(Matmul, RowRangeTokenIdsAndStride) {
  ThreadPool pool(2);
  const int64_t n_cols = 256, n_rows = 40, n_tokens = 9;
  const Weights w = make_weights(GgmlType::Q6_K, n_cols, n_rows, 5);
  const auto x = activations(n_tokens, n_cols, 6);
  QuantizedActivations qa;
  qa.quantize(GgmlType::Q8_K, x.data(), n_tokens, n_cols);
  const int32_t ids[] = {8, 0, 3, 3, 5};
  const int64_t r0 = 7, r1 = 33, stride = 30;
  std::vector<float> y(5 * stride, -1.0f);
  matmul_rows(w.view, r0, r1, qa, ids, 5, MatmulOutput{y.data(), stride}, pool);
  expect_matches(w, qa, y.data(), 5, ids, r0, r1, stride, "rows");
  for (int i = 0; i < 5; ++i) {
    for (int64_t c = r1 - r0; c < stride; ++c) EXPECT_EQ(y[i * stride + c], -1.0f) << "wrote past the row range";
  }
}

TEST(Matmul, QuantisedActivationsCloseToFloat) {
  // End to end against float activations: error is the activation quantisation only.
  ThreadPool pool(1);
  const int64_t n_cols = 1024, n_rows = 8;
  const Weights w = make_weights(GgmlType::Q4_0, n_cols, n_rows, 1);
  const auto x = activations(1, n_cols, 2);
  std::vector<float> y(n_rows);
  matmul(w.view, x.data(), 1, y.data(), pool);
  for (int64_t r = 0; r < n_rows; ++r) {
    double ref = 0, mag = 0;
    for (int64_t c = 0; c < n_cols; ++c) {
      ref += double(w.deq[r * n_cols + c]) * x[c];
      mag += std::fabs(double(w.deq[r * n_cols + c]) * x[c]);
    }
    EXPECT_NEAR(y[r], ref, 1e-2 * mag);
  }
}

TEST(Matmul, RejectsMismatches) {
  ThreadPool pool(1);
  const Weights w = make_weights(GgmlType::Q4_0, 64, 4, 1);
  const auto x = activations(1, 64, 2);
  QuantizedActivations qa;
  qa.quantize(GgmlType::F32, x.data(), 1, 64);
  std::vector<float> y(4);
  EXPECT_THROW(matmul(w.view, qa, y.data(), pool), Error);  // wrong activation type
  qa.quantize(GgmlType::Q8_0, x.data(), 1, 32);
  EXPECT_THROW(matmul(w.view, qa, y.data(), pool), Error);  // wrong width
  EXPECT_THROW(qa.quantize(GgmlType::Q8_0, x.data(), 1, 48), Error);  // not a block multiple
  TensorView q2k = w.view;
  q2k.type = GgmlType::Q2_K;
  EXPECT_THROW(matmul(q2k, x.data(), 1, y.data(), pool), Error);  // unsupported type
}

}  // namespace
}  // namespace swapmoe
