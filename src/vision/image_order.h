// The order a stream of images is presented in to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/image_set.h"

namespace swapmoe {

// "file": as stored. "shuffled": a seeded random permutation. "runs:N": runs of N images of the
// same class one after another (a stand-in for video frames or one user's requests: successive
// inputs are alike); the classes of the runs in random order, no class twice in a row when that
// is avoidable; each image exactly once, a class's last run shorter if its images run out.
struct ImageOrder {
  enum Kind { FILE, SHUFFLED, RUNS } kind = FILE;
  int64_t run_length = 0;  // N of runs:N
  std::string text() const;  // the form parse_image_order reads: "file", "shuffled", "runs:8"
};

// Reads "file", "shuffled" or "runs:N" (N >= 1); anything else is an error listing the forms.
ImageOrder parse_image_order(const std::string& text);

// A permutation of 0..images.n-1, the same for the same images, order and seed on every platform
// (its own generator and shuffle, not std::shuffle, whose results differ between libraries).
// runs:N needs images.labels. Within a class the images come in a seeded random order.
std::vector<int64_t> order_images(const ImageSet& images, const ImageOrder& order, uint64_t seed);

}  // namespace swapmoe
