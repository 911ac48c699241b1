// FFN blocks: the dense SwiGLU FFN and the MoE layer (router, experts, shared expert).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "model/blocks.h"
#include "model/ops.h"
#include "model/router.h"

namespace swapmoe {

namespace {

bool same_set(const int32_t* a, int na, const int32_t* b, int nb) {
  if (na != nb) return false;
  for (int i = 0; i < na; ++i)
    if (std::find(b, b + nb, a[i]) == b + nb) return false;
  return true;
}

// Row `e` of a per-expert bias ({dim, n_expert}) added to m rows of dim values; nothing when absent.
void add_expert_bias(const TensorView& b, int64_t e, float* x, int64_t m, int64_t dim) {
  if (!b.data) return;
  const float* bias = static_cast<const float*>(b.data) + e * dim;
  for (int64_t t = 0; t < m; ++t)
    for (int64_t i = 0; i < dim; ++i) x[t * dim + i] += bias[i];
}

// Gate and up read the same quantised input, so the experts can share it.
bool same_vec_dot_type(const LayerWeights& w) {
  return type_traits(w.gate_exps.type).vec_dot_type == type_traits(w.up_exps.type).vec_dot_type;
}

void activate(FfnAct act, const float* gate, const float* up, float* out, int64_t n) {
  if (act == FfnAct::SWIGLU_OAI) swiglu_oai(gate, up, out, n);
  else swiglu(gate, up, out, n);
}

// out (+)= down(silu(gate x) * up x) for n rows of s.xn, through s.gate/s.up.
void swiglu_ffn(const LayerContext& l, const TensorView& gate, const TensorView& up, const TensorView& down,
                int64_t n, float* out) {
  ForwardScratch& s = l.s;
  const int64_t ff = gate.ne[1];
  const GgmlType vt = type_traits(gate.type).vec_dot_type;
  s.act.quantize(vt, s.xn.data(), n, l.c.n_embd, &l.pool);
  matmul(gate, s.act, s.gate.data(), l.pool);
  if (type_traits(up.type).vec_dot_type == vt) matmul(up, s.act, s.up.data(), l.pool);
  else linear(up, s.xn.data(), n, s.up.data(), s.act, l.pool);
  swiglu(s.gate.data(), s.up.data(), s.gate.data(), n * ff);
  linear(down, s.gate.data(), n, out, s.act, l.pool);
}


// Expert bytes a token reads (all layers) above which they cannot stay in the caches between
// tokens (the two shipped models read 1-3 MiB a token; a 30B MoE hundreds of MiB).
constexpr uint64_t kCachedExpertBytesPerToken = uint64_t{8} << 20;

// The routed experts [e0, e1) in one parallel region per phase (gate and up, then down)
// instead of several per expert: with a token or two per expert (decode, a batched decode
// step) the synchronisation per expert, not the arithmetic, was the cost, and in a prefill
// the per-expert regions left threads waiting on each other. Needs the views of all these
// experts at once and scratch rows for all their (token, choice) pairs; s.moe_act must hold
// the layer's quantised input. Fills s.choice_out like the per-expert path.
void run_experts_together(const LayerContext& l, ExpertProvider& experts, int64_t n, int k, int64_t e0, int64_t e1) {
  ForwardScratch& s = l.s;
  const int64_t ff = l.desc.n_ff, d = l.c.n_embd;
  struct Group {
    int64_t e, begin, end;  // rows [begin, end) of the gathered buffers are expert e's pairs
    ExpertWeights w;
  };
  // The caller's list, named through a reference so that the pool's threads see it too (a
  // thread_local named inside their job would be their own, empty one).
  thread_local std::vector<Group> storage;
  std::vector<Group>& groups = storage;
  groups.clear();
  int64_t m = 0;
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t begin = m;
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < s.n_masked[t]; ++j)
        if (s.masked_ids[t * k + j] == e) s.expert_tokens[m] = static_cast<int32_t>(t * k + j), s.token_ids[m++] = static_cast<int32_t>(t);
    if (m > begin) groups.push_back({e, begin, m, experts.acquire(l.layer, static_cast<int>(e))});
  }
  if (groups.empty()) return;
  // A model whose experts a token reads are more than the caches hold reads them from memory
  // however small each matrix is: stream them one row at a time (4 interleaved row streams
  // halve the pace of DRAM-bound decode; a Qwen3-30B-A3B-shaped Q4_0 file decoded 1.6x faster).
  const ExpertWeights& w0 = groups[0].w;
  const uint64_t token_bytes = static_cast<uint64_t>(l.c.n_layer) * static_cast<uint64_t>(k) *
                               (w0.gate.n_bytes() + w0.up.n_bytes() + w0.down.n_bytes());
  const bool from_memory = token_bytes > kCachedExpertBytesPerToken;
  // Jobs are (expert, block of rows), which threads take in order as they finish the last, so
  // experts with many tokens do not leave one thread working while the others wait. (Shares
  // fixed in advance by rows x tokens left the caller waiting in a third of its waits in a
  // two-thread prefill: an expert's tokens past a multiple of 4 cost more each.)
  // Interleaved weights split on whole groups of rows (a coarser split costs the others nothing).
  const int64_t align = std::max(row_alignment(w0.gate.type), row_alignment(w0.down.type));
  auto run_blocks = [&](int64_t rows, const auto& job) {
    // (One thread has nobody to balance against: an expert is one job, its tokens' activations
    // prepared once per matrix.)
    const int64_t per_expert =
        l.pool.size() == 1 ? 1 : std::max<int64_t>(1, std::min<int64_t>(rows / 32, 4 * l.pool.size()));
    l.pool.for_each_job(static_cast<int64_t>(groups.size()) * per_expert, [&](int, int64_t j) {
      const Group& g = groups[static_cast<size_t>(j / per_expert)];
      auto [r0, r1] = split_rows_aligned(rows, align, static_cast<int>(j % per_expert), static_cast<int>(per_expert));
      if (r1 > r0) job(g, r0, r1);
    });
  };
  run_blocks(ff, [&](const Group& g, int64_t r0, int64_t r1) {
    matmul_tile(g.w.gate, r0, r1, s.moe_act, s.token_ids.data(), g.begin, g.end, {s.gate.data() + r0, ff}, from_memory);
    matmul_tile(g.w.up, r0, r1, s.moe_act, s.token_ids.data(), g.begin, g.end, {s.up.data() + r0, ff}, from_memory);
  });
  for (const Group& g : groups) {
    add_expert_bias(l.w.gate_exps_b, g.e, &s.gate[g.begin * ff], g.end - g.begin, ff);
    add_expert_bias(l.w.up_exps_b, g.e, &s.up[g.begin * ff], g.end - g.begin, ff);
  }
  activate(l.desc.act, s.gate.data(), s.up.data(), s.gate.data(), m * ff);
  s.act.quantize(type_traits(groups[0].w.down.type).vec_dot_type, s.gate.data(), m, ff, &l.pool);
  run_blocks(d, [&](const Group& g, int64_t r0, int64_t r1) {
    matmul_tile(g.w.down, r0, r1, s.act, nullptr, g.begin, g.end, {s.down.data() + r0, d}, from_memory);
  });
  for (const Group& g : groups) {
    add_expert_bias(l.w.down_exps_b, g.e, &s.down[g.begin * d], g.end - g.begin, d);
    for (int64_t i = g.begin; i < g.end; ++i)
      std::memcpy(&s.choice_out[s.expert_tokens[i] * d], &s.down[i * d], d * sizeof(float));
  }
}

// All routed experts, together in runs of consecutive experts whose pairs fit the scratch rows
// (a decode step or a few sequences' pairs fit at once; a prefill micro-batch takes a few
// runs). False, having done nothing, when one expert alone has more pairs than rows.
bool run_experts_in_runs(const LayerContext& l, ExpertProvider& experts, int64_t n, int k) {
  ForwardScratch& s = l.s;
  const int64_t E = l.c.n_expert;
  const int64_t capacity = std::min<int64_t>(static_cast<int64_t>(s.down.size()) / l.c.n_embd,
                                             static_cast<int64_t>(s.gate.size()) / l.desc.n_ff);
  thread_local std::vector<int64_t> pairs;
  pairs.assign(static_cast<size_t>(E), 0);
  for (int64_t t = 0; t < n; ++t)
    for (int j = 0; j < s.n_masked[t]; ++j) ++pairs[static_cast<size_t>(s.masked_ids[t * k + j])];
  if (*std::max_element(pairs.begin(), pairs.end()) > capacity) return false;
  // Gate and up of every expert read the layer's input in one type (same_vec_dot_type).
  s.moe_act.quantize(type_traits(l.w.gate_exps.type).vec_dot_type, s.xn.data(), n, l.c.n_embd, &l.pool);
  int64_t e0 = 0, in_run = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t p = pairs[static_cast<size_t>(e)];
    if (in_run + p > capacity) {
      run_experts_together(l, experts, n, k, e0, e);
      e0 = e, in_run = 0;
    }
    in_run += p;
  }
  if (in_run > 0) run_experts_together(l, experts, n, k, e0, E);
  return true;
}

}  // namespace

void dense_ffn(const LayerContext& l, int64_t n) {
  swiglu_ffn(l, l.w.ffn_gate, l.w.ffn_up, l.w.ffn_down, n, l.s.ffn_out.data());
}

void moe_ffn(const LayerContext& l, ExpertProvider& experts, const RoutingHooks& hooks, RoutingStats& stats,
             int64_t n) {
  const ModelConfig& c = l.c;
  ForwardScratch& s = l.s;
  const int layer = l.layer;
  const int k = static_cast<int>(c.n_expert_used);
  const int64_t E = c.n_expert, ff = l.desc.n_ff;
  linear(l.w.router, s.xn.data(), n, s.router.data(), s.act, l.pool);
  add_bias(l.w.router_b, s.router.data(), n, E);

  const float* bias = static_cast<const float*>(l.w.exp_probs_b.data);
  thread_local std::vector<int> resident;  // per token: how many of its unmasked choices were resident
  resident.assign(static_cast<size_t>(n), 0);
  for (int64_t t = 0; t < n; ++t) {
    int32_t* ids = &s.topk_ids[t * k];
    float* w = &s.topk_w[t * k];
    if (!(hooks.replay_routing && hooks.replay_routing(l.at.pos[t], layer, k, ids, w)))
      route(c.router, &s.router[t * E], E, k, nullptr, ids, w, bias);
    if (hooks.on_routing) hooks.on_routing(RoutingEvent{l.at.pos[t], layer, k, ids, w});
    for (int j = 0; j < k; ++j) resident[t] += experts.is_resident(layer, ids[j]);
  }
  experts.observe(layer, n, k, s.topk_ids.data(), s.topk_w.data(), s.x_norm.data());
  experts.prepare_layer(layer, n, k, s.topk_ids.data(), s.topk_w.data());

  const uint8_t* usable = experts.usable_mask(layer);
  for (int64_t t = 0; t < n; ++t) {
    const int32_t* ids = &s.topk_ids[t * k];
    const float* w = &s.topk_w[t * k];
    const float* logits = &s.router[t * E];
    int32_t* mids = &s.masked_ids[t * k];
    float* mw = &s.masked_w[t * k];
    if (usable) {
      // Mask, then route: the model's own rule over the usable experts only. A replayed trace
      // stands in for the router, so its ids are the ones masked.
      if (hooks.replay_routing) {
        std::vector<float> masked_logits(E, -std::numeric_limits<float>::infinity());
        for (int j = 0; j < k; ++j) masked_logits[ids[j]] = std::log(std::max(w[j], 1e-30f));
        for (int64_t e = 0; e < E; ++e)
          if (masked_logits[e] == -std::numeric_limits<float>::infinity()) masked_logits[e] = logits[e] - 1e4f;
        s.n_masked[t] = route(c.router, masked_logits.data(), E, k, usable, mids, mw);  // the trace's choice, unbiased
      } else {
        s.n_masked[t] = route(c.router, logits, E, k, usable, mids, mw, bias);
      }
    } else {
      std::copy(ids, ids + k, mids);
      std::copy(w, w + k, mw);
      s.n_masked[t] = k;
    }
    stats.count_layer(layer, resident[t] == k, resident[t], k);
    stats.faithful += same_set(ids, k, mids, s.n_masked[t]);
  }

  const bool together = experts.views_stay_valid() && same_vec_dot_type(l.w) && run_experts_in_runs(l, experts, n, k);
  bool quantized = false;
  // Group tokens by expert so that each expert's weights are read once per micro-batch. Each
  // (token, choice) output is kept apart and summed afterwards in top-k order, as llama.cpp does.
  for (int64_t e = 0; e < E && !together; ++e) {
    int64_t m = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < s.n_masked[t]; ++j)
        if (s.masked_ids[t * k + j] == e) s.expert_tokens[m++] = static_cast<int32_t>(t * k + j);
    if (m == 0) continue;
    const ExpertWeights ew = experts.acquire(layer, static_cast<int>(e));
    // The layer's input is quantised once for all experts (gate and up read the same rows);
    // each expert then runs on just its tokens.
    const GgmlType want = type_traits(ew.gate.type).vec_dot_type;
    if (!quantized || s.moe_act.type() != want) {
      s.moe_act.quantize(want, s.xn.data(), n, c.n_embd, &l.pool);
      quantized = true;
    }
    for (int64_t i = 0; i < m; ++i) s.token_ids[i] = s.expert_tokens[i] / k;
    matmul_rows(ew.gate, 0, ff, s.moe_act, s.token_ids.data(), m, {s.gate.data(), ff}, l.pool);
    if (type_traits(ew.up.type).vec_dot_type == want) {
      matmul_rows(ew.up, 0, ff, s.moe_act, s.token_ids.data(), m, {s.up.data(), ff}, l.pool);
    } else {
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(&s.gathered[i * c.n_embd], &s.xn[s.token_ids[i] * c.n_embd], c.n_embd * sizeof(float));
      linear(ew.up, s.gathered.data(), m, s.up.data(), s.act, l.pool);
    }
    add_expert_bias(l.w.gate_exps_b, e, s.gate.data(), m, ff);
    add_expert_bias(l.w.up_exps_b, e, s.up.data(), m, ff);
    activate(l.desc.act, s.gate.data(), s.up.data(), s.gate.data(), m * ff);
    linear(ew.down, s.gate.data(), m, s.down.data(), s.act, l.pool);
    add_expert_bias(l.w.down_exps_b, e, s.down.data(), m, c.n_embd);
    for (int64_t i = 0; i < m; ++i)
      std::memcpy(&s.choice_out[s.expert_tokens[i] * c.n_embd], &s.down[i * c.n_embd], c.n_embd * sizeof(float));
  }
  for (int64_t t = 0; t < n; ++t) {
    float* out = &s.ffn_out[t * c.n_embd];
    std::fill(out, out + c.n_embd, 0.0f);
    for (int j = 0; j < s.n_masked[t]; ++j) {
      const float* o = &s.choice_out[(t * k + j) * c.n_embd];
      const float w = s.masked_w[t * k + j];
      for (int64_t d = 0; d < c.n_embd; ++d) out[d] += w * o[d];
    }
  }

  if (l.desc.ffn == FfnKind::MOE_SHARED) {
    // The shared expert sees every token; its output joins the routed experts' (optionally
    // scaled by a sigmoid gate per token). s.tmp holds it (the attention output is consumed).
    swiglu_ffn(l, l.w.shexp_gate, l.w.shexp_up, l.w.shexp_down, n, s.tmp.data());
    if (l.desc.shared_gate) linear(l.w.shexp_gate_inp, s.xn.data(), n, s.down.data(), s.act, l.pool);
    for (int64_t t = 0; t < n; ++t) {
      const float g = l.desc.shared_gate ? 1.0f / (1.0f + std::exp(-s.down[t])) : 1.0f;
      for (int64_t d = 0; d < c.n_embd; ++d) s.ffn_out[t * c.n_embd + d] += g * s.tmp[t * c.n_embd + d];
    }
  }
}

}  // namespace swapmoe
