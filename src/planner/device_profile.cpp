#include "planner/device_profile.h"

#include <sys/stat.h>

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

namespace swapmoe {

std::string default_profile_path(const std::string& model_path) { return model_path + ".profile.json"; }

void file_identity(const std::string& path, uint64_t* bytes, int64_t* mtime) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) fail("profile", fmt::format("cannot stat '{}'", path), "check the path");
  *bytes = static_cast<uint64_t>(st.st_size);
  *mtime = static_cast<int64_t>(st.st_mtim.tv_sec);
}

LatencyFigures DeviceProfile::latency_figures() const {
  LatencyFigures f;
  f.dense_compute_ms = dense_compute_ms;
  f.expert_compute_ms = expert_compute_ms;
  f.expert_load_ms = expert_load_ms;
  f.fetch_ms = fetch_ms > 0 ? fetch_ms : expert_load_ms;
  f.n_moe_layers = static_cast<int>(moe_layers.size());
  f.n_expert_used = n_expert_used;
  f.io_threads = io_threads;
  return f;
}

void DeviceProfile::save(const std::string& path) const {
  nlohmann::json samples_j = nlohmann::json::array();
  for (const QualitySample& s : samples)
    samples_j.push_back({{"slots", s.slots},
                         {"update_interval", s.update_interval},
                         {"exact_threshold", s.exact_threshold},
                         {"prefetch_depth", s.prefetch_depth},
                         {"ppl", s.ppl},
                         {"loads_per_token", s.loads_per_token},
                         {"fetches_per_token", s.fetches_per_token},
                         {"prefetches_per_token", s.prefetches_per_token},
                         {"prefetch_hits_per_token", s.prefetch_hits_per_token},
                         {"hit_rate", s.hit_rate},
                         {"fidelity", s.fidelity},
                         {"seconds", s.seconds}});
  const nlohmann::json j = {
      {"format", "swapmoe-profile"},
      {"version", kVersion},
      {"model", {{"path", model_path}, {"file_bytes", model_file_bytes}, {"mtime", model_mtime}}},
      {"shape", {{"n_layer", n_layer}, {"moe_layers", moe_layers}, {"n_expert", n_expert}, {"n_expert_used", n_expert_used}}},
      {"memory",
       {{"expert_bytes", expert_bytes},
        {"slot_bytes", slot_bytes},
        {"dense_bytes", dense_bytes},
        {"kv_cache_bytes", kv_cache_bytes},
        {"scratch_bytes", scratch_bytes},
        {"n_ctx", n_ctx}}},
      {"timing",
       {{"n_threads", n_threads},
        {"o_direct", o_direct},
        {"expert_load_ms", expert_load_ms},
        {"fetch_ms", fetch_ms},
        {"read_latency_ms", read_latency_ms},
        {"storage_mb_s", storage_mb_s},
        {"expert_compute_ms", expert_compute_ms},
        {"token_compute_ms", token_compute_ms},
        {"dense_compute_ms", dense_compute_ms},
        {"max_loads_per_step", max_loads_per_step},
        {"io_threads", io_threads},
        {"n_load_samples", n_load_samples},
        {"n_compute_samples", n_compute_samples},
        {"seconds", seconds_timing}}},
      {"quality",
       {{"calibration", calibration},
        {"ctx", calibration_ctx},
        {"chunks", calibration_chunks},
        {"full_ppl", full_ppl},
        {"intervals", intervals},
        {"thresholds", thresholds},
        {"prefetch_depths", prefetch_depths},
        {"fitted", quality.fitted()},
        {"status", calibration_status},
        {"note", calibration_note},
        {"runs_needed", calibration_runs_needed},
        {"run_seconds", calibration_run_seconds},
        {"samples", samples_j},
        {"model", quality.to_json()},
        {"seconds", seconds_quality}}}};
  // Whole or not at all: a profile cut short by a full disk must not replace a good one.
  write_file_atomically(path, j.dump(1) + "\n", "free some disk space or pass -o to another folder; the profile was not saved");
}

DeviceProfile DeviceProfile::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("profile", fmt::format("cannot open '{}'", path), "make one with `swapmoe profile -m MODEL`");
  DeviceProfile p;
  auto bad = [&](const std::string& what) {
    fail("profile", fmt::format("'{}' is not a valid profile: {}", path, what), "re-run `swapmoe profile -m MODEL`");
  };
  try {
    const auto j = nlohmann::json::parse(in);
    if (!j.is_object() || j.value("format", "") != "swapmoe-profile") bad("it lacks \"format\": \"swapmoe-profile\"");
    if (j.at("version").get<int>() != kVersion)
      bad(fmt::format("version {} (this build reads version {})", j.at("version").get<int>(), kVersion));
    const auto& m = j.at("model");
    p.model_path = m.at("path").get<std::string>();
    p.model_file_bytes = m.at("file_bytes").get<uint64_t>();
    p.model_mtime = m.at("mtime").get<int64_t>();
    const auto& s = j.at("shape");
    p.n_layer = s.at("n_layer").get<int>();
    p.moe_layers = s.at("moe_layers").get<std::vector<int>>();
    p.n_expert = s.at("n_expert").get<int>();
    p.n_expert_used = s.at("n_expert_used").get<int>();
    const auto& mem = j.at("memory");
    p.expert_bytes = mem.at("expert_bytes").get<uint64_t>();
    p.slot_bytes = mem.at("slot_bytes").get<uint64_t>();
    p.dense_bytes = mem.at("dense_bytes").get<uint64_t>();
    p.kv_cache_bytes = mem.at("kv_cache_bytes").get<uint64_t>();
    p.scratch_bytes = mem.at("scratch_bytes").get<uint64_t>();
    p.n_ctx = mem.at("n_ctx").get<int64_t>();
    const auto& t = j.at("timing");
    p.n_threads = t.at("n_threads").get<int>();
    p.o_direct = t.at("o_direct").get<bool>();
    p.expert_load_ms = t.at("expert_load_ms").get<double>();
    p.fetch_ms = t.value("fetch_ms", 0.0);
    p.read_latency_ms = t.at("read_latency_ms").get<double>();
    p.storage_mb_s = t.at("storage_mb_s").get<double>();
    p.expert_compute_ms = t.at("expert_compute_ms").get<double>();
    p.token_compute_ms = t.at("token_compute_ms").get<double>();
    p.dense_compute_ms = t.at("dense_compute_ms").get<double>();
    p.max_loads_per_step = t.value("max_loads_per_step", 1);
    p.io_threads = t.value("io_threads", 4);
    p.n_load_samples = t.value("n_load_samples", 0);
    p.n_compute_samples = t.value("n_compute_samples", 0);
    p.seconds_timing = t.value("seconds", 0.0);
    const auto& q = j.at("quality");
    p.calibration = q.value("calibration", "");
    p.calibration_ctx = q.value("ctx", int64_t{0});
    p.calibration_chunks = q.value("chunks", int64_t{0});
    p.full_ppl = q.at("full_ppl").get<double>();
    p.intervals = q.at("intervals").get<std::vector<int>>();
    p.thresholds = q.value("thresholds", std::vector<double>{kPureSwapMoe});
    p.prefetch_depths = q.value("prefetch_depths", std::vector<int>{0});
    p.calibration_status = q.value("status", "");
    p.calibration_note = q.value("note", "");
    p.calibration_runs_needed = q.value("runs_needed", 0);
    p.calibration_run_seconds = q.value("run_seconds", 0.0);
    for (const auto& js : q.at("samples")) {
      QualitySample x;
      x.slots = js.at("slots").get<std::vector<int>>();
      x.update_interval = js.at("update_interval").get<int>();
      x.exact_threshold = js.value("exact_threshold", kPureSwapMoe);
      x.prefetch_depth = js.value("prefetch_depth", 0);
      x.ppl = js.at("ppl").get<double>();
      x.loads_per_token = js.value("loads_per_token", 0.0);
      x.fetches_per_token = js.value("fetches_per_token", 0.0);
      x.prefetches_per_token = js.value("prefetches_per_token", 0.0);
      x.prefetch_hits_per_token = js.value("prefetch_hits_per_token", 0.0);
      x.hit_rate = js.value("hit_rate", 0.0);
      x.fidelity = js.value("fidelity", 0.0);
      x.seconds = js.value("seconds", 0.0);
      p.samples.push_back(std::move(x));
    }
    p.seconds_quality = q.value("seconds", 0.0);
    p.quality = QualityModel::from_json(q.at("model"));
  } catch (const nlohmann::json::exception& e) {
    bad(e.what());
  }
  if (p.n_expert < 1 || p.n_expert_used < 1 || p.n_expert_used > p.n_expert) bad("inconsistent expert counts");
  if (p.moe_layers.empty()) bad("no MoE layers");
  for (int l : p.moe_layers)
    if (l < 0 || l >= p.n_layer) bad(fmt::format("MoE layer {} outside 0..{}", l, p.n_layer - 1));
  if (p.quality.n_layers() != static_cast<int>(p.moe_layers.size())) bad("the quality model's layers differ from the shape's");
  if (p.intervals.empty()) bad("no update intervals");
  for (int i : p.intervals)
    if (i < 1) bad(fmt::format("update interval {}", i));
  if (p.thresholds.empty() || p.prefetch_depths.empty()) bad("no exact thresholds or prefetch depths");
  for (double t : p.thresholds)
    if (!(t >= 0)) bad(fmt::format("exact threshold {}", t));
  for (int d : p.prefetch_depths)
    if (d < 0) bad(fmt::format("prefetch depth {}", d));
  if (!(p.expert_load_ms >= 0) || !(p.expert_compute_ms >= 0) || !(p.dense_compute_ms >= 0)) bad("negative timings");
  return p;
}

void DeviceProfile::check_model(const std::string& path) const {
  uint64_t bytes = 0;
  int64_t mtime = 0;
  file_identity(path, &bytes, &mtime);
  if (bytes != model_file_bytes || mtime != model_mtime)
    fail("profile",
         fmt::format("the profile was made for '{}' ({} bytes, mtime {}), but '{}' is {} bytes, mtime {}", model_path,
                     model_file_bytes, model_mtime, path, bytes, mtime),
         fmt::format("re-run `swapmoe profile -m {}`", path));
}

}  // namespace swapmoe
