// DeviceProfile: what `swapmoe profile` measured for one model on one device (expert sizes,
// load and compute times, memory figures, the calibration runs and the quality model fitted on
// them), saved as JSON next to the model ("<model>.profile.json").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/cost_model.h"
#include "planner/quality_model.h"

namespace swapmoe {

struct DeviceProfile {
  static constexpr int kVersion = 1;

  // The model file it was made for: a profile of another file (or an older version) is refused.
  std::string model_path;
  uint64_t model_file_bytes = 0;
  int64_t model_mtime = 0;  // seconds

  // Shape
  int n_layer = 0;
  std::vector<int> moe_layers;  // indices of the MoE layers
  int n_expert = 0;
  int n_expert_used = 0;

  // Memory (bytes; KV cache and scratch for n_ctx, informative: plans use the engine's split)
  uint64_t expert_bytes = 0;  // gate + up + down of one expert in the file
  uint64_t slot_bytes = 0;    // one expert slot (4096-aligned parts)
  uint64_t dense_bytes = 0;
  uint64_t kv_cache_bytes = 0;
  uint64_t scratch_bytes = 0;
  int64_t n_ctx = 0;

  // Device timings (milliseconds), with the runtime's own reads (O_DIRECT) and kernels
  int n_threads = 0;
  bool o_direct = false;
  double expert_load_ms = 0;     // median read of one expert
  double fetch_ms = 0;           // mean wait of a token for one expert through the runtime's loader (0: unknown)
  double read_latency_ms = 0;    // median 4 KiB read
  double storage_mb_s = 0;       // expert bytes / expert_load_ms
  double expert_compute_ms = 0;  // one expert, one token (gate, up, SwiGLU, down), lower quartile
  double token_compute_ms = 0;   // one decode step, every expert resident, lower quartile
  double dense_compute_ms = 0;   // token_compute_ms minus the k experts of every MoE layer
  int max_loads_per_step = 1;    // the runtime's amortisation limit the calibration ran with
  int io_threads = 4;            // the runtime's readers of exact fetches the calibration ran with
  int n_load_samples = 0;
  int n_compute_samples = 0;

  // Quality: calibration runs of the real runtime (policy swapmoe, one token at a time)
  std::string calibration;       // where the text came from
  int64_t calibration_ctx = 0;
  int64_t calibration_chunks = 0;
  double full_ppl = 0;           // every expert resident
  std::vector<int> intervals;    // update intervals sampled (the search's candidates)
  // Exact thresholds (above 1: pure) and prefetch depths sampled, the search's candidates;
  // profiles from before they were learned load with pure SwapMoE and no prefetch only.
  std::vector<double> thresholds{kPureSwapMoe};
  std::vector<int> prefetch_depths{0};
  std::vector<QualitySample> samples;
  QualityModel quality;
  // Whether calibration ran: "fitted", "skipped" (not even the minimum number of runs fits
  // --quality-seconds), "stopped" (the runs proved slower than estimated), "off" (--no-quality),
  // "too few configurations" (--configs below the minimum); empty in older profiles. Never
  // silent: the note says why in words, and plans from an unfitted profile say they are the
  // uniform split.
  std::string calibration_status;
  std::string calibration_note;
  int calibration_runs_needed = 0;     // the fewest runs a fitted model needs
  double calibration_run_seconds = 0;  // estimated (skipped) or measured (stopped) seconds per run

  double seconds_timing = 0;
  double seconds_quality = 0;

  LatencyFigures latency_figures() const;

  void save(const std::string& path) const;
  // Throws swapmoe::Error "[profile] ..." naming the file and the problem.
  static DeviceProfile load(const std::string& path);
  // Throws unless the profile was made for this very file (size and modification time).
  void check_model(const std::string& path) const;
};

// "<model>.profile.json"
std::string default_profile_path(const std::string& model_path);

// Size and modification time (seconds) of a file; throws when it cannot be read.
void file_identity(const std::string& path, uint64_t* bytes, int64_t* mtime);

}  // namespace swapmoe
