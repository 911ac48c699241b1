// ImageClassifier: a vision model (vmoe) on an Engine: images in, class logits out. Each image of
// a batch holds one of the engine's planned sessions (its KV cache holds the image's tokens), and
// a batch is one forward through the same MoE layers, expert providers and policies as a language
// model's tokens: masked routing, importance and background swaps see image tokens the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/kv_cache.h"
#include "runtime/engine.h"

namespace swapmoe {

// Images a forward evaluates together unless asked otherwise (classify, serve, the profiler's
// calibration): a batch amortises each expert read over its tokens, and an image costs only its
// activations and one layer's keys and values (the layers share a cache's rows).
inline constexpr int kDefaultImageBatch = 32;

// The run shape a vision model needs: contexts of one image's tokens, micro-batches of `batch`
// images, one session per image of a batch, f32 caches (an image's cache is a few KiB). Throws,
// naming `swapmoe run`, when the file is not a vision model.
EngineOptions vision_engine_options(EngineOptions options, int batch);

class ImageClassifier {
 public:
  // The engine must have been made with vision_engine_options (throws otherwise).
  explicit ImageClassifier(Engine& engine);

  int batch() const { return static_cast<int>(caches_.size()); }
  const VisionConfig& vision() const { return engine_.model().config().vision; }
  int64_t n_classes() const { return engine_.model().config().n_vocab; }

  // Classifies n images of bytes [n][channels][image_size][image_size], batch() at a time;
  // writes logits [n][n_classes].
  void classify(const uint8_t* pixels, int64_t n, float* logits);

 private:
  Engine& engine_;
  std::vector<std::unique_ptr<SessionSeat>> seats_;
  std::vector<std::unique_ptr<KvCache>> caches_;  // one per image of a batch
  std::vector<KvCache*> cache_ptrs_;
  std::vector<float> normalised_;  // [batch][pixels]
};

// How well a classifier's logits name known labels.
struct LabelScore {
  int64_t n = 0, correct = 0;
  double nll = 0;  // summed cross-entropy of the true labels, in nats
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0; }
  // exp of the mean cross-entropy: the labels' perplexity, what the planner's quality model fits
  // for a vision model as it fits a text's perplexity for a language model.
  double perplexity() const;
  void add(const float* logits, int64_t n_classes, int32_t label);
};

// Classifies n labelled images in their order and scores the logits against the labels.
LabelScore score_labels(ImageClassifier& classifier, const uint8_t* pixels, const int32_t* labels, int64_t n);

// Indices of the `k` largest values of row (ties: the lower index first), best first.
std::vector<int> top_classes(const float* row, int64_t n, int k);

}  // namespace swapmoe
