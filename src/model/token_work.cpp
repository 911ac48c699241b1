#include "model/token_work.h"

namespace swapmoe {

TokenWork token_work(const Model& model) {
  const ModelConfig& c = model.config();
  TokenWork w;
  // A tied head is the embedding read whole; for_each_weight then visits it once, as EMBEDDING.
  const bool tied = model.output.data == model.tok_embd.data;
  model.for_each_weight([&](const TensorView& v, TensorRole role) {
    if (role == TensorRole::EXPERTS) return;  // counted per layer below
    if (role == TensorRole::EMBEDDING && !tied) {
      w.weight_bytes += v.row_bytes();
      return;
    }
    w.weight_bytes += v.n_bytes();
    w.multiply_adds += static_cast<uint64_t>(v.n_elements());
  });
  for (const LayerWeights& l : model.layers) {
    if (l.gate_exps.ne[2] <= 1) continue;
    const uint64_t used = static_cast<uint64_t>(c.n_expert_used);
    w.weight_bytes += used * l.expert_bytes();
    w.multiply_adds += used * static_cast<uint64_t>(l.gate_exps.ne[0] * l.gate_exps.ne[1] + l.up_exps.ne[0] * l.up_exps.ne[1] +
                                                    l.down_exps.ne[0] * l.down_exps.ne[1]);
  }
  return w;
}

}  // namespace swapmoe
