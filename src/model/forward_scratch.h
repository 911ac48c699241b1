// ForwardScratch: every buffer the forward pass works in, allocated once from the memory plan's
// ScratchSizes, so what the plan counts is what is held (bytes() reports it).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/memory_plan.h"

namespace swapmoe {

struct ForwardScratch {
  explicit ForwardScratch(const ScratchSizes& s)
      : attention_rows(s.attention_rows), x(s.x), xn(s.xn), q(s.q), k(s.k), v(s.v), attn(s.attn), tmp(s.tmp), x_norm(s.x_norm), rope(s.rope), patches(s.patches),
        scores(s.scores), head_rows(s.head_rows), head_q(s.head_q), router(s.router), topk_w(s.topk_w),
        masked_w(s.masked_w), topk_ids(s.topk_ids), masked_ids(s.masked_ids), expert_tokens(s.expert_tokens),
        token_ids(s.token_ids), n_masked(s.n_masked), gathered(s.gathered), gate(s.gate), up(s.up), down(s.down),
        ffn_out(s.ffn_out), choice_out(s.choice_out), logits(s.logits), mla_in(s.mla_in), mla_out(s.mla_out) {
    act.reserve(s.act_bytes);
    moe_act.reserve(s.act_bytes);
  }

  int64_t attention_rows;                        // queries per attention job (the plan's attention_rows_per_job)
  std::vector<float> x, xn, q, k, v, attn, tmp;  // [n_ubatch][n_embd | q_dim | kv_dim]
  std::vector<float> x_norm;                     // [n_ubatch] ||xn|| of the FFN input
  std::vector<float> rope;                       // [n_ubatch][n_rot] cos/sin
  std::vector<float> patches;                    // [n_ubatch][patch values] (vision models)
  std::vector<float> scores;                     // [n_threads][attention_rows][n_ctx]
  std::vector<float> head_rows;                  // [n_threads][2 attention_rows + 1][head_dim]
  std::vector<uint8_t> head_q;                   // [n_threads][attention_rows][q8_0 row of head_dim]
  std::vector<float> router, topk_w, masked_w;   // [n_ubatch][n_expert], [n_ubatch][k]
  std::vector<int32_t> topk_ids, masked_ids;     // [n_ubatch][k]
  std::vector<int32_t> expert_tokens, token_ids; // (token * k + choice) routed to one expert, its token
  std::vector<int32_t> n_masked;                 // [n_ubatch] experts used per token
  std::vector<float> gathered, gate, up, down;   // expert inputs/outputs [n_ubatch][...]
  std::vector<float> ffn_out;                    // [n_ubatch][n_embd]
  std::vector<float> choice_out;                 // [n_ubatch][k][n_embd]
  std::vector<float> logits;                     // [n_ubatch][n_vocab]
  std::vector<float> mla_in, mla_out;            // MLA: one head's (or the q LoRA's) rows [n_ubatch][...]
  QuantizedActivations act;                      // a layer input in its weights' vec_dot type
  QuantizedActivations moe_act;                  // the MoE input, shared by every expert

  uint64_t bytes() const {
    uint64_t n = 0;
    for (const auto* f : {&x, &xn, &q, &k, &v, &attn, &tmp, &x_norm, &rope, &patches, &scores, &head_rows, &router, &topk_w,
                          &masked_w, &gathered, &gate, &up, &down, &ffn_out, &choice_out, &logits, &mla_in, &mla_out})
      n += f->size() * sizeof(float);
    for (const auto* i : {&topk_ids, &masked_ids, &expert_tokens, &token_ids, &n_masked}) n += i->size() * sizeof(int32_t);
    return n + head_q.size() + act.capacity_bytes() + moe_act.capacity_bytes();
  }
};

}  // namespace swapmoe
