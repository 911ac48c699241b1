// Model: a loaded GGUF file, its configuration and views of every weight inside the file map.
//
// Weights are never copied: dense tensors are views into the read-only memory map, and each
// MoE layer's experts are one stacked tensor per projection ({n_embd, n_ff, n_expert} for
// gate/up, {n_ff, n_embd, n_expert} for down) whose slice e is one contiguous byte range, so
// an expert can be read from storage on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "io/gguf.h"
#include "model/model_config.h"
#include "tensor/tensor_view.h"

namespace swapmoe {

// The three projections of one expert: 2-D views, wherever the bytes live (map or slot).
struct ExpertWeights {
  TensorView gate;  // (n_embd -> n_ff)
  TensorView up;    // (n_embd -> n_ff)
  TensorView down;  // (n_ff -> n_embd)
};

// Where expert e's bytes are in the file: gate, up and down ranges.
struct ExpertFileRanges {
  uint64_t offset[3];
  uint64_t n_bytes[3];
  uint64_t total() const { return n_bytes[0] + n_bytes[1] + n_bytes[2]; }
};

// What a weight is for: decides how it is stored under a budget (EXPERTS are read by range into
// slots, everything else is dense), how it is checked (NORM and BIAS are f32 vectors) and how
// the synth writer fills it.
enum class TensorRole { EMBEDDING, OUTPUT, NORM, BIAS, MATRIX, ROUTER, EXPERTS };

// Every weight one layer may have, whatever the architecture; the architecture's entry (arch.h)
// says which of them a layer uses and their shapes. Shapes below are GGUF's ne: (in -> out).
struct LayerWeights {
  TensorView attn_norm;    // (n_embd) f32
  TensorView wq;           // (n_embd -> q_dim)
  TensorView wk;           // (n_embd -> kv_dim)
  TensorView wv;           // (n_embd -> kv_dim)
  TensorView bq, bk, bv;   // (q_dim), (kv_dim), (kv_dim) f32, qkv_bias
  TensorView q_norm;       // (head_dim) f32, qk_norm
  TensorView k_norm;       // (head_dim) f32, qk_norm
  TensorView wo;           // (q_dim -> n_embd); MLA: (n_head * head_dim_v_mla -> n_embd)
  TensorView bo;           // (n_embd) f32, attn_out_bias
  TensorView sinks;        // (n_head) f32, attn_sinks: one extra softmax logit per head
  TensorView ffn_norm;     // (n_embd) f32
  TensorView post_attn_norm;  // (n_embd) f32: the FFN's input norm under gpt-oss's name

  // Multi-head latent attention (MLA); wq above when there is no q LoRA
  TensorView wq_a;         // (n_embd -> q_lora_rank)
  TensorView q_a_norm;     // (q_lora_rank) f32
  TensorView wq_b;         // (q_lora_rank -> n_head * head_dim_k_mla)
  TensorView wkv_a_mqa;    // (n_embd -> kv_lora_rank + n_rot): the latent and the shared rotated key
  TensorView kv_a_norm;    // (kv_lora_rank) f32
  TensorView wk_b;         // {qk_nope, kv_lora_rank, n_head}: a head's q_nope into the latent space
  TensorView wv_b;         // {kv_lora_rank, head_dim_v_mla, n_head}: a head's latent output into values

  // MoE layers
  TensorView router;       // (n_embd -> n_expert)
  TensorView router_b;     // (n_expert) f32, router_bias
  TensorView exp_probs_b;  // (n_expert) f32, selection_bias: added to the probabilities to select only
  TensorView gate_exps;    // {n_embd, n_ff, n_expert}
  TensorView up_exps;      // {n_embd, n_ff, n_expert}
  TensorView down_exps;    // {n_ff, n_embd, n_expert}
  // expert_bias: f32 {n_ff, n_expert}, {n_ff, n_expert}, {n_embd, n_expert}. Dense (always
  // resident), not part of an expert's bytes: they are (2 n_ff + n_embd) floats an expert against
  // 3 n_embd n_ff weights (0.26% of gpt-oss-20b's MXFP4 experts), so swapping them with the expert
  // would complicate the store and slots for nothing; the memory plan counts them as dense.
  TensorView gate_exps_b, up_exps_b, down_exps_b;
  TensorView shexp_gate;   // (n_embd -> n_ff_shared), MOE_SHARED
  TensorView shexp_up;     // (n_embd -> n_ff_shared)
  TensorView shexp_down;   // (n_ff_shared -> n_embd)
  TensorView shexp_gate_inp;  // (n_embd -> 1), shared_gate: a one-output router, kept f32 by converters
  const GgufTensorInfo* exps_info[3] = {nullptr, nullptr, nullptr};  // gate, up, down

  // Dense layers
  TensorView ffn_gate;     // (n_embd -> n_ff)
  TensorView ffn_up;       // (n_embd -> n_ff)
  TensorView ffn_down;     // (n_ff -> n_embd)

  bool is_moe = false;

  // The one list of fields: binding, dense copying, accounting and the synth writer all walk it.
  // f(view, GGUF name after "blk.N.", role). Adding a weight is one line here.
  template <class Self, class F>
  static void visit(Self& l, F&& f) {
    f(l.attn_norm, "attn_norm.weight", TensorRole::NORM);
    f(l.wq, "attn_q.weight", TensorRole::MATRIX);
    f(l.wk, "attn_k.weight", TensorRole::MATRIX);
    f(l.wv, "attn_v.weight", TensorRole::MATRIX);
    f(l.bq, "attn_q.bias", TensorRole::BIAS);
    f(l.bk, "attn_k.bias", TensorRole::BIAS);
    f(l.bv, "attn_v.bias", TensorRole::BIAS);
    f(l.q_norm, "attn_q_norm.weight", TensorRole::NORM);
    f(l.k_norm, "attn_k_norm.weight", TensorRole::NORM);
    f(l.wq_a, "attn_q_a.weight", TensorRole::MATRIX);
    f(l.q_a_norm, "attn_q_a_norm.weight", TensorRole::NORM);
    f(l.wq_b, "attn_q_b.weight", TensorRole::MATRIX);
    f(l.wkv_a_mqa, "attn_kv_a_mqa.weight", TensorRole::MATRIX);
    f(l.kv_a_norm, "attn_kv_a_norm.weight", TensorRole::NORM);
    f(l.wk_b, "attn_k_b.weight", TensorRole::MATRIX);
    f(l.wv_b, "attn_v_b.weight", TensorRole::MATRIX);
    f(l.wo, "attn_output.weight", TensorRole::MATRIX);
    f(l.bo, "attn_output.bias", TensorRole::BIAS);
    f(l.sinks, "attn_sinks.weight", TensorRole::BIAS);
    f(l.ffn_norm, "ffn_norm.weight", TensorRole::NORM);
    f(l.post_attn_norm, "post_attention_norm.weight", TensorRole::NORM);
    f(l.router, "ffn_gate_inp.weight", TensorRole::ROUTER);
    f(l.router_b, "ffn_gate_inp.bias", TensorRole::BIAS);
    f(l.exp_probs_b, "exp_probs_b.bias", TensorRole::BIAS);
    f(l.gate_exps, "ffn_gate_exps.weight", TensorRole::EXPERTS);
    f(l.up_exps, "ffn_up_exps.weight", TensorRole::EXPERTS);
    f(l.down_exps, "ffn_down_exps.weight", TensorRole::EXPERTS);
    f(l.gate_exps_b, "ffn_gate_exps.bias", TensorRole::BIAS);
    f(l.up_exps_b, "ffn_up_exps.bias", TensorRole::BIAS);
    f(l.down_exps_b, "ffn_down_exps.bias", TensorRole::BIAS);
    f(l.shexp_gate, "ffn_gate_shexp.weight", TensorRole::MATRIX);
    f(l.shexp_up, "ffn_up_shexp.weight", TensorRole::MATRIX);
    f(l.shexp_down, "ffn_down_shexp.weight", TensorRole::MATRIX);
    f(l.shexp_gate_inp, "ffn_gate_inp_shexp.weight", TensorRole::ROUTER);
    f(l.ffn_gate, "ffn_gate.weight", TensorRole::MATRIX);
    f(l.ffn_up, "ffn_up.weight", TensorRole::MATRIX);
    f(l.ffn_down, "ffn_down.weight", TensorRole::MATRIX);
  }
  template <class F> void for_each(F&& f) { visit(*this, f); }
  template <class F> void for_each(F&& f) const { visit(*this, f); }

  // The norm in front of the FFN, whichever name the architecture gives it.
  const TensorView& ffn_input_norm() const { return ffn_norm.data ? ffn_norm : post_attn_norm; }

  ExpertWeights expert(int64_t e) const { return {gate_exps.slice2(e), up_exps.slice2(e), down_exps.slice2(e)}; }
  ExpertFileRanges expert_ranges(int64_t e) const;
  uint64_t expert_bytes() const;  // gate + up + down of one expert
};

// Where the dense (non-expert) weights live.
enum class DenseWeights {
  MAPPED,  // views into the file map: no copy, pages shared with the page cache (full model)
  OWNED,   // read once into process memory around the page cache, file map never touched:
           // under a memory budget every resident byte is then the engine's own and counted
  LAZY,    // views into the map, nothing read now: for tools that only look at shapes and sizes
  READ,    // views into a copy of the whole file read into process memory at load (--no-mmap)
};

class Model {
 public:
  // Opens and validates the file; throws swapmoe::Error naming the problem. With OWNED dense
  // weights the stacked expert views keep their shapes but have no data: experts must then be
  // read by file range (expert_ranges) into memory the caller owns.
  // `interleave`: weights of a type with an interleaved form that the active CPU level computes
  // faster with (tensor/interleave.h: Q4_0) are rearranged into it at load, in memory the
  // process owns: MAPPED weights into a copy of their own (the map is read-only and
  // shared, so they are copied out of it), READ and OWNED ones in place. LAZY ignores it.
  static std::unique_ptr<Model> load(const std::string& path, DenseWeights dense = DenseWeights::MAPPED,
                                     bool interleave = false);

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }

  TensorView tok_embd;     // (n_embd) x n_vocab rows
  TensorView output_norm;  // (n_embd) f32
  TensorView output;       // (n_embd -> n_vocab); tok_embd when the head is tied
  // Vision models (vmoe) have patches for tokens and classes for a vocabulary:
  TensorView patch_embd;   // (patch values -> n_embd)
  TensorView patch_embd_b; // (n_embd) f32
  TensorView cls_embd;     // (n_embd) f32: the class token
  TensorView pos_embd;     // (n_embd) x (patches + 1) rows f32: learned positions
  TensorView output_b;     // (n_vocab) f32: the classifier's bias
  std::vector<LayerWeights> layers;

  // The weights outside the layers, as LayerWeights::visit lists a layer's (names are whole).
  template <class Self, class F>
  static void visit_globals(Self& m, F&& f) {
    f(m.tok_embd, "token_embd.weight", TensorRole::EMBEDDING);
    f(m.pos_embd, "pos_embd.weight", TensorRole::EMBEDDING);
    f(m.patch_embd, "patch_embd.weight", TensorRole::MATRIX);
    f(m.patch_embd_b, "patch_embd.bias", TensorRole::BIAS);
    f(m.cls_embd, "cls_embd.weight", TensorRole::BIAS);
    f(m.output_norm, "output_norm.weight", TensorRole::NORM);
    f(m.output, "output.weight", TensorRole::OUTPUT);
    f(m.output_b, "output.bias", TensorRole::BIAS);
  }
  // Every bound weight of the model once (a tied head is not visited twice): f(view, role).
  template <class F> void for_each_weight(F&& f) const;

  uint64_t total_bytes() const { return dense_bytes() + expert_bytes(); }  // every weight the model uses
  uint64_t expert_bytes() const;  // all routed experts of all layers
  uint64_t dense_bytes() const;   // every other weight, 64-byte aligned each (what OWNED holds)
  uint64_t owned_bytes() const { return owned_.size(); }  // dense weights held in memory (OWNED)
  uint64_t interleaved_bytes() const { return interleaved_bytes_; }  // weights rearranged at load

  Model(GgufFile file, ModelConfig config) : file_(std::move(file)), config_(std::move(config)) {}

 private:
  void copy_dense_weights();
  void prefault_map() const;
  // Rearranges every bound weight (data present) that interleaving pays for: in place (the
  // caller guarantees the bytes are writable) or into interleaved_copy_ (views into the map).
  enum class InterleaveInto { PLACE, OWN_COPY };
  void interleave_weights(InterleaveInto into);
  void release_map_range(const void* data, uint64_t n_bytes) const;

  GgufFile file_;
  ModelConfig config_;
  AlignedBuffer owned_;
  AlignedBuffer interleaved_copy_;  // MAPPED: the rearranged weights
  uint64_t interleaved_bytes_ = 0;
};

template <class F>
void Model::for_each_weight(F&& f) const {
  const void* tied = output.data == tok_embd.data ? output.data : nullptr;
  visit_globals(*this, [&](const TensorView& v, const char*, TensorRole role) {
    if (v.data && !(role == TensorRole::OUTPUT && v.data == tied)) f(v, role);
  });
  for (const LayerWeights& l : layers)
    l.for_each([&](const TensorView& v, const char*, TensorRole role) {
      if (v.data || role == TensorRole::EXPERTS) f(v, role);
    });
}

}  // namespace swapmoe
