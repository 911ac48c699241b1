// attend_cached: a prompt's tokens that share an attention job (a block: their key and value rows
// widened once for all) get, query by query, the bits each gets alone, for every group size,
// head size, thread count and both f16 arithmetics (-fa on and off).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "model/attention_core.h"
#include "model/forward_scratch.h"
#include "model/kv_cache.h"
#include "model/model_config.h"
#include "tensor/fp16.h"
#include "tensor/test_data.h"

namespace swapmoe {
namespace {

ModelConfig attention_config(int64_t n_head, int64_t n_head_kv, int64_t head_dim) {
  ModelConfig c;
  c.arch = "llama";
  c.n_vocab = 16, c.n_embd = n_head * head_dim, c.n_layer = 1;
  c.n_head = n_head, c.n_head_kv = n_head_kv, c.head_dim = head_dim, c.n_rot = head_dim;
  c.n_ff = 64;
  c.layers.resize(1);
  c.layers[0].n_ff = 64;
  return c;
}

// out for n tokens at positions p0.. of one cache, in one call (blocks of tokens) or one call a token.
std::vector<float> attend(const ModelConfig& c, KvCache& kv, const std::vector<float>& q, int64_t n, int64_t p0,
                          bool one_by_one, bool flash_attn, int threads) {
  ThreadPool pool(threads);
  RunShape run;
  run.n_ctx = kv.n_ctx(), run.n_ubatch = 16, run.n_threads = threads;
  run.type_k = kv.type_k(), run.type_v = kv.type_v();
  ForwardScratch s(scratch_sizes(c, run));
  std::vector<float> out(static_cast<size_t>(n * c.q_dim()), -1.0f);
  std::vector<KvCache*> kvs(static_cast<size_t>(n), &kv);
  std::vector<int64_t> pos(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) pos[t] = p0 + t;
  CachedAttention a;
  a.q_stride = a.out_stride = c.q_dim();
  a.n_head = c.n_head, a.group = c.n_head / c.n_head_kv, a.hd_k = a.hd_v = c.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const LayerWeights w{};
  for (int64_t t0 = 0; t0 < n; t0 += one_by_one ? 1 : n) {
    const int64_t nt = one_by_one ? 1 : n;
    const LayerContext l{c, c.layers[0], w, 0, s, pool, TokenPlaces{&kvs[t0], &pos[t0]}, flash_attn};
    a.q = &q[t0 * c.q_dim()], a.out = &out[t0 * c.q_dim()];
    attend_cached(l, nt, a);
  }
  return out;
}

TEST(Attention, PromptTokensSharingAJobGetTheBitsEachGetsAlone) {
  const struct {
    int64_t n_head, n_head_kv, head_dim;
  } shapes[] = {{4, 4, 64}, {4, 2, 40}, {6, 2, 32}, {16, 2, 32}};  // groups 1, 2, 3 (runs of 3), 8
  for (const auto& shape : shapes) {
    const ModelConfig c = attention_config(shape.n_head, shape.n_head_kv, shape.head_dim);
    RunShape run;
    run.n_ctx = 48;
    run.type_k = run.type_v = GgmlType::F16;
    KvCache kv(c, run);
    const int64_t p0 = 5, n = 13;  // 5 positions already cached, then a prompt of 13
    const std::vector<float> keys = test::weight_like((p0 + n) * c.kv_dim(), 31), values = test::weight_like((p0 + n) * c.kv_dim(), 32);
    for (int64_t p = 0; p < p0 + n; ++p) kv.store(0, p, &keys[p * c.kv_dim()], &values[p * c.kv_dim()]);
    std::vector<float> q = test::weight_like(n * c.q_dim(), 33);
    for (float& v : q) v *= 8.0f;  // scores of a few units, a softmax that is not flat
    for (bool flash_attn : {true, false})
      for (int threads : {1, 3}) {
        const auto alone = attend(c, kv, q, n, p0, true, flash_attn, threads);
        const auto together = attend(c, kv, q, n, p0, false, flash_attn, threads);
        for (size_t i = 0; i < alone.size(); ++i) {
          ASSERT_EQ(fp32_bits(alone[i]), fp32_bits(together[i])) << "heads " << shape.n_head << "/" << shape.n_head_kv << " hd " << shape.head_dim << " fa "
                          << flash_attn << " threads " << threads << " token " << i / c.q_dim() << " value " << i % c.q_dim();
        }
        EXPECT_NE(alone[0], -1.0f);  // written
      }
  }
}

}  // namespace
}  // namespace swapmoe
