#include "server/classify_endpoint.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/timer.h"
#include "server/api_error.h"
#include "vision/idx_file.h"
#include "vision/png_image.h"

namespace swapmoe::server {

namespace {

bool is_png(std::span<const uint8_t> b) {
  static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size() >= 8 && std::equal(magic, magic + 8, b.begin());
}

}  // namespace

nlohmann::json ClassifyEndpoint::classify(std::span<const uint8_t> body, int top) {
  const VisionConfig& v = classifier_.vision();
  if (body.empty()) throw bad_request("the body is empty: send a PNG image or IDX images (gzip or not)");
  ImageSet set;
  try {
    set = is_png(body) ? decode_png(body, "the PNG body", v.image_size, v.image_size, v.n_channels)
                       : parse_idx_images(body, "the IDX body");
  } catch (const Error& e) {
    throw bad_request(fmt::format("the images could not be read: {}", e.what()));
  }
  if (set.rows != v.image_size || set.cols != v.image_size || set.channels != v.n_channels)
    throw bad_request(fmt::format("the images are {}x{} with {} channel(s); the model takes {}x{} with {}", set.rows,
                                  set.cols, set.channels, v.image_size, v.image_size, v.n_channels));
  if (set.n == 0) throw bad_request("the IDX body holds no images");
  if (set.n > kMaxImagesPerRequest)
    throw bad_request(fmt::format("{} images in one request; at most {}", set.n, kMaxImagesPerRequest));
  const int64_t C = classifier_.n_classes();
  std::vector<float> logits(static_cast<size_t>(set.n * C));
  ++metrics_.requests;
  const Timer timer;
  scheduler_.on_engine([&](Engine&) { classifier_.classify(set.pixels.data(), set.n, logits.data()); });
  const double seconds = timer.seconds();
  metrics_.prompt_tokens += static_cast<uint64_t>(set.n * v.n_tokens());
  metrics_.images_classified += static_cast<uint64_t>(set.n);

  nlohmann::json data = nlohmann::json::array();
  const int k = static_cast<int>(std::min<int64_t>(std::max(top, 1), C));
  for (int64_t i = 0; i < set.n; ++i) {
    const float* row = &logits[i * C];
    const float m = *std::max_element(row, row + C);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(row[c] - m));
    nlohmann::json best = nlohmann::json::array();
    const std::vector<int> classes = top_classes(row, C, k);
    for (int c : classes)
      best.push_back({{"class", c}, {"label", v.labels[c]}, {"probability", std::exp(static_cast<double>(row[c] - m)) / sum}});
    data.push_back({{"index", i}, {"class", classes[0]}, {"label", v.labels[classes[0]]}, {"top", best}});
  }
  return {{"object", "list"},
          {"model", model_id_},
          {"data", data},
          {"usage", {{"images", set.n}, {"tokens", set.n * v.n_tokens()}}},
          {"seconds", seconds}};
}

}  // namespace swapmoe::server
