#include "planner/profiler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/timer.h"
#include "experts/expert_loader.h"
#include "experts/expert_policy.h"  // PolicyOptions
#include "experts/expert_store.h"
#include "io/direct_reader.h"
#include "kernels/matmul.h"
#include "model/ops.h"
#include "model/transformer.h"
#include "planner/config_sampler.h"
#include "runtime/engine.h"
#include "runtime/image_classifier.h"
#include "runtime/perplexity.h"

namespace swapmoe {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Compute timings on a shared machine have a long upper tail (threads descheduled in the
// middle of a matmul); the lower quartile is stable from run to run and keeps the expert and
// the decode-step figures comparable with each other.
double lower_quartile(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 4];
}

template <typename T>
std::vector<T> sorted_unique(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

void report(const ProfileOptions& o, const std::string& stage, int done, int total, const std::string& note = {}) {
  if (o.progress) o.progress(stage, done, total, note);
}

// Every expert resident, one loaded buffer per MoE layer standing in for all of its experts:
// a decode step computes exactly what the runtime computes, without the model's expert bytes.
class OneBufferPerLayer final : public ExpertProvider {
 public:
  OneBufferPerLayer(const ExpertStore& store, const std::vector<const uint8_t*>& buffers)
      : store_(store), buffers_(buffers) {}
  const uint8_t* usable_mask(int) override { return nullptr; }
  bool is_resident(int, int) override { return true; }
  ExpertWeights acquire(int layer, int) override { return store_.views(layer, buffers_[layer]); }
  void observe(int, int64_t, int, const int32_t*, const float*, const float*) override {}
  void layer_boundary(int) override {}
  void step_end(int64_t) override {}

 private:
  const ExpertStore& store_;
  std::vector<const uint8_t*> buffers_;
};

// gate, up, SwiGLU, down for one token: what the MoE layer spends per routed expert.
double time_expert(const ExpertWeights& w, const std::vector<float>& x, std::vector<float>& g,
                   std::vector<float>& u, std::vector<float>& y, ThreadPool& pool) {
  Timer t;
  matmul(w.gate, x.data(), 1, g.data(), pool);
  matmul(w.up, x.data(), 1, u.data(), pool);
  swiglu(g.data(), u.data(), g.data(), static_cast<int64_t>(g.size()));
  matmul(w.down, g.data(), 1, y.data(), pool);
  return t.seconds();
}

}  // namespace

std::string calibration_excerpt(const std::string& text, size_t n_bytes, int n_pieces) {
  if (n_bytes >= text.size() || n_pieces < 1) return text;
  const size_t piece = n_bytes / n_pieces, stride = text.size() / n_pieces;
  std::string out;
  for (int i = 0; i < n_pieces; ++i) {
    size_t begin = static_cast<size_t>(i) * stride;
    if (begin > 0) {
      const size_t nl = text.find('\n', begin);
      begin = nl == std::string::npos ? begin : nl + 1;
    }
    if (begin >= text.size()) break;
    out.append(text, begin, std::min(piece, text.size() - begin));
  }
  return out;
}

DeviceProfile measure_device(const ProfileOptions& o) {
  Timer total;
  DeviceProfile p;
  p.model_path = o.model_path;
  file_identity(o.model_path, &p.model_file_bytes, &p.model_mtime);
  // Weights laid out as the engine lays them out by default (interleaved where that pays), so
  // the times measured are those of the kernels it runs.
  const std::unique_ptr<Model> model = Model::load(o.model_path, DenseWeights::OWNED, true);
  const ModelConfig& c = model->config();
  if (!c.is_moe()) fail("profile", fmt::format("{} is a dense model", o.model_path), "profiles are for MoE models");
  p.n_layer = static_cast<int>(c.n_layer);
  for (size_t l = 0; l < model->layers.size(); ++l)
    if (model->layers[l].is_moe) p.moe_layers.push_back(static_cast<int>(l));
  p.n_expert = static_cast<int>(c.n_expert);
  p.n_expert_used = static_cast<int>(c.n_expert_used);
  p.n_threads = o.n_threads > 0 ? o.n_threads : default_thread_count();
  ThreadPool pool(p.n_threads);
  DirectFileReader reader(o.model_path);
  ExpertStore store(*model, reader, true);
  p.expert_bytes = store.expert_bytes(p.moe_layers[0]);
  p.slot_bytes = store.buffer_bytes();
  p.dense_bytes = model->dense_bytes();
  p.n_ctx = o.n_ctx;
  RunShape run;
  run.n_ctx = o.n_ctx;
  run.n_ubatch = 1;
  run.n_threads = p.n_threads;
  p.kv_cache_bytes = kv_cache_bytes(c, run);
  p.scratch_bytes = scratch_sizes(c, run).bytes();

  // Loads: random (layer, expert) pairs, as swapping reads them, each from storage (O_DIRECT).
  std::vector<std::pair<int, int>> pairs;
  for (int l : p.moe_layers)
    for (int e = 0; e < p.n_expert; ++e) pairs.emplace_back(l, e);
  std::mt19937_64 rng(o.seed);
  for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng() % i]);
  const int n_loads = std::min<int>(o.max_load_samples, static_cast<int>(pairs.size()));
  const int n_keep = std::max<int>(1, std::min<int>(o.max_compute_samples,
                                                    static_cast<int>(o.max_compute_bytes / p.slot_bytes)));
  std::vector<AlignedBuffer> kept;
  std::vector<double> load_s;
  Timer load_timer;
  AlignedBuffer scratch(p.slot_bytes, 4096);
  for (int i = 0; i < n_loads; ++i) {
    if (i >= 8 && load_timer.seconds() > o.max_load_seconds) break;
    uint8_t* dst = scratch.data();
    if (static_cast<int>(kept.size()) < n_keep) kept.emplace_back(p.slot_bytes, 4096), dst = kept.back().data();
    Timer t;
    store.read(pairs[i].first, pairs[i].second, dst);
    load_s.push_back(t.seconds());
    report(o, "expert loads", i + 1, n_loads, fmt::format("{:.2f} ms", 1e3 * load_s.back()));
  }
  p.n_load_samples = static_cast<int>(load_s.size());
  p.o_direct = reader.uses_o_direct();
  p.expert_load_ms = 1e3 * median(load_s);
  p.storage_mb_s = p.expert_load_ms > 0 ? static_cast<double>(p.expert_bytes) / 1e6 / (p.expert_load_ms / 1e3) : 0;
  std::vector<double> lat_s;
  if (reader.size() >= 2 * DirectFileReader::kAlignment) {
    const uint64_t n_pages = reader.size() / DirectFileReader::kAlignment - 1;
    for (int i = 0; i < 16; ++i) {
      Timer t;
      reader.read_aligned((rng() % n_pages) * DirectFileReader::kAlignment, DirectFileReader::kAlignment, scratch.data());
      lat_s.push_back(t.seconds());
    }
  }
  p.read_latency_ms = 1e3 * median(lat_s);

  // Fetches: a token's wait for one expert through the runtime's loader (read_now: its readers
  // take gate, up and down in parallel, the token's thread sleeps until they finish). On a busy
  // machine the wake-ups cost more than the read, and the mean holds that tail.
  {
    ExpertLoader loader(store, PolicyOptions{}.io_threads);
    std::vector<double> fetch_s;
    Timer fetch_timer;
    for (int i = 0; i < n_loads; ++i) {
      if (i >= 8 && fetch_timer.seconds() > o.max_load_seconds) break;
      const auto& [layer, expert] = pairs[pairs.size() - 1 - i];  // not the experts just read
      const LoadRequest request{layer, expert, scratch.data()};
      Timer t;
      loader.read_now({&request, 1});
      fetch_s.push_back(t.seconds());
    }
    p.fetch_ms = fetch_s.empty() ? p.expert_load_ms
                                 : 1e3 * std::accumulate(fetch_s.begin(), fetch_s.end(), 0.0) / fetch_s.size();
    report(o, "fetches", static_cast<int>(fetch_s.size()), static_cast<int>(fetch_s.size()),
           fmt::format("{:.3f} ms", p.fetch_ms));
  }

  // Expert compute: one token through each kept expert, rotating buffers so that the weights
  // come from memory rather than from the cache of the previous round.
  std::vector<float> x(c.n_embd), g(c.n_ff), u(c.n_ff), y(c.n_embd);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  std::vector<double> compute_s;
  const int rounds = 5;
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < kept.size(); ++i) {
      const double s = time_expert(store.views(pairs[i].first, kept[i].data()), x, g, u, y, pool);
      if (r > 0) compute_s.push_back(s);  // round 0 warms up the threads and the kernels
    }
    report(o, "expert compute", r + 1, rounds);
  }
  p.n_compute_samples = static_cast<int>(kept.size());
  p.expert_compute_ms = 1e3 * lower_quartile(compute_s);

  // A decode step: every expert resident (one loaded buffer per layer), one token at a time.
  std::vector<AlignedBuffer> layer_buf;
  std::vector<const uint8_t*> views(model->layers.size(), nullptr);
  for (int l : p.moe_layers) {
    layer_buf.emplace_back(p.slot_bytes, 4096);
    store.read(l, 0, layer_buf.back().data());
    views[l] = layer_buf.back().data();
  }
  OneBufferPerLayer provider(store, views);
  const int warm = 3, steps = std::max(4, o.decode_steps);
  if (c.is_vision()) {
    // A vision model's step is a batch of images, as classify runs it; its cost per token is
    // what the cost model scales by the tokens of a run.
    RunShape run;
    run.n_ctx = c.vision.n_tokens();
    run.n_ubatch = run.n_ctx * kDefaultImageBatch;
    run.n_sessions = kDefaultImageBatch;
    run.type_k = run.type_v = GgmlType::F32;
    Transformer tf(*model, run, pool, &provider);
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<KvCache*> kvs;
    for (int i = 0; i < kDefaultImageBatch; ++i) kvs.push_back(caches.emplace_back(std::make_unique<KvCache>(c, run)).get());
    std::vector<float> pixels(static_cast<size_t>(kDefaultImageBatch * c.vision.pixels()));
    for (float& v : pixels) v = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
    std::vector<double> batch_s;
    for (int i = 0; i < warm + steps; ++i) {
      Timer t;
      tf.forward_images(kvs, pixels.data());
      if (i >= warm) batch_s.push_back(t.seconds());
      report(o, "image batches", i + 1, warm + steps);
    }
    p.token_compute_ms = 1e3 * lower_quartile(batch_s) / static_cast<double>(run.n_ubatch);
    const double experts_ms = static_cast<double>(p.moe_layers.size()) * p.n_expert_used * p.expert_compute_ms;
    p.dense_compute_ms = std::max(p.token_compute_ms - experts_ms, 0.1 * p.token_compute_ms);
    p.seconds_timing = total.seconds();
    return p;
  }
  RunShape steps_run;
  steps_run.n_ctx = warm + steps + 1;
  steps_run.n_ubatch = 1;
  Transformer tf(*model, steps_run, pool, &provider);
  KvCache kv(c, steps_run);
  std::vector<double> step_s;
  for (int i = 0; i < warm + steps; ++i) {
    const int32_t token = static_cast<int32_t>(rng() % c.n_vocab);
    Timer t;
    tf.forward(kv, {&token, 1}, i);
    if (i >= warm) step_s.push_back(t.seconds());
    report(o, "decode steps", i + 1, warm + steps);
  }
  p.token_compute_ms = 1e3 * lower_quartile(step_s);
  const double experts_ms = static_cast<double>(p.moe_layers.size()) * p.n_expert_used * p.expert_compute_ms;
  // The difference is what attention, router, norms and the output layer cost. Timing noise can
  // push it below zero on tiny models; a tenth of the step is a floor no real model goes under.
  p.dense_compute_ms = std::max(p.token_compute_ms - experts_ms, 0.1 * p.token_compute_ms);
  p.seconds_timing = total.seconds();
  return p;
}

void measure_quality(DeviceProfile& p, const ProfileOptions& o) {
  Timer total;
  p.intervals = sorted_unique(o.intervals);
  p.thresholds = sorted_unique(o.thresholds);
  p.prefetch_depths = sorted_unique(o.prefetch_depths);
  const int n_moe = static_cast<int>(p.moe_layers.size());
  const int min_samples = QualityModel::min_samples(n_moe);
  p.calibration_runs_needed = min_samples;
  p.samples.clear();
  // No fitted model: the prior stands in, and the profile says why (the CLI warns, plans say
  // they are the uniform split).
  auto keep_prior = [&](const std::string& status, double run_seconds, const std::string& note) {
    p.calibration_status = status;
    p.calibration_run_seconds = run_seconds;
    p.calibration_note = note;
    p.quality = QualityModel::fit({}, n_moe, p.n_expert, p.full_ppl > 0 ? p.full_ppl : 1.0, o.regressor);
    p.seconds_quality = total.seconds();
    report(o, "calibration", 0, 0, note + "; using the prior");
  };

  // Fit the calibration size to the time: enough configurations must fit for a model. A vision
  // model's calibration is images (each of n_tokens tokens), shrunk the same way.
  const int64_t image_tokens = Model::load(o.model_path, DenseWeights::LAZY)->config().vision.n_tokens();
  const bool vision = image_tokens > 1;
  int64_t ctx = vision ? image_tokens : o.calibration_ctx;
  int64_t chunks = vision ? static_cast<int64_t>(o.calibration_labels.size()) : o.calibration_chunks;
  if (vision && chunks == 0)
    fail("profile", "a vision model is calibrated on labelled images and none were given",
         "pass --calibration with an IDX images file whose labels are beside it");
  const double token_s = std::max(1e-6, p.token_compute_ms / 1e3);
  const int64_t min_chunks = vision ? std::min<int64_t>(chunks, 32) : 1;
  while (static_cast<double>(ctx * chunks) * token_s * min_samples > 0.8 * o.quality_seconds &&
         (chunks > min_chunks || (!vision && ctx > 32))) {
    if (chunks > min_chunks) chunks = vision ? std::max(min_chunks, chunks / 2) : chunks - 1;
    else ctx /= 2;
  }
  p.calibration_ctx = ctx;
  p.calibration_chunks = chunks;
  p.calibration = o.calibration_name;
  // A run costs its tokens plus the cold start (half of all experts read, on average). When
  // not even the minimum number of runs fits, none is started: the prior stands in, and the
  // report says so, rather than minutes spent on a model that could not be fitted.
  const double run_s = static_cast<double>(ctx * chunks) * token_s +
                       0.5 * n_moe * p.n_expert * p.expert_load_ms / 1e3;
  p.full_ppl = 1;
  if (o.max_configs < min_samples) {
    keep_prior("too few configurations", run_s,
               fmt::format("skipped: --configs {} is below the {} runs a fit needs", o.max_configs, min_samples));
    return;
  }
  if (run_s * min_samples > o.quality_seconds) {
    keep_prior("skipped", run_s,
               fmt::format("skipped: {} runs of ~{:.2f} s (~{:.0f} s) exceed --quality-seconds {:g}", min_samples, run_s,
                           run_s * min_samples, o.quality_seconds));
    return;
  }

  EngineOptions base;
  base.model_path = o.model_path;
  base.n_threads = p.n_threads;
  base.n_ctx = ctx;
  base.all_logits = true;  // the calibration's perplexity
  // Reference: every expert resident.
  EngineOptions full_o = base;
  full_o.policy = "full";
  full_o.n_ubatch = 64;
  if (vision) full_o = vision_engine_options(full_o, kDefaultImageBatch);
  Engine full(full_o);
  // The calibration's quality: the text's perplexity, or the labels' perplexity of the images.
  const int64_t run_chunks = chunks;
  std::string text;
  auto calibration_ppl = [&](Engine& engine) {
    if (!vision) return perplexity(engine, text, ctx, {}, run_chunks).ppl;
    ImageClassifier classifier(engine);
    return score_labels(classifier, o.calibration_pixels.data(), o.calibration_labels.data(), run_chunks).perplexity();
  };
  // Enough text for the chunks: the tokenizer says how many bytes that takes.
  size_t n_bytes = static_cast<size_t>(ctx * chunks) * 4 + 256;
  for (; !vision;) {
    text = calibration_excerpt(o.calibration_text, n_bytes, static_cast<int>(chunks));
    const int64_t n_tok = static_cast<int64_t>(full.tokenizer().encode(text, full.tokenizer().add_bos()).size());
    if (n_tok >= std::max<int64_t>(2, chunks) * ctx + 1) break;
    if (text.size() >= o.calibration_text.size())
      fail("profile", fmt::format("the calibration text has {} tokens, fewer than {} chunks of {}", n_tok, chunks, ctx),
           "pass a longer --calibration text");
    n_bytes *= 2;
  }
  p.full_ppl = calibration_ppl(full);
  report(o, "calibration", 0, o.max_configs,
         vision ? fmt::format("full model label ppl {:.4f} on {} images", p.full_ppl, chunks)
                : fmt::format("full model ppl {:.3f}, ctx {} x {} chunks", p.full_ppl, ctx, chunks));

  SearchSpace space;
  space.n_layers = n_moe;
  space.n_expert = p.n_expert;
  space.intervals = p.intervals;
  space.thresholds = p.thresholds;
  space.prefetch_depths = p.prefetch_depths;
  const std::vector<Configuration> configs = sample_configurations(space, o.max_configs, o.seed);
  Timer runs;
  for (size_t i = 0; i < configs.size(); ++i) {
    const bool short_of_minimum = static_cast<int>(i) < min_samples;
    const double per_run = i > 0 ? runs.seconds() / static_cast<double>(i) : run_s;
    // The estimate above can be off (engine start-up, exact fetches, a busy machine): after real
    // runs, give up early when the minimum number of runs cannot fit any more.
    if (short_of_minimum && (total.seconds() > o.quality_seconds ||
                             (i > 0 && per_run * min_samples > o.quality_seconds))) {
      keep_prior("stopped", per_run,
                 fmt::format("stopped after {} of {} runs: runs take ~{:.2f} s, so {} (~{:.0f} s) exceed "
                             "--quality-seconds {:g}",
                             i, min_samples, per_run, min_samples, per_run * min_samples, o.quality_seconds));
      return;
    }
    if (total.seconds() > o.quality_seconds) break;
    const Configuration& cfg = configs[i];
    EngineOptions eo = base;
    eo.policy = "swapmoe";
    eo.n_ubatch = 1;  // token by token, as in decoding: experts can change between tokens
    eo.budget = Budget::experts("100%");  // any share: the plan's slots override it
    eo.plan_slots.assign(p.n_layer, 0);
    for (int l = 0; l < n_moe; ++l) eo.plan_slots[p.moe_layers[l]] = cfg.slots[l];
    eo.swapmoe.update_interval = cfg.update_interval;
    eo.swapmoe.exact_threshold = cfg.exact_threshold;
    eo.prefetch_depth = cfg.prefetch_depth;
    eo.swapmoe.deterministic = true;  // repeatable quality figures: loads land one step later
    p.io_threads = eo.io_threads;
    p.max_loads_per_step = eo.swapmoe.max_loads_per_step;
    eo.plan_source = "profile";
    if (vision) eo = vision_engine_options(eo, kDefaultImageBatch);  // batches of images, as classify runs
    Timer t;
    Engine engine(eo);
    const double run_ppl = calibration_ppl(engine);
    const ExpertStats& s = engine.policy().stats();
    const ExpertStats& s0 = engine.startup_stats();
    const RoutingStats& rs = engine.transformer().routing_stats();
    const double tokens = static_cast<double>(std::max<uint64_t>(1, s.tokens - s0.tokens));
    QualitySample q;
    q.slots = cfg.slots;
    q.update_interval = cfg.update_interval;
    q.exact_threshold = cfg.exact_threshold;
    q.prefetch_depth = cfg.prefetch_depth;
    q.ppl = run_ppl;
    q.loads_per_token = static_cast<double>(s.loads - s0.loads) / tokens;
    q.fetches_per_token = static_cast<double>(s.fetches - s0.fetches) / tokens;
    q.prefetches_per_token = static_cast<double>(s.prefetches - s0.prefetches) / tokens;
    q.prefetch_hits_per_token = static_cast<double>(s.prefetch_hits - s0.prefetch_hits) / tokens;
    q.hit_rate = rs.hit_rate();
    q.fidelity = rs.fidelity();
    q.seconds = t.seconds();
    p.samples.push_back(q);
    const int total_slots = std::accumulate(cfg.slots.begin(), cfg.slots.end(), 0);
    report(o, "calibration", static_cast<int>(i) + 1, static_cast<int>(configs.size()),
           fmt::format("{} slots, interval {}, threshold {:g}, prefetch {}: ppl {:.3f}", total_slots,
                       cfg.update_interval, cfg.exact_threshold, cfg.prefetch_depth, q.ppl));
  }
  report(o, "fit", 0, 1, fmt::format("{} samples", p.samples.size()));
  p.quality = QualityModel::fit(p.samples, n_moe, p.n_expert, p.full_ppl, o.regressor);
  p.calibration_status = "fitted";
  p.calibration_note.clear();
  p.calibration_run_seconds = runs.seconds() / static_cast<double>(std::max<size_t>(1, p.samples.size()));
  p.seconds_quality = total.seconds();
  report(o, "fit", 1, 1, p.quality.fit_report().chosen);
}

}  // namespace swapmoe
