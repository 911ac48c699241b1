#include "runtime/image_classifier.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

EngineOptions vision_engine_options(EngineOptions o, int batch) {
  if (batch < 1 || batch > 4096)
    fail("classify", fmt::format("a batch of {} images", batch), "use --image-batch between 1 and 4096");
  const auto model = Model::load(o.model_path, DenseWeights::LAZY);
  const ModelConfig& c = model->config();
  if (!c.is_vision())
    fail("classify", fmt::format("{} is a text model ('{}'): it has no image input", o.model_path, c.arch),
         fmt::format("use swapmoe run -m {} -p TEXT, or pass a vision (vmoe) model", o.model_path));
  const int64_t T = c.vision.n_tokens();
  o.n_ctx = T;
  o.n_ubatch = T * batch;
  o.n_sessions = batch;
  o.type_k = o.type_v = GgmlType::F32;
  return o;
}

ImageClassifier::ImageClassifier(Engine& engine) : engine_(engine) {
  const ModelConfig& c = engine.model().config();
  const RunShape run = engine.run_shape();
  if (!c.is_vision())
    fail("classify", fmt::format("{} is not a vision model", engine.options().model_path), "pass a vmoe model");
  if (run.n_ctx < c.vision.n_tokens() || run.n_ubatch < c.vision.n_tokens())
    fail("classify", "the engine is not shaped for images", "make its options with vision_engine_options()");
  const int batch = static_cast<int>(std::min<int64_t>(run.n_sessions, run.n_ubatch / c.vision.n_tokens()));
  for (int i = 0; i < batch; ++i) {
    seats_.push_back(std::make_unique<SessionSeat>(engine));
    caches_.push_back(std::make_unique<KvCache>(c, run));
    cache_ptrs_.push_back(caches_.back().get());
  }
  normalised_.resize(static_cast<size_t>(batch * c.vision.pixels()));
}

void ImageClassifier::classify(const uint8_t* pixels, int64_t n, float* logits) {
  const VisionConfig& v = vision();
  const int64_t px = v.pixels(), C = n_classes();
  const float scale = 1.0f / (255.0f * v.std), shift = v.mean / v.std;
  for (int64_t first = 0; first < n; first += batch()) {
    const int64_t m = std::min<int64_t>(batch(), n - first);
    const uint8_t* in = pixels + first * px;
    for (int64_t i = 0; i < m * px; ++i) normalised_[i] = static_cast<float>(in[i]) * scale - shift;
    const float* out = engine_.transformer().forward_images(std::span(cache_ptrs_).first(m), normalised_.data());
    std::copy(out, out + m * C, logits + first * C);
  }
}

double LabelScore::perplexity() const { return n ? std::exp(nll / static_cast<double>(n)) : 1.0; }

void LabelScore::add(const float* logits, int64_t n_classes, int32_t label) {
  if (label < 0 || label >= n_classes)
    fail("classify", fmt::format("label {} is outside the model's {} classes", label, n_classes),
         "the labels do not belong to this model's data set");
  const float m = *std::max_element(logits, logits + n_classes);
  double sum = 0;
  for (int64_t c = 0; c < n_classes; ++c) sum += std::exp(static_cast<double>(logits[c] - m));
  nll += std::log(sum) - static_cast<double>(logits[label] - m);
  correct += top_classes(logits, n_classes, 1)[0] == label;
  ++n;
}

LabelScore score_labels(ImageClassifier& classifier, const uint8_t* pixels, const int32_t* labels, int64_t n) {
  const int64_t C = classifier.n_classes();
  std::vector<float> logits(static_cast<size_t>(n * C));
  classifier.classify(pixels, n, logits.data());
  LabelScore s;
  for (int64_t i = 0; i < n; ++i) s.add(&logits[i * C], C, labels[i]);
  return s;
}

std::vector<int> top_classes(const float* row, int64_t n, int k) {
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  k = static_cast<int>(std::min<int64_t>(k, n));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

}  // namespace swapmoe
