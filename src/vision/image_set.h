// ImageSet: a batch of same-sized 8-bit images, with their labels (if known) and names for reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace swapmoe {

struct ImageSet {
  int64_t n = 0, rows = 0, cols = 0, channels = 1;
  std::vector<uint8_t> pixels;     // [n][channels][rows][cols], 0..255 (channel-major planes)
  std::vector<int32_t> labels;     // empty, or n class indices
  std::vector<std::string> names;  // one per image, for reports: a PNG's path, or "file#index" for IDX
  int64_t image_bytes() const { return channels * rows * cols; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
};

}  // namespace swapmoe
