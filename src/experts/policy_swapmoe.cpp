// swapmoe: the Virtual Experts of Kong et al. (ACL 2024). Routing is masked to the resident
// experts, importance (Eq. 1) is scored from the unmasked routing, and every update_interval
// tokens the wanted set per layer becomes the top-S_l experts by importance; missing ones are
// read by a background thread, at most max_loads_per_step started per token, and switched in
// only at a layer boundary once their read has completed. No token ever waits on storage, unless
// an exact threshold asks it to for the choices that carry its output (prepare_layer).
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "core/error.h"
#include "core/timer.h"
#include "experts/policies.h"

namespace swapmoe {

namespace {
// A routed choice's share of its token's top-k weight (an even split when the weights sum to 0).
float share_of(const float* w, int k, int j) {
  float sum = 0;
  for (int i = 0; i < k; ++i) sum += w[i];
  return sum > 0 ? w[j] / sum : 1.0f / static_cast<float>(k);
}
}  // namespace

SwapMoeExperts::SwapMoeExperts(const ExpertStore& store, std::vector<std::vector<float>> magnitudes,
                               const std::vector<int>& slots, const SwapMoeOptions& options, int io_threads,
                               int prefetch_depth)
    : store_(store), magnitudes_(std::move(magnitudes)), options_(options), prefetch_depth_(std::max(0, prefetch_depth)) {
  const int n_layers = static_cast<int>(store.model().layers.size());
  const int n_expert = static_cast<int>(store.model().config().n_expert);
  table_.init(n_layers, n_expert);
  importance_.assign(n_layers, std::vector<double>(n_expert, 0.0));
  wanted_.assign(n_layers, std::vector<uint8_t>(n_expert, 0));
  predicted_.assign(n_layers, std::vector<uint8_t>(n_expert, 0));
  prefetched_.assign(n_layers, std::vector<uint8_t>(n_expert, 0));
  if (options_.update_interval < 1) options_.update_interval = 1;
  if (options_.max_loads_per_step < 1) options_.max_loads_per_step = 1;
  for (int i = 0; i < std::max(1, options_.staging_buffers); ++i) staging_.emplace_back(store.buffer_bytes(), 4096);
  loader_ = std::make_unique<ExpertLoader>(store, io_threads);

  // Cold start: before any routing is seen, the largest experts by magnitude.
  for (int l = 0; l < n_layers; ++l) {
    if (!store.model().layers[l].is_moe) continue;
    std::vector<int> order(n_expert);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return magnitudes_[l][a] > magnitudes_[l][b]; });
    const int s = std::min(slots[l], n_expert);
    for (int i = 0; i < s; ++i) {
      table_.add_slot(l, store.buffer_bytes());
      store.read(l, order[i], table_.buffer(l, i));
      table_.assign(l, i, order[i]);
      wanted_[l][order[i]] = 1;
      ++stats_.loads;
      stats_.bytes_read += store.expert_bytes(l);
    }
  }
}

SwapMoeExperts::~SwapMoeExperts() {
  loader_.reset();  // joins the loader before the buffers it may be writing are freed
}

std::vector<int> SwapMoeExperts::slots() const {
  std::vector<int> s(store_.model().layers.size(), 0);
  for (size_t l = 0; l < s.size(); ++l) s[l] = table_.n_slots(static_cast<int>(l));
  return s;
}

uint64_t SwapMoeExperts::resident_bytes() const {
  return (table_.n_buffers() + staging_.size() + in_flight_.size() + (borrow_layer_ >= 0 ? 1 : 0)) *
         store_.buffer_bytes();
}

ExpertWeights SwapMoeExperts::acquire(int layer, int expert) {
  if (table_.resident(layer, expert)) return store_.views(layer, table_.buffer(layer, table_.slot_of(layer, expert)));
  if (layer != borrow_layer_ || !borrow_mask_[expert])
    fail("swapmoe", fmt::format("expert {} of layer {} was used without being resident", expert, layer), "this is a bug");
  const LoadRequest request{layer, expert, borrow_buf_.data()};
  std::vector<LoadResult> results;
  {
    const StallClock clock(stats_);
    results = loader_->read_now({&request, 1});
  }
  note_stall();
  if (!results[0].ok) fail("swapmoe", results[0].error, "the expert was not fetched; the file or the storage is failing");
  ++stats_.loads;
  ++stats_.fetches;
  stats_.bytes_read += store_.expert_bytes(layer);
  return store_.views(layer, borrow_buf_.data());
}

void SwapMoeExperts::observe(int layer, int64_t n_tokens, int k, const int32_t* ids, const float* weights,
                             const float* x_norm) {
  std::vector<double>& imp = importance_[layer];
  const std::vector<float>& mag = magnitudes_[layer];
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int j = 0; j < k; ++j) {
      const int e = ids[t * k + j];
      imp[e] += static_cast<double>(x_norm[t]) * weights[t * k + j] * mag[e];
      if (prefetched_[layer][e] && table_.resident(layer, e)) ++stats_.prefetch_hits, prefetched_[layer][e] = 0;
    }
}

int SwapMoeExperts::victim_slot(int l, const std::vector<uint8_t>& keep, const std::vector<int>& taken) const {
  int victim = -1;
  auto rank = [&](int e) { return std::make_pair(wanted(l, e) ? 1 : 0, importance_[l][e]); };
  for (int s = 0; s < table_.n_slots(l); ++s) {
    if (std::find(taken.begin(), taken.end(), s) != taken.end()) continue;
    const int e = table_.expert_in(l, s);
    if (e < 0) return s;
    if (keep[e]) continue;
    if (victim < 0 || rank(e) < rank(table_.expert_in(l, victim))) victim = s;
  }
  return victim;
}

void SwapMoeExperts::prepare_layer(int l, int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  if (options_.exact_threshold > 1 || table_.n_slots(l) == 0) return;
  const int n_expert = static_cast<int>(importance_[l].size());
  // A routed expert already being read (predicted, or wanted): wait for that read, not another.
  for (int64_t i = 0; i < n_tokens * k; ++i)
    if (!table_.resident(l, ids[i]) && in_flight(l, ids[i])) {
      const StallClock clock(stats_);
      note_stall();
      loader_->wait_idle();
      apply_completed();
      break;
    }
  // keep: the resident experts this step routes to (they are about to be used). heavy: each
  // missing expert's largest share of a token's top-k weight, where it reaches the threshold.
  std::vector<uint8_t> keep(n_expert, 0);
  std::vector<float> heavy(n_expert, -1.0f);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int j = 0; j < k; ++j) {
      const int e = ids[t * k + j];
      const float share = share_of(weights + t * k, k, j);
      if (table_.resident(l, e)) keep[e] = 1;
      else if (share >= options_.exact_threshold) heavy[e] = std::max(heavy[e], share);
    }
  std::vector<int> order;
  for (int e = 0; e < n_expert; ++e)
    if (heavy[e] >= 0) order.push_back(e);
  if (order.empty()) return;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return heavy[a] > heavy[b]; });
  // The heaviest first, each into the slot of a light expert nobody routes to now; when the
  // layer's slots are all needed, the rest stay masked.
  std::vector<LoadRequest> requests;
  std::vector<int> slots;
  std::vector<int> left;  // heavy misses without a slot
  for (int e : order) {
    const int slot = left.empty() ? victim_slot(l, keep, slots) : -1;
    if (slot < 0) {
      left.push_back(e);
      continue;
    }
    // The fetched expert takes the victim's place in the wanted set too: otherwise the next
    // background loads would bring the victim back over it, and the next heavy token would
    // fetch it again (reads that buy nothing).
    if (const int old = table_.expert_in(l, slot); old >= 0) wanted_[l][old] = 0;
    wanted_[l][e] = 1;
    table_.clear(l, slot);
    keep[e] = 1;
    requests.push_back({l, e, table_.buffer(l, slot)});
    slots.push_back(slot);
  }
  std::vector<LoadResult> results;
  {
    const StallClock clock(stats_);
    results = loader_->read_now(requests);
  }
  std::string error;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok) {  // the slot stays empty: never map a half-read buffer
      if (error.empty()) error = results[i].error;
      continue;
    }
    table_.assign(l, slots[i], results[i].request.expert);
    ++stats_.loads;
    ++stats_.fetches;
    stats_.bytes_read += store_.expert_bytes(l);
  }
  if (!results.empty()) note_stall();
  if (!error.empty()) fail("swapmoe", error, "the expert was not fetched; the file or the storage is failing");
  if (!left.empty()) borrow(l, left);
}

void SwapMoeExperts::borrow(int l, const std::vector<int>& experts) {
  // A staging buffer for the layer: a free one, else the first background load to land frees
  // one (installing it now is safe: this layer's routing is not masked yet).
  if (staging_.empty()) {
    const StallClock clock(stats_);
    loader_->wait_idle();
    apply_completed();
  }
  if (staging_.empty()) return;  // no buffer came back: the rest stay masked
  borrow_buf_ = std::move(staging_.back());
  staging_.pop_back();
  borrow_layer_ = l;
  const uint8_t* mask = table_.mask(l);
  borrow_mask_.assign(mask, mask + importance_[l].size());
  for (int e : experts) borrow_mask_[e] = 1;
}

void SwapMoeExperts::update_wanted() {
  queue_.clear();
  const auto& layers = store_.model().layers;
  for (size_t li = 0; li < layers.size(); ++li) {
    if (!layers[li].is_moe) continue;
    const int l = static_cast<int>(li);
    const int n_expert = static_cast<int>(importance_[l].size());
    std::vector<int> order(n_expert);
    std::iota(order.begin(), order.end(), 0);
    // Ties (e.g. experts nobody routed to) favour what is already resident, then magnitude:
    // swapping between equally (un)important experts would be pure I/O.
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (importance_[l][a] != importance_[l][b]) return importance_[l][a] > importance_[l][b];
      if (table_.resident(l, a) != table_.resident(l, b)) return table_.resident(l, a);
      return magnitudes_[l][a] > magnitudes_[l][b];
    });
    const int s = table_.n_slots(l);
    std::fill(wanted_[l].begin(), wanted_[l].end(), 0);
    for (int i = 0; i < s && i < n_expert; ++i) {
      wanted_[l][order[i]] = 1;
      if (!table_.resident(l, order[i])) queue_.emplace_back(l, order[i]);
    }
  }
  // Most important first across layers: sort by importance relative to the layer's total.
  auto share = [&](const std::pair<int, int>& p) {
    const auto& imp = importance_[p.first];
    const double total = std::accumulate(imp.begin(), imp.end(), 0.0);
    return total > 0 ? imp[p.second] / total : 0.0;
  };
  std::stable_sort(queue_.begin(), queue_.end(), [&](auto& a, auto& b) { return share(a) < share(b); });
}

void SwapMoeExperts::reset_window() {
  // The paper's window: scores restart after each update. With a half-life they decay instead.
  if (options_.half_life <= 0)
    for (auto& imp : importance_) std::fill(imp.begin(), imp.end(), 0.0);
}

bool SwapMoeExperts::in_flight(int l, int e) const {
  return std::find(in_flight_ids_.begin(), in_flight_ids_.end(), std::make_pair(l, e)) != in_flight_ids_.end();
}

void SwapMoeExperts::start_load(int l, int e) {
  in_flight_.push_back(std::move(staging_.back()));
  staging_.pop_back();
  in_flight_ids_.emplace_back(l, e);
  loader_->submit(LoadRequest{l, e, in_flight_.back().data()});
}

int SwapMoeExperts::start_loads(int max_loads) {
  int started = 0;
  while (started < max_loads && !queue_.empty() && !staging_.empty()) {
    auto [l, e] = queue_.back();
    queue_.pop_back();
    if (table_.resident(l, e) || !wanted(l, e) || in_flight(l, e)) continue;
    start_load(l, e);
    ++started;
  }
  return started;
}

void SwapMoeExperts::prefetch(int l, int64_t n_tokens, int k, const int32_t* ids, const float* weights) {
  if (table_.n_slots(l) == 0) return;
  std::fill(predicted_[l].begin(), predicted_[l].end(), 0);
  // With a threshold, only the predictions that would be fetched if they came true are read
  // ahead (the others would be masked anyway); pure SwapMoE reads every predicted miss, which
  // can then be routed to instead of a substitute. At most one layer's slots in flight for it.
  const float min_share = options_.exact_threshold > 1 ? 0.0f : static_cast<float>(options_.exact_threshold);
  int started = 0;
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int j = 0; j < k; ++j) {
      const int e = ids[t * k + j];
      predicted_[l][e] = 1;
      if (share_of(weights + t * k, k, j) < min_share || table_.resident(l, e) || in_flight(l, e)) continue;
      if (staging_.empty() || started >= table_.n_slots(l)) continue;
      start_load(l, e);
      ++started;
      ++stats_.prefetches;
    }
  if (options_.deterministic) {
    // Predicted experts land before the layer they were predicted for, whatever the storage's
    // speed (quality measurements; the token waits here instead).
    loader_->wait_idle();
    apply_completed();
  }
}

void SwapMoeExperts::install(const LoadResult& r) {
  // Take the buffer back from the in-flight list.
  size_t i = 0;
  while (i < in_flight_.size() && in_flight_[i].data() != r.request.buffer) ++i;
  if (i == in_flight_.size()) fail("swapmoe", "a completed load returned an unknown buffer", "this is a bug");
  AlignedBuffer buf = std::move(in_flight_[i]);
  in_flight_.erase(in_flight_.begin() + static_cast<long>(i));
  in_flight_ids_.erase(in_flight_ids_.begin() + static_cast<long>(i));
  if (!r.ok) {
    staging_.push_back(std::move(buf));
    fail("swapmoe", r.error, "the expert was not switched in; the file or the storage is failing");
  }
  const int l = r.request.layer, e = r.request.expert;
  ++stats_.loads;
  stats_.bytes_read += store_.expert_bytes(l);
  if (table_.resident(l, e) || (!wanted(l, e) && !predicted_[l][e]) || table_.n_slots(l) == 0) {
    staging_.push_back(std::move(buf));
    return;
  }
  // Victim of a wanted expert: an empty slot, else the least important resident expert that is
  // no longer wanted. A prediction may also displace a wanted expert (the least important one
  // not predicted itself): it takes that expert's place in the wanted set, as a fetch does.
  const bool prediction = !wanted(l, e);
  const int victim = victim_slot(l, prediction ? predicted_[l] : wanted_[l], {});
  if (victim < 0) {
    staging_.push_back(std::move(buf));
    return;
  }
  if (prediction) {
    if (const int old = table_.expert_in(l, victim); old >= 0) wanted_[l][old] = 0;
    wanted_[l][e] = 1;
  }
  table_.install(l, victim, e, buf);  // buf now holds the victim's old buffer
  prefetched_[l][e] = prediction;
  staging_.push_back(std::move(buf));
  ++stats_.swaps;
}

void SwapMoeExperts::apply_completed() {
  LoadResult r;
  while (loader_->poll(&r)) install(r);
}

void SwapMoeExperts::layer_boundary(int) {
  if (borrow_layer_ >= 0) {
    staging_.push_back(std::move(borrow_buf_));
    borrow_buf_ = AlignedBuffer();
    borrow_layer_ = -1;
  }
  apply_completed();
  // A wide step's loads left over: the buffers that landed take the next ones at once.
  if (wide_loads_left_ > 0) wide_loads_left_ -= start_loads(wide_loads_left_);
}

void SwapMoeExperts::step_end(int64_t n_tokens) {
  count_step(n_tokens);
  if (options_.half_life > 0) {
    const double decay = std::pow(0.5, static_cast<double>(n_tokens) / options_.half_life);
    for (auto& imp : importance_)
      for (double& v : imp) v *= decay;
  }
  tokens_since_update_ += n_tokens;
  if (tokens_since_update_ >= options_.update_interval) {
    tokens_since_update_ = 0;
    update_wanted();
    reset_window();
  }
  apply_completed();
  // max_loads_per_step is per token step: a step of many tokens (a prompt, a batch of images)
  // may start one per update interval's worth of its tokens. The staging buffers bound what is
  // in flight, so what does not start now starts at the next step's layer boundaries, as
  // buffers come back. A one-token decode step keeps its single load, started here.
  const int64_t allowance = options_.max_loads_per_step * std::max<int64_t>(1, n_tokens / options_.update_interval);
  const int started = start_loads(static_cast<int>(std::min<int64_t>(allowance, 1 << 20)));
  wide_loads_left_ = n_tokens > options_.update_interval ? static_cast<int>(std::min<int64_t>(allowance, 1 << 20)) - started : 0;
  if (options_.deterministic) {
    loader_->wait_idle();
    apply_completed();
  }
}

void SwapMoeExperts::finish_prefill() {
  if (!options_.warm_after_prefill) return;
  // The prompt's routing is known: bring its wanted experts in before the first decode step.
  // This is prefill time (time to first token), not a stall of any decoded token.
  update_wanted();
  reset_window();
  tokens_since_update_ = 0;
  while (!queue_.empty() || !in_flight_.empty()) {
    start_loads(static_cast<int>(staging_.size()));
    loader_->wait_idle();
    apply_completed();
    if (in_flight_.empty() && staging_.empty()) break;
  }
}

void SwapMoeExperts::set_slots(const std::vector<int>& slots) {
  const auto& layers = store_.model().layers;
  for (size_t li = 0; li < layers.size(); ++li) {
    if (!layers[li].is_moe) continue;
    const int l = static_cast<int>(li);
    const int want = std::min<int>(slots[li], static_cast<int>(importance_[l].size()));
    while (table_.n_slots(l) > want) {
      int victim = 0;
      for (int s = 0; s < table_.n_slots(l); ++s) {
        const int e = table_.expert_in(l, s), v = table_.expert_in(l, victim);
        if (e < 0) {
          victim = s;
          break;
        }
        const double se = importance_[l][e] + (wanted(l, e) ? 1e300 : 0);
        const double sv = importance_[l][v] + (wanted(l, v) ? 1e300 : 0);
        if (se < sv || (se == sv && magnitudes_[l][e] < magnitudes_[l][v])) victim = s;
      }
      const int e = table_.expert_in(l, victim);
      if (e >= 0) wanted_[l][e] = 0;
      table_.remove_slot(l, victim);
    }
    while (table_.n_slots(l) < want) table_.add_slot(l, store_.buffer_bytes());
  }
  // New empty slots are filled by the next update's loads; recompute now so that they are.
  update_wanted();
}

}  // namespace swapmoe
