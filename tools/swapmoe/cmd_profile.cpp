// swapmoe profile: measure a model on this device (expert sizes, load and compute times) and fit
// the planner's quality model on calibration runs; writes "<model>.profile.json".
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "core/timer.h"
#include "planner/planner.h"  // unfitted_reason
#include "planner/profiler.h"
#include "vision/idx_file.h"
#include "vision/image_order.h"

namespace swapmoe::cli {

namespace {

struct ProfileCmdOptions {
  std::string model;
  std::string output;
  int threads = 0;
  int64_t ctx = 512;
  std::string calibration;
  double calibration_split = 0.9;
  int64_t calibration_ctx = 128;
  int64_t calibration_chunks = 8;
  int64_t calibration_images = 256;
  std::string calibration_order = "file";
  int configs = 160;
  double quality_seconds = 150;
  uint64_t seed = 1;
  bool no_quality = false;
  bool refit = false;
  RegressorOptions regressor;
};

// The project's calibration text: Tiny Shakespeare beside the checkout (its first 90%, the
// training split, is used; the last 10% is the validation split and never calibrates).
std::string default_calibration_path() {
  namespace fs = std::filesystem;
  const fs::path repo = fs::path(SWAPMOE_DEFAULT_MODEL).parent_path().parent_path();
  return (repo.parent_path() / "shared" / "data" / "tinyshakespeare" / "input.txt").string();
}

// A vision model's calibration: Fashion-MNIST's training images (never its test images), with
// the labels beside them; the first `n` in the given order.
constexpr const char* kDefaultCalibrationImages = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

void read_calibration_images(const std::string& path, int64_t n, const std::string& order_text, uint64_t seed,
                             ProfileOptions& po) {
  const std::string labels = idx_labels_path_for(path);
  if (labels.empty())
    fail("profile", fmt::format("no labels file beside the calibration images '{}'", path),
         "a vision model is calibrated on labelled images: put X-labels-idx1-ubyte[.gz] beside X-images-idx3-ubyte[.gz]");
  const ImageSet set = read_idx(path, labels);
  std::vector<int64_t> order = order_images(set, parse_image_order(order_text), seed);
  order.resize(static_cast<size_t>(std::min<int64_t>(n, set.n)));
  for (int64_t i : order) {
    po.calibration_pixels.insert(po.calibration_pixels.end(), set.image(i), set.image(i) + set.image_bytes());
    po.calibration_labels.push_back(set.labels[i]);
  }
}

std::string read_calibration(const std::string& path, double split) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("profile", fmt::format("cannot open the calibration text '{}'", path),
         "pass --calibration FILE (its first 90% is used, the training split), or --no-quality");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text.resize(static_cast<size_t>(static_cast<double>(text.size()) * split));
  return text;
}

// A calibration that did not run is a warning, never a progress note: without a fitted quality
// model every plan from the profile is the uniform split. Says how to give it the time it needs.
void warn_unfitted(const DeviceProfile& p) {
  std::string how;
  if (p.calibration_status == "too few configurations") {
    how = fmt::format("pass --configs {} or more", p.calibration_runs_needed);
  } else {
    const double need_s = p.calibration_runs_needed * p.calibration_run_seconds;
    // Room for the full-model run and start-up, and a margin for a busy machine.
    const double suggest_s = 10 * std::ceil((1.3 * need_s + 10) / 10);
    how = fmt::format("the minimum of {} runs needs ~{:.0f} s here; pass --quality-seconds {:.0f}, or more compute "
                      "threads (-t; this profile used {}), or profile on a quieter machine",
                      p.calibration_runs_needed, need_s, suggest_s, p.n_threads);
  }
  std::cerr << fmt::format("WARNING: profile calibration did not finish: {}.\n  The profile has no fitted quality "
                           "model: plans from it are the uniform split (pure SwapMoE), not predictions.\n  To fit one: "
                           "{}.\n",
                           p.calibration_note, how);
}

void run(const ProfileCmdOptions& o) {
  Timer total;
  ProfileOptions po;
  po.model_path = resolve_model_path(o.model);
  po.n_threads = o.threads;
  po.n_ctx = o.ctx;
  po.calibration_ctx = o.calibration_ctx;
  po.calibration_chunks = o.calibration_chunks;
  po.max_configs = o.configs;
  po.quality_seconds = o.quality_seconds;
  po.seed = o.seed;
  po.regressor = o.regressor;
  po.regressor.seed = o.seed;
  std::string last_stage;
  // On a terminal the progress line rewrites itself; in a log, one line per finished stage.
  const bool tty = ::isatty(2) != 0;
  po.progress = [&](const std::string& stage, int done, int n, const std::string& note) {
    if (!tty) {
      if (done == n) std::cerr << fmt::format("[profile {:5.1f}s] {} {}/{} {}\n", total.seconds(), stage, done, n, note);
      return;
    }
    if (stage != last_stage && !last_stage.empty()) std::cerr << "\n";
    last_stage = stage;
    std::cerr << fmt::format("\r[profile {:5.1f}s] {} {}/{} {}\033[K", total.seconds(), stage, done, n, note) << std::flush;
  };
  const std::string out = o.output.empty() ? default_profile_path(po.model_path) : o.output;

  DeviceProfile p;
  if (o.refit) {
    // Only the quality model again, from the calibration runs already in the profile.
    p = DeviceProfile::load(out);
    p.check_model(po.model_path);
    Timer fit;
    p.quality = QualityModel::fit(p.samples, static_cast<int>(p.moe_layers.size()), p.n_expert, p.full_ppl, po.regressor);
    std::cerr << fmt::format("refitted on {} runs in {:.1f} s\n", p.samples.size(), fit.seconds());
    if (p.quality.fitted()) p.calibration_status = "fitted", p.calibration_note.clear();
  } else {
    p = measure_device(po);
  }
  if (o.refit) {
  } else if (o.no_quality) {
    p.intervals = po.intervals;
    p.full_ppl = 1;
    p.quality = QualityModel::fit({}, static_cast<int>(p.moe_layers.size()), p.n_expert, 1.0, po.regressor);
    p.calibration_status = "off";
    p.calibration_note = "the profile was made with --no-quality";
  } else if (Model::load(po.model_path, DenseWeights::LAZY)->config().is_vision()) {
    const std::string cal = o.calibration.empty() ? kDefaultCalibrationImages : o.calibration;
    read_calibration_images(cal, o.calibration_images, o.calibration_order, o.seed, po);
    po.calibration_name = fmt::format("{} ({} images, {} order)", cal, po.calibration_labels.size(), o.calibration_order);
    measure_quality(p, po);
  } else {
    const std::string cal = o.calibration.empty() ? default_calibration_path() : o.calibration;
    po.calibration_text = read_calibration(cal, o.calibration_split);
    po.calibration_name = fmt::format("{} (first {:.0f}%)", cal, 100 * o.calibration_split);
    measure_quality(p, po);
  }
  if (tty) std::cerr << "\n";
  if (!o.refit && !o.no_quality && !p.quality.fitted()) warn_unfitted(p);
  p.save(out);

  std::cout << fmt::format("model      {}: {} MoE layers of {} experts (top-{})\n", po.model_path, p.moe_layers.size(),
                           p.n_expert, p.n_expert_used);
  std::cout << fmt::format("memory     expert {} (slot {}), dense {}, KV cache {} and scratch {} at -c {}\n",
                           format_bytes(p.expert_bytes), format_bytes(p.slot_bytes), format_bytes(p.dense_bytes),
                           format_bytes(p.kv_cache_bytes), format_bytes(p.scratch_bytes), p.n_ctx);
  std::cout << fmt::format("storage    expert load {:.3f} ms ({:.0f} MB/s, {} samples, {}), 4 KiB read {:.3f} ms, "
                           "a token's fetch {:.3f} ms\n",
                           p.expert_load_ms, p.storage_mb_s, p.n_load_samples, p.o_direct ? "O_DIRECT" : "no O_DIRECT",
                           p.read_latency_ms, p.fetch_ms);
  std::cout << fmt::format("compute    expert {:.4f} ms/token, decode step {:.3f} ms, dense part {:.3f} ms ({} threads)\n",
                           p.expert_compute_ms, p.token_compute_ms, p.dense_compute_ms, p.n_threads);
  const QualityFit& f = p.quality.fit_report();
  if (f.chosen == "prior") {
    std::cout << fmt::format("quality    no fitted quality model ({}); plans from this profile are the uniform split\n",
                             unfitted_reason(p));
  } else {
    std::cout << fmt::format("quality    {} runs on {} x {} tokens, full-model ppl {:.3f}; {}-fold CV error of log-ppl: "
                             "MLP {:.4f}, ridge {:.4f} -> {} (ppl within {:.2f}% on average)\n",
                             p.samples.size(), p.calibration_chunks, p.calibration_ctx, p.full_ppl, f.folds,
                             f.cv_rmse_mlp, f.cv_rmse_ridge, f.chosen, f.cv_mean_abs_pct);
  }
  std::cout << fmt::format("wrote {} in {:.1f} s (timing {:.1f} s, quality {:.1f} s)\n", out, total.seconds(),
                           p.seconds_timing, p.seconds_quality);
}

}  // namespace

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileCmdOptions>();
  CLI::App* cmd = app.add_subcommand("profile", "measure a model on this device and fit the planner's quality model");
  cmd->add_option("-m,--model", o->model, "GGUF model file (default: the shipped shakespeare-moe model)");
  cmd->add_option("-o,--output", o->output, "profile file (default: <model>.profile.json, where plan and run look)");
  cmd->add_option("-t,--threads", o->threads, "compute threads (default: all cores)")->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx-size", o->ctx, "context for the KV cache and scratch figures")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--calibration", o->calibration,
                  "calibration text (default: Tiny Shakespeare beside the checkout); for a vision model an IDX images "
                  "file with its labels beside it (default: Fashion-MNIST's training images)");
  cmd->add_option("--calibration-images", o->calibration_images, "vision models: labelled images per calibration run")
      ->capture_default_str()->check(CLI::Range(int64_t{8}, int64_t{1} << 20));
  cmd->add_option("--calibration-order", o->calibration_order,
                  "vision models: the order calibration images stream in (file, shuffled, runs:N)")->capture_default_str();
  cmd->add_option("--calibration-split", o->calibration_split, "share of the calibration file used, from its start (the training split)")
      ->capture_default_str()->check(finite_in(0.01, 1));
  cmd->add_option("--calibration-ctx", o->calibration_ctx, "tokens per calibration chunk")->capture_default_str()->check(CLI::Range(16, 4096));
  cmd->add_option("--calibration-chunks", o->calibration_chunks, "chunks per calibration run")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--configs", o->configs, "configurations run for the quality model")->capture_default_str()->check(CLI::Range(0, 10000));
  cmd->add_option("--quality-seconds", o->quality_seconds, "stop starting calibration runs after this long")->capture_default_str()->check(finite_in(0, 1e7));
  cmd->add_option("--seed", o->seed, "seed for sampled experts and configurations")->capture_default_str();
  cmd->add_flag("--no-quality", o->no_quality, "timings only; plans from the profile are then the uniform split (no fitted quality model)");
  cmd->add_option("--mlp-hidden", o->regressor.hidden, "quality model: MLP hidden units")->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--mlp-epochs", o->regressor.epochs, "quality model: MLP Adam steps")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--mlp-lr", o->regressor.lr, "quality model: MLP learning rate")->capture_default_str()->check(finite_in(1e-9, 10));
  cmd->add_option("--mlp-decay", o->regressor.weight_decay, "quality model: MLP weight decay")->capture_default_str()->check(finite_in(0, 10));
  cmd->add_option("--ridge-lambda", o->regressor.ridge_lambda, "quality model: ridge penalty")->capture_default_str()->check(finite_in(0, 1e9));
  cmd->add_flag("--refit", o->refit, "only fit the quality model again, on the runs already in the profile");
  cmd->callback([o] { run(*o); });
}

}  // namespace swapmoe::cli
