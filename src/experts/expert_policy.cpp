#include "experts/expert_policy.h"

#include <fmt/format.h>

#include "core/error.h"
#include "experts/policies.h"

namespace swapmoe {

PolicyKind parse_policy(const std::string& name) {
  if (name == "full") return PolicyKind::FULL;
  if (name == "prune") return PolicyKind::PRUNE;
  if (name == "ondemand") return PolicyKind::ONDEMAND;
  if (name == "cache") return PolicyKind::CACHE;
  if (name == "swapmoe") return PolicyKind::SWAPMOE;
  fail("policy", fmt::format("unknown policy '{}'", name), "choose one of: full, prune, ondemand, cache, swapmoe");
}

const char* policy_name(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::FULL: return "full";
    case PolicyKind::PRUNE: return "prune";
    case PolicyKind::ONDEMAND: return "ondemand";
    case PolicyKind::CACHE: return "cache";
    case PolicyKind::SWAPMOE: return "swapmoe";
  }
  return "?";
}

void ExpertPolicy::fetch_into(ExpertCache& cache, const ExpertStore& store, int entry, int layer, int expert) {
  try {
    const StallClock clock(stats_);
    store.read(layer, expert, cache.buffer(entry));
  } catch (...) {
    cache.abandon(entry);
    throw;
  }
  cache.commit(entry);
  ++stats_.loads;
  ++stats_.fetches;
  stats_.bytes_read += store.expert_bytes(layer);
  note_stall();
}

std::vector<int> FullExperts::slots() const {
  std::vector<int> s(model_.layers.size(), 0);
  for (size_t l = 0; l < s.size(); ++l)
    if (model_.layers[l].is_moe) s[l] = static_cast<int>(model_.config().n_expert);
  return s;
}

std::unique_ptr<ExpertPolicy> make_policy(PolicyKind kind, const ExpertStore& store,
                                          std::vector<std::vector<float>> magnitudes,
                                          const std::vector<int>& slots, const PolicyOptions& options) {
  switch (kind) {
    case PolicyKind::FULL: return std::make_unique<FullExperts>(store.model());
    case PolicyKind::PRUNE: return std::make_unique<PruneExperts>(store, std::move(magnitudes), slots);
    case PolicyKind::ONDEMAND: return std::make_unique<OnDemandExperts>(store, slots);
    case PolicyKind::CACHE:
      return std::make_unique<CacheExperts>(store, slots, options.eviction, options.io_threads, options.prefetch_depth,
                                            options.swapmoe.deterministic);
    case PolicyKind::SWAPMOE:
      return std::make_unique<SwapMoeExperts>(store, std::move(magnitudes), slots, options.swapmoe, options.io_threads,
                                              options.prefetch_depth);
  }
  return nullptr;
}

}  // namespace swapmoe
