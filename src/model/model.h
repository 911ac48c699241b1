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

struct LayerWeights {
  TensorView attn_norm;  // (n_embd) f32
  TensorView wq;         // (n_embd -> n_head * head_dim)
  TensorView wk;         // (n_embd -> n_head_kv * head_dim)
  TensorView wv;         // (n_embd -> n_head_kv * head_dim)
  TensorView wo;         // (n_head * head_dim -> n_embd)
  TensorView ffn_norm;   // (n_embd) f32

  // MoE layers
  TensorView router;     // (n_embd -> n_expert)
  TensorView gate_exps;  // {n_embd, n_ff, n_expert}
  TensorView up_exps;    // {n_embd, n_ff, n_expert}
  TensorView down_exps;  // {n_ff, n_embd, n_expert}
  const GgufTensorInfo* exps_info[3] = {nullptr, nullptr, nullptr};  // gate, up, down

  // Dense layers
  TensorView ffn_gate;   // (n_embd -> n_ff)
  TensorView ffn_up;     // (n_embd -> n_ff)
  TensorView ffn_down;   // (n_ff -> n_embd)

  bool is_moe = false;

  ExpertWeights expert(int64_t e) const { return {gate_exps.slice2(e), up_exps.slice2(e), down_exps.slice2(e)}; }
  ExpertFileRanges expert_ranges(int64_t e) const;
  uint64_t expert_bytes() const;  // gate + up + down of one expert
};

// Where the dense (non-expert) weights live.
enum class DenseWeights {
  MAPPED,  // views into the file map: no copy, pages shared with the page cache (full model)
  OWNED,   // read once into process memory around the page cache, file map never touched:
           // under a memory budget every resident byte is then the engine's own and counted
};

class Model {
 public:
  // Opens and validates the file; throws swapmoe::Error naming the problem. With OWNED dense
  // weights the stacked expert views keep their shapes but have no data: experts must then be
  // read by file range (expert_ranges) into memory the caller owns.
  static std::unique_ptr<Model> load(const std::string& path, DenseWeights dense = DenseWeights::MAPPED);

  const ModelConfig& config() const { return config_; }
  const GgufFile& file() const { return file_; }

  TensorView tok_embd;     // (n_embd) x n_vocab rows
  TensorView output_norm;  // (n_embd) f32
  TensorView output;       // (n_embd -> n_vocab); tok_embd when the head is tied
  std::vector<LayerWeights> layers;

  uint64_t total_bytes() const;   // every tensor
  uint64_t expert_bytes() const;  // all routed experts of all layers
  uint64_t dense_bytes() const { return total_bytes() - expert_bytes(); }
  uint64_t owned_bytes() const { return owned_.size(); }  // dense weights held in memory (OWNED)
  int64_t n_moe_layers() const;

  Model(GgufFile file, ModelConfig config) : file_(std::move(file)), config_(std::move(config)) {}

 private:
  void copy_dense_weights();
  void prefault_map() const;

  GgufFile file_;
  ModelConfig config_;
  AlignedBuffer owned_;
};

}  // namespace swapmoe
