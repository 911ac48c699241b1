#include "planner/search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <fmt/format.h>

#include "core/error.h"
#include "planner/cost_model.h"

namespace swapmoe {

namespace {

struct Scored {
  Configuration c;
  Score s;
};

// a before b: less latency excess, then better quality, then lower latency.
bool better(const Score& a, const Score& b, double max_latency) {
  const double ea = max_latency > 0 ? std::max(0.0, a.latency_ms - max_latency) : 0.0;
  const double eb = max_latency > 0 ? std::max(0.0, b.latency_ms - max_latency) : 0.0;
  if (std::abs(ea - eb) > 1e-12) return ea < eb;
  if (std::abs(a.quality - b.quality) > 1e-12) return a.quality < b.quality;
  return a.latency_ms < b.latency_ms;
}

// Position of `value` in a candidate list (0 when absent).
template <typename T>
int index_of(const std::vector<T>& list, T value) {
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i] == value) return static_cast<int>(i);
  return 0;
}

// The knobs besides the slots, each with its candidate list: f(a's value, b's value, list).
// Crossover, mutation and polish treat them alike: one candidate step at a time.
constexpr int kKnobs = 3;
template <typename F>
void for_each_knob(const SearchSpace& sp, Configuration& a, const Configuration& b, F&& f) {
  f(a.update_interval, b.update_interval, sp.intervals);
  f(a.exact_threshold, b.exact_threshold, sp.thresholds);
  f(a.prefetch_depth, b.prefetch_depth, sp.prefetch_depths);
}

class Searcher {
 public:
  Searcher(const SearchSpace& space, const Objective& objective, const SearchOptions& options)
      : sp_(space), objective_(objective), o_(options), rng_(options.seed) {
    if (sp_.n_layers <= 0 || sp_.n_expert <= 0) fail("search", "the model has no MoE layers to plan for");
    if (sp_.intervals.empty() || sp_.thresholds.empty() || sp_.prefetch_depths.empty())
      fail("search", "no candidate update intervals, exact thresholds or prefetch depths");
    sp_.capacity = std::clamp<int64_t>(sp_.capacity, sp_.n_layers, static_cast<int64_t>(sp_.n_layers) * sp_.n_expert);
  }

  const SearchSpace& space() const { return sp_; }
  uint64_t below(uint64_t n) { return n <= 1 ? 0 : rng_() % n; }
  double unit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  // Clamps each layer to [1, n_expert] and adds or removes single slots at random layers until
  // exactly `capacity` are spent.
  void repair(Configuration& c) {
    int64_t sum = 0;
    for (int& s : c.slots) s = std::clamp(s, 1, sp_.n_expert), sum += s;
    while (sum != sp_.capacity) {
      const int l = static_cast<int>(below(sp_.n_layers));
      if (sum > sp_.capacity && c.slots[l] > 1) --c.slots[l], --sum;
      else if (sum < sp_.capacity && c.slots[l] < sp_.n_expert) ++c.slots[l], ++sum;
    }
  }

  // Uniform slots at this interval, other knobs drawn from their candidates.
  Configuration uniform(int interval) {
    Configuration c{even_split(sp_.capacity, sp_.n_layers, sp_.n_expert), interval};
    c.exact_threshold = sp_.thresholds[below(sp_.thresholds.size())];
    c.prefetch_depth = sp_.prefetch_depths[below(sp_.prefetch_depths.size())];
    return c;
  }

  // Moves knob `knob` one candidate up (by 1) or down (-1); false at the end of its list.
  bool step_knob(Configuration& c, int knob, int by) const {
    int i = 0;
    bool moved = false;
    for_each_knob(sp_, c, c, [&](auto& value, const auto&, const auto& list) {
      if (i++ != knob) return;
      const int j = index_of(list, value) + by;
      if (j >= 0 && j < static_cast<int>(list.size())) value = list[j], moved = true;
    });
    return moved;
  }

  Configuration random_config() {
    // Log-normal layer weights of random spread: from nearly uniform to very uneven shapes.
    const double spread = unit() * 1.5;
    std::vector<double> w(sp_.n_layers);
    double total = 0;
    for (double& x : w) {
      const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53, u2 = unit();
      x = std::exp(spread * std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      total += x;
    }
    Configuration c;
    for (double x : w) c.slots.push_back(static_cast<int>(std::lround(static_cast<double>(sp_.capacity) * x / total)));
    for_each_knob(sp_, c, c, [&](auto& value, const auto&, const auto& list) { value = list[below(list.size())]; });
    repair(c);
    return c;
  }

  Score score(const Configuration& c) {
    auto it = memo_.find(c);
    if (it != memo_.end()) return it->second;
    const Score s = objective_(c);
    memo_.emplace(c, s);
    return s;
  }
  int64_t evaluations() const { return static_cast<int64_t>(memo_.size()); }
  bool better(const Score& a, const Score& b) const { return swapmoe::better(a, b, o_.max_latency_ms); }

  // Single-slot moves between layers and one-step knob changes, until none improves.
  Scored polish(Scored cur) {
    for (bool improved = true; improved;) {
      improved = false;
      for (int a = 0; a < sp_.n_layers; ++a)
        for (int b = 0; b < sp_.n_layers; ++b) {
          if (a == b || cur.c.slots[a] <= 1 || cur.c.slots[b] >= sp_.n_expert) continue;
          Configuration n = cur.c;
          --n.slots[a], ++n.slots[b];
          const Score s = score(n);
          if (better(s, cur.s)) cur = {n, s}, improved = true;
        }
      for (int knob = 0; knob < kKnobs; ++knob)
        for (int by : {-1, 1}) {
          Configuration n = cur.c;
          if (!step_knob(n, knob, by)) continue;
          const Score s = score(n);
          if (better(s, cur.s)) cur = {n, s}, improved = true;
        }
    }
    return cur;
  }

  Scored run() {
    std::vector<Scored> pop;
    const int size = std::max(4, o_.population);
    // Up to half the population starts uniform, over the intervals (the other knobs at random).
    const size_t n_uniform = std::min<size_t>(size / 2, sp_.intervals.size() * sp_.thresholds.size() *
                                                            sp_.prefetch_depths.size());
    for (size_t i = 0; i < n_uniform; ++i) pop.push_back({uniform(sp_.intervals[i % sp_.intervals.size()]), {}});
    while (static_cast<int>(pop.size()) < size) pop.push_back({random_config(), {}});
    for (Scored& p : pop) p.s = score(p.c);
    auto by_fitness = [&](const Scored& a, const Scored& b) { return better(a.s, b.s); };
    std::stable_sort(pop.begin(), pop.end(), by_fitness);

    for (int gen = 0; gen < o_.generations; ++gen) {
      std::vector<Scored> next(pop.begin(), pop.begin() + 2);  // elitism
      auto tournament = [&]() -> const Scored& {
        const Scored* best = &pop[below(pop.size())];
        for (int t = 0; t < 2; ++t) {
          const Scored* c = &pop[below(pop.size())];
          if (better(c->s, best->s)) best = c;
        }
        return *best;
      };
      while (static_cast<int>(next.size()) < size) {
        const Scored& p1 = tournament();
        const Scored& p2 = tournament();
        Configuration child = p1.c;
        if (unit() < 0.9) {
          for (int l = 0; l < sp_.n_layers; ++l)
            if (rng_() & 1) child.slots[l] = p2.c.slots[l];
          for_each_knob(sp_, child, p2.c, [&](auto& mine, const auto& theirs, const auto&) {
            if (rng_() & 1) mine = theirs;
          });
        }
        if (unit() < 0.7) {  // move a few slots from one layer to another
          const int a = static_cast<int>(below(sp_.n_layers)), b = static_cast<int>(below(sp_.n_layers));
          const int n = 1 + static_cast<int>(below(std::max(1, sp_.n_expert / 8)));
          const int moved = std::min({n, child.slots[a] - 1, sp_.n_expert - child.slots[b]});
          if (a != b && moved > 0) child.slots[a] -= moved, child.slots[b] += moved;
        }
        for (int knob = 0; knob < kKnobs; ++knob)
          if (unit() < 0.3) {
            const int by = rng_() & 1 ? 1 : -1;
            if (!step_knob(child, knob, by)) step_knob(child, knob, -by);  // at an end: the other way
          }
        repair(child);
        next.push_back({child, score(child)});
      }
      std::stable_sort(next.begin(), next.end(), by_fitness);
      pop = std::move(next);
    }
    return polish(pop.front());
  }

 private:
  SearchSpace sp_;
  const Objective& objective_;
  SearchOptions o_;
  std::mt19937_64 rng_;
  std::map<Configuration, Score> memo_;
};

SearchResult finish(const Scored& best, const SearchOptions& o, int64_t evaluations) {
  SearchResult r;
  r.best = best.c;
  r.score = best.s;
  r.feasible = o.max_latency_ms <= 0 || best.s.latency_ms <= o.max_latency_ms;
  r.evaluations = evaluations;
  return r;
}

}  // namespace

SearchResult genetic_search(const SearchSpace& space, const Objective& objective, const SearchOptions& options) {
  Searcher s(space, objective, options);
  const Scored best = s.run();
  return finish(best, options, s.evaluations());
}

SearchResult exhaustive_search(const SearchSpace& space, const Objective& objective, const SearchOptions& options,
                               int64_t max_configs) {
  Searcher s(space, objective, options);
  const SearchSpace& sp = s.space();
  // Compositions of capacity into n_layers parts in [1, n_expert], in lexicographic order.
  std::vector<Configuration> all;
  Configuration c{std::vector<int>(sp.n_layers, 0), 0};
  std::function<void(int, int64_t)> rec = [&](int l, int64_t left) {
    if (static_cast<int64_t>(all.size()) > max_configs)
      fail("search", "the space is too large to enumerate", "use genetic_search");
    if (l == sp.n_layers - 1) {
      if (left >= 1 && left <= sp.n_expert) c.slots[l] = static_cast<int>(left), all.push_back(c);
      return;
    }
    for (int v = 1; v <= sp.n_expert && v <= left; ++v) c.slots[l] = v, rec(l + 1, left - v);
  };
  rec(0, sp.capacity);
  Scored best{{}, {}};
  bool have = false;
  for (int iv : sp.intervals)
    for (double t : sp.thresholds)
      for (int d : sp.prefetch_depths)
        for (Configuration& a : all) {
          a.update_interval = iv, a.exact_threshold = t, a.prefetch_depth = d;
          const Score sc = s.score(a);
          if (!have || s.better(sc, best.s)) best = {a, sc}, have = true;
        }
  return finish(best, options, s.evaluations());
}

}  // namespace swapmoe
