// ExpertPolicy: an ExpertProvider that keeps experts in memory slots under a budget.
//
// Policies (the paper's baselines and SwapMoE itself) share the slot bookkeeping below and
// differ in which experts they keep, when they load, and whether routing is masked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "core/timer.h"
#include "experts/expert_cache.h"
#include "experts/expert_store.h"
#include "model/expert_provider.h"

namespace swapmoe {

struct ExpertStats {
  uint64_t loads = 0;          // experts read from storage (cold start and warm-up included)
  uint64_t bytes_read = 0;     // bytes read from storage
  uint64_t stalls = 0;         // tokens that waited for a synchronous load
  uint64_t fetches = 0;        // experts read while a token waited (misses of exact routing)
  uint64_t prefetches = 0;     // experts read because a prediction named them
  uint64_t prefetch_hits = 0;  // of those, routed to while resident (the read was of use)
  uint64_t swaps = 0;          // slot switches to a newly loaded expert
  uint64_t tokens = 0;         // tokens processed
  double stall_seconds = 0;    // time tokens spent waiting for those loads
};

enum class PolicyKind { FULL, PRUNE, ONDEMAND, CACHE, SWAPMOE };
PolicyKind parse_policy(const std::string& name);  // throws with the list of policies
const char* policy_name(PolicyKind kind);

struct SwapMoeOptions {
  int update_interval = 8;      // tokens between updates of the wanted set
  int max_loads_per_step = 1;   // loads started per token step (amortisation)
  int staging_buffers = 2;      // loads in flight at once; each buffer counts against the budget
  // Importance decays with this half-life in tokens; 0 resets it after each update (the paper).
  // A long decay won on the default model at 25/50/75% of the experts (docs/method-decisions.md).
  double half_life = 4096;
  bool warm_after_prefill = true;  // load the prompt's wanted experts before decoding starts
  // Wait at the end of each step for the loads it started, so that every load lands exactly one
  // step later. Quality measurements (perplexity, planner calibration) use it to be repeatable:
  // with free-running loads, when a switch lands depends on the machine's load.
  bool deterministic = false;
  // Exact when it matters: a routed choice that misses the resident experts and carries at least
  // this share of its token's top-k weight is read before the layer runs (the token waits);
  // lighter misses are masked. 0 waits for every miss; above 1 never waits (pure SwapMoE).
  double exact_threshold = 2.0;
};

// Everything the policies take besides their slots.
struct PolicyOptions {
  SwapMoeOptions swapmoe;
  Eviction eviction = Eviction::LRU;  // cache: which expert leaves when one must
  // Reads in flight at once: the cache's misses of a layer and swapmoe's exact fetches are read in
  // parallel (each expert's gate, up and down apart), so a token waits for the slowest read.
  int io_threads = 4;
  // Prediction: start reading the experts that the next MoE layers' routers, applied to the
  // current hidden state, choose; this many layers ahead (0: off). Cache and swapmoe.
  int prefetch_depth = 0;
};

class ExpertPolicy : public ExpertProvider {
 public:
  ~ExpertPolicy() override = default;

  virtual PolicyKind kind() const = 0;
  // Slots per layer (0 for dense layers). Lowering frees memory before returning; raising
  // allocates the new slots (filled by the policy's own rule).
  virtual void set_slots(const std::vector<int>& slots_per_layer) = 0;
  virtual std::vector<int> slots() const = 0;
  // Bytes of expert memory held now: slots and staging buffers.
  virtual uint64_t resident_bytes() const = 0;
  virtual void finish_prefill() {}
  virtual void set_update_interval(int) {}
  // swapmoe's exact threshold (SwapMoeOptions::exact_threshold), when a re-plan changes it.
  virtual void set_exact_threshold(double) {}

  const ExpertStats& stats() const { return stats_; }

 protected:
  // A token of this step waited for storage.
  void note_stall() { step_stalled_ = true; }
  // Adds the time from its construction to its end to stats_.stall_seconds: wraps each wait of a
  // token on storage (not the waits of --deterministic, which only pin down when loads land).
  class StallClock {
   public:
    explicit StallClock(ExpertStats& stats) : stats_(stats) {}
    ~StallClock() { stats_.stall_seconds += timer_.seconds(); }
    StallClock(const StallClock&) = delete;
    StallClock& operator=(const StallClock&) = delete;

   private:
    ExpertStats& stats_;
    Timer timer_;
  };
  // Counts a finished step's tokens, and them as stalled when one waited.
  void count_step(int64_t n_tokens) {
    stats_.tokens += n_tokens;
    if (step_stalled_) stats_.stalls += n_tokens;
    step_stalled_ = false;
  }
  // Reads (layer, expert) into a reserved cache entry while a token waits, and commits it; on a
  // failed read the entry is abandoned (never mapped to a half-read buffer) and the error thrown.
  void fetch_into(ExpertCache& cache, const ExpertStore& store, int entry, int layer, int expert);

  ExpertStats stats_;

 private:
  bool step_stalled_ = false;
};

// Creates a policy over `store`. magnitudes: ||E_i|| per layer (from expert_magnitudes()).
std::unique_ptr<ExpertPolicy> make_policy(PolicyKind kind, const ExpertStore& store,
                                          std::vector<std::vector<float>> magnitudes,
                                          const std::vector<int>& slots_per_layer, const PolicyOptions& options);

// Per-layer slot bookkeeping shared by prune and swapmoe: a slot holds one expert's buffer.
class SlotTable {
 public:
  void init(int n_layers, int n_expert);
  int n_slots(int layer) const { return static_cast<int>(layers_[layer].slot_expert.size()); }
  int slot_of(int layer, int expert) const { return layers_[layer].expert_slot[expert]; }
  int expert_in(int layer, int slot) const { return layers_[layer].slot_expert[slot]; }
  uint8_t* buffer(int layer, int slot) { return layers_[layer].buffers[slot].data(); }
  const uint8_t* mask(int layer) const { return layers_[layer].mask.data(); }
  bool resident(int layer, int expert) const { return layers_[layer].mask[expert] != 0; }
  int n_resident(int layer) const;
  uint64_t n_buffers() const;

  // Adds an empty slot with a new buffer of n_bytes.
  void add_slot(int layer, uint64_t n_bytes);
  // Removes a slot (its expert, if any, stops being resident) and frees its buffer.
  void remove_slot(int layer, int slot);
  // Puts `expert` in `slot` (evicting what was there). The buffer must already hold its bytes.
  void assign(int layer, int slot, int expert);
  // Empties the slot (its expert stops being resident) and keeps its buffer for a new one.
  void clear(int layer, int slot);
  // Swaps the slot's buffer with `other` (a loaded staging buffer) and assigns `expert`.
  void install(int layer, int slot, int expert, AlignedBuffer& other);

 private:
  struct Layer {
    std::vector<int> slot_expert;  // slot -> expert, -1 when empty
    std::vector<int> expert_slot;  // expert -> slot, -1 when not resident
    std::vector<uint8_t> mask;     // expert -> resident
    std::vector<AlignedBuffer> buffers;
  };
  std::vector<Layer> layers_;
};

}  // namespace swapmoe
