// The llama architecture, with and without experts (Llama, Mistral, Mixtral).
#include <fmt/format.h>

#include "model/arch.h"

namespace swapmoe {

void bind_llama(Model& m, const TensorBinder& bind) {
  const ModelConfig& c = m.config();
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;

  m.tok_embd = bind.require("token_embd.weight", {c.n_embd, c.n_vocab});
  m.output_norm = bind.require_f32("output_norm.weight", c.n_embd);
  m.output = bind.optional("output.weight", {c.n_embd, c.n_vocab});
  if (!m.output.data) m.output = m.tok_embd;  // tied embeddings

  m.layers.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = m.layers[i];
    auto name = [i](const char* suffix) { return fmt::format("blk.{}.{}", i, suffix); };
    l.attn_norm = bind.require_f32(name("attn_norm.weight"), c.n_embd);
    l.wq = bind.require(name("attn_q.weight"), {c.n_embd, q_dim});
    l.wk = bind.require(name("attn_k.weight"), {c.n_embd, kv_dim});
    l.wv = bind.require(name("attn_v.weight"), {c.n_embd, kv_dim});
    l.wo = bind.require(name("attn_output.weight"), {q_dim, c.n_embd});
    l.ffn_norm = bind.require_f32(name("ffn_norm.weight"), c.n_embd);
    if (c.is_moe()) {
      l.is_moe = true;
      l.router = bind.require(name("ffn_gate_inp.weight"), {c.n_embd, c.n_expert});
      l.gate_exps = bind.require(name("ffn_gate_exps.weight"), {c.n_embd, c.n_ff, c.n_expert});
      l.up_exps = bind.require(name("ffn_up_exps.weight"), {c.n_embd, c.n_ff, c.n_expert});
      l.down_exps = bind.require(name("ffn_down_exps.weight"), {c.n_ff, c.n_embd, c.n_expert});
      l.exps_info[0] = bind.info(name("ffn_gate_exps.weight"));
      l.exps_info[1] = bind.info(name("ffn_up_exps.weight"));
      l.exps_info[2] = bind.info(name("ffn_down_exps.weight"));
    } else {
      l.ffn_gate = bind.require(name("ffn_gate.weight"), {c.n_embd, c.n_ff});
      l.ffn_up = bind.require(name("ffn_up.weight"), {c.n_embd, c.n_ff});
      l.ffn_down = bind.require(name("ffn_down.weight"), {c.n_ff, c.n_embd});
    }
  }
}

}  // namespace swapmoe
