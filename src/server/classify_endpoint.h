// POST /v1/classify: a vision model's images (a PNG body, or IDX bytes, gzip or not) classified on
// the engine thread, between other work, with the budget endpoints of any model.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/image_classifier.h"
#include "server/scheduler.h"
#include "server/server_metrics.h"

namespace swapmoe::server {

class ClassifyEndpoint {
 public:
  // classifier: made on the engine the scheduler owns; only ever used on its thread.
  ClassifyEndpoint(Scheduler& scheduler, ImageClassifier& classifier, ServerMetrics& metrics, std::string model_id)
      : scheduler_(scheduler), classifier_(classifier), metrics_(metrics), model_id_(std::move(model_id)) {}

  // The answer to a body of `content_type` (image/png, or anything else: told apart by the bytes)
  // asking for the `top` most likely classes; throws ApiError for bad input.
  nlohmann::json classify(std::span<const uint8_t> body, int top);

 private:
  Scheduler& scheduler_;
  ImageClassifier& classifier_;
  ServerMetrics& metrics_;
  std::string model_id_;
};

// The largest number of images one request may carry (a 10,000-image IDX test set fits).
inline constexpr int64_t kMaxImagesPerRequest = 65536;

}  // namespace swapmoe::server
