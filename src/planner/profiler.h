// Profiler: measures a model on this device with the runtime's own pieces (ExpertStore reads
// around the page cache, the matmul kernels, the Transformer) and runs the real engine under
// sampled configurations on a calibration text to fit the quality model.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "planner/device_profile.h"
#include "planner/regressor.h"

namespace swapmoe {

struct ProfileOptions {
  std::string model_path;
  int n_threads = 0;          // 0: all cores
  int64_t n_ctx = 512;        // for the KV cache and scratch figures

  // Timing: experts are sampled (at random layers) so that big models stay quick.
  int max_load_samples = 48;
  double max_load_seconds = 8;
  int max_compute_samples = 24;
  uint64_t max_compute_bytes = 512ull << 20;  // expert buffers kept for the compute timing
  int decode_steps = 16;

  // Quality: the calibration text must not be the validation text.
  std::string calibration_text;
  // Vision models: labelled calibration images ([n][pixels] bytes, in the order they stream),
  // never the test images; their quality is the labels' perplexity (LabelScore).
  std::vector<uint8_t> calibration_pixels;
  std::vector<int32_t> calibration_labels;
  std::string calibration_name;
  int64_t calibration_ctx = 128;
  int64_t calibration_chunks = 8;
  int max_configs = 160;
  double quality_seconds = 150;  // configurations stop when this is spent
  std::vector<int> intervals{1, 2, 4, 8, 16, 32};
  // The exact threshold (above 1: pure SwapMoE) and the prefetch depth are planned too: the
  // calibration runs spread over these candidates, which become the search's.
  std::vector<double> thresholds{0, 0.3, 0.5, 0.7, 0.9, kPureSwapMoe};
  std::vector<int> prefetch_depths{0, 1, 2};
  uint64_t seed = 1;
  RegressorOptions regressor;

  // progress(stage, done, total): after each measured item.
  std::function<void(const std::string& stage, int done, int total, const std::string& note)> progress;
};


// Expert sizes, load and compute times, memory figures.
DeviceProfile measure_device(const ProfileOptions& options);

// Calibration runs (policy swapmoe, one token at a time) and the quality model fitted on them.
// Shrinks the calibration context and chunks when one configuration would take too long. When
// not even the minimum number of runs fits quality_seconds, the profile keeps the prior and
// records why (calibration_status, calibration_note, runs needed and seconds per run).
void measure_quality(DeviceProfile& profile, const ProfileOptions& options);

// Pieces of `text` spread evenly over it, each starting at a line, of about n_bytes together:
// a calibration sample that sees the whole text rather than its first page.
std::string calibration_excerpt(const std::string& text, size_t n_bytes, int n_pieces);

}  // namespace swapmoe
