// The budget governor on simulated timelines: a process with an engine inside a cgroup whose
// limit moves, other memory that wiggles and bursts, PSI spikes; one poll a second. The world
// applies each proposal at the next step (or late, or refuses it) and charges the engine's
// memory as it fills, so the tests see what a server would: the budget followed, no OOM, and
// how many changes it took. A naive free-memory governor runs on the same noisy trace to show
// the thrashing this one avoids.
#include "server/budget_governor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

namespace swapmoe::server {
namespace {

constexpr uint64_t MiB = uint64_t{1} << 20;
constexpr uint64_t GiB = uint64_t{1} << 30;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A 16 GiB model that needs 2 GiB at least; 1 GiB reserve; step 256 MiB, hysteresis 1 GiB.
GovernorOptions test_options() {
  GovernorOptions o;
  o.reserve = 1 * GiB;
  o.minimum_budget = 2 * GiB;
  o.maximum_budget = 16 * GiB;
  return o;
}

// ---- the simulated world ---------------------------------------------------------------------

struct World {
  // Set by the scenario at every step.
  uint64_t limit = 12 * GiB;  // the cgroup's; 0: none
  int64_t other = 1 * GiB;    // the rest of the group's usage (server, clients, page cache)
  int64_t mem_available_outside = 64 * GiB;  // what the system has free beyond the group
  double psi_some = 0;        // percent stalled during the step
  int64_t oom_kills = 0;      // counted by the world when usage passes the limit, or by a scenario
  int64_t limit_hits = 0;

  // The engine: its budget in force and the bytes it holds (grows toward the budget at 2 GiB/s,
  // drops at once when the budget shrinks).
  uint64_t budget = 0;
  uint64_t engine = 0;

  GovernorClock::time_point now{};
  int64_t psi_total_us = 0;

  MemorySnapshot snapshot() const {
    MemorySnapshot s;
    s.time = now;
    int64_t usage = other + static_cast<int64_t>(engine);
    s.mem_available = mem_available_outside + (limit ? 0 : -usage);
    s.process_rss = static_cast<int64_t>(engine + 300 * MiB);
    if (limit) {
      s.cgroup_version = 2;
      s.cgroup_limit = limit;
      s.cgroup_usage = static_cast<uint64_t>(std::max<int64_t>(usage, 0));
    }
    s.cgroup_limit_hits = limit_hits;
    s.cgroup_oom_events = oom_kills;
    s.psi.some_total_us = psi_total_us;
    s.psi.full_total_us = 0;
    return s;
  }
};

struct Trace {
  int changes = 0;
  int ooms = 0;
  std::vector<std::pair<double, uint64_t>> budgets;  // (second, budget) after each change
  std::vector<std::string> reasons;
};

// Steps the world second by second: scenario(t, world), then the engine fills, the OOM check,
// and a poll whose proposal the server applies at once (apply returns false to refuse it).
Trace simulate(BudgetGovernor& gov, World& w, int seconds_total, const std::function<void(int, World&)>& scenario,
             const std::function<bool(const BudgetChange&, int)>& apply = {}) {
  Trace run;
  for (int t = 0; t < seconds_total; ++t) {
    w.now = GovernorClock::time_point{} + seconds(t);
    scenario(t, w);
    w.psi_total_us += static_cast<int64_t>(w.psi_some / 100 * 1e6);
    if (w.engine < w.budget) w.engine = std::min(w.budget, w.engine + 2 * GiB);
    if (w.engine > w.budget) w.engine = w.budget;
    if (w.limit && w.other + static_cast<int64_t>(w.engine) > static_cast<int64_t>(w.limit)) {
      ++run.ooms;
      ++w.oom_kills;
    }
    auto change = gov.on_poll(w.snapshot(), w.budget, w.engine, w.now);
    if (change) {
      EXPECT_EQ(change->from, w.budget) << "t=" << t;
      EXPECT_GE(change->budget, gov.options().minimum_budget);
      EXPECT_LE(change->budget, gov.options().maximum_budget);
      if (!apply || apply(*change, t)) {
        w.budget = change->budget;
        ++run.changes;
        run.budgets.emplace_back(t, w.budget);
        run.reasons.push_back(change->reason);
      }
    }
  }
  return run;
}

// What the budget should be for this world, as the governor sees it.
int64_t affordable(const World& w, uint64_t reserve) {
  return static_cast<int64_t>(w.limit) - w.other - static_cast<int64_t>(reserve);
}

// ---- limit moves -----------------------------------------------------------------------------

TEST(BudgetGovernor, FollowsALimitLoweredInStagesThenRaised) {
  BudgetGovernor gov(test_options());
  World w;
  w.budget = gov.initial_budget(w.snapshot(), 0);
  EXPECT_EQ(w.budget, 10 * GiB) << gov.note();  // 12 GiB limit - 1 GiB other - 1 GiB reserve
  w.engine = w.budget;
  // 12 GiB until t=30, then 0.5 GiB lower every 3 s down to 7 GiB (t=57), raised to 12 GiB at t=120.
  auto limit_at = [](int t) -> uint64_t {
    if (t < 30) return 12 * GiB;
    if (t < 120) return 12 * GiB - std::min(10, (t - 30) / 3 + 1) * 512 * MiB;
    return 12 * GiB;
  };
  std::vector<uint64_t> budget_at(200);  // [t]: the budget after the poll at t
  Trace run = simulate(gov, w, 200, [&](int t, World& world) {
    world.limit = limit_at(t);
    if (t > 0) budget_at[t - 1] = world.budget;
  });
  for (const auto& r : run.reasons) std::printf("  %s\n", r.c_str());
  EXPECT_EQ(run.ooms, 0);
  // Each lowering is followed within 2 polls: the budget is within the new limit's reserve.
  for (int t = 32; t < 120; ++t) {
    int64_t fits = affordable(World{.limit = limit_at(t - 2)}, gov.options().reserve);
    EXPECT_LE(static_cast<int64_t>(budget_at[t]), fits + static_cast<int64_t>(gov.options().step)) << "t=" << t;
  }
  EXPECT_LE(budget_at[119], 5 * GiB);
  // The raise is followed after the base grow delay (a limit change is no oscillation).
  EXPECT_GE(budget_at[128], 9 * GiB) << "t=128";
  EXPECT_EQ(w.budget, budget_at[128]);  // and then it stays
  // One change per lowering at most, one for the raise.
  EXPECT_LE(run.changes, 11);
}

TEST(BudgetGovernor, FollowsASuddenDropPromptly) {
  BudgetGovernor gov(test_options());
  World w;
  w.budget = w.engine = gov.initial_budget(w.snapshot(), 0);
  Trace run = simulate(gov, w, 60, [](int t, World& world) {
    // The limit drops to just above usage (11 GiB): the headroom is gone at once.
    if (t >= 10) world.limit = 11 * GiB + 256 * MiB;
  });
  EXPECT_EQ(run.ooms, 0);
  ASSERT_EQ(run.changes, 1);
  EXPECT_EQ(run.budgets[0].first, 10);  // the same poll: a hard deficit waits for nothing
  EXPECT_EQ(run.budgets[0].second, 9 * GiB + 256 * MiB);
  EXPECT_NE(run.reasons[0].find("below the reserve"), std::string::npos) << run.reasons[0];
}

// ---- noise: no oscillation -------------------------------------------------------------------

// Ten minutes of noisy memory: the group's other usage wiggles (sigma 100 MiB), bursts by 0.7
// GiB for 1-4 s every minute or so, drifts by 0.4 GiB over minutes; PSI shows short spikes.
class NoisyTrace {
 public:
  void operator()(int t, World& w) {
    std::normal_distribution<double> wiggle(0, 100.0 * MiB);
    std::uniform_int_distribution<int> chance(0, 59), burst_len(1, 4);
    if (burst_left_ == 0 && chance(rng_) == 0) burst_left_ = burst_len(rng_);
    double drift = 0.4 * GiB * std::sin(t / 97.0);
    double burst = burst_left_ > 0 ? 0.7 * GiB : 0;
    if (burst_left_ > 0) --burst_left_;
    w.other = static_cast<int64_t>(1.0 * GiB + drift + burst + wiggle(rng_));
    w.psi_some = chance(rng_) < 2 ? 35 : 0.5;  // a one-poll spike now and then
  }

 private:
  std::mt19937 rng_{42};
  int burst_left_ = 0;
};

TEST(BudgetGovernor, NoisyTenMinutesFewChanges) {
  for (bool cgroup : {true, false}) {
    BudgetGovernor gov(test_options());
    World w;
    if (!cgroup) {
      w.limit = 0;
      w.mem_available_outside = 12 * GiB;  // the same room, seen through MemAvailable
    }
    NoisyTrace noise;
    w.budget = w.engine = gov.initial_budget(w.snapshot(), 0);
    Trace run = simulate(gov, w, 600, std::ref(noise));
    std::printf("%s: %d changes in 10 min, budget %.2f GiB at the end\n", cgroup ? "cgroup" : "MemAvailable", run.changes,
                static_cast<double>(w.budget) / GiB);
    for (const auto& r : run.reasons) std::printf("  %s\n", r.c_str());
    EXPECT_EQ(run.ooms, 0);
    EXPECT_LE(run.changes, 4);
    // Stable does not mean timid: the budget keeps using most of the room.
    EXPECT_GE(w.budget, 8 * GiB);
  }
}

TEST(BudgetGovernor, NaiveFreeMemoryGovernorThrashesOnTheSameTrace) {
  // What peers tried: every poll, budget = free - reserve. Same world, same noise.
  World w;
  NoisyTrace noise;
  int changes = 0;
  w.budget = w.engine = 10 * GiB;
  for (int t = 0; t < 600; ++t) {
    noise(t, w);
    w.engine = w.budget;
    MemorySnapshot s = w.snapshot();
    int64_t target = static_cast<int64_t>(w.engine) + s.headroom() - static_cast<int64_t>(GiB);
    uint64_t rounded = static_cast<uint64_t>(std::max<int64_t>(target, 2 * GiB)) / (256 * MiB) * (256 * MiB);
    if (rounded != w.budget) {
      w.budget = rounded;
      ++changes;
    }
  }
  std::printf("naive governor: %d changes in 10 min\n", changes);
  EXPECT_GT(changes, 100);
}

TEST(BudgetGovernor, SmallWigglesNeverChangeTheBudget) {
  BudgetGovernor gov(test_options());
  World w;
  w.budget = w.engine = gov.initial_budget(w.snapshot(), 0);
  const int64_t step = static_cast<int64_t>(gov.options().step);
  Trace run = simulate(gov, w, 600, [&](int t, World& world) {
    world.other = static_cast<int64_t>(GiB) + (t % 2 ? step / 2 : -step / 2) + (t % 7 == 0 ? step * 3 / 4 : 0);
  });
  EXPECT_EQ(run.changes, 0) << (run.reasons.empty() ? "" : run.reasons[0]);
}

// ---- floor and cap ---------------------------------------------------------------------------

TEST(BudgetGovernor, NeverBelowTheMinimumAndSaysWhy) {
  BudgetGovernor gov(test_options());
  World w;
  w.limit = 3 * GiB;  // 3 - 1 other - 1 reserve = 1 GiB affordable < the 2 GiB minimum
  uint64_t initial = gov.initial_budget(w.snapshot(), 0);
  EXPECT_EQ(initial, 2 * GiB);
  EXPECT_NE(gov.note().find("does not fit"), std::string::npos) << gov.note();

  // Running above the minimum when the limit drops under it: one shrink, to the minimum.
  w.limit = 12 * GiB;
  w.budget = w.engine = 2 * GiB + 512 * MiB;
  Trace run = simulate(gov, w, 30, [](int t, World& world) {
    if (t >= 5) world.limit = 3 * GiB + 768 * MiB;  // usage 3.5 GiB fits; 1.75 GiB affordable
  });
  EXPECT_EQ(run.ooms, 0);
  ASSERT_EQ(run.changes, 1);
  EXPECT_EQ(run.budgets[0].first, 5);
  EXPECT_EQ(w.budget, 2 * GiB);
  EXPECT_NE(run.reasons[0].find("even the minimum"), std::string::npos) << run.reasons[0];
  EXPECT_NE(gov.note().find("does not fit"), std::string::npos) << gov.note();  // still said at every poll
}

TEST(BudgetGovernor, NeverAboveTheFullFootprint) {
  BudgetGovernor gov(test_options());
  World w;
  w.limit = 0;  // 64 GiB available
  EXPECT_EQ(gov.initial_budget(w.snapshot(), 0), 16 * GiB);
  EXPECT_NE(gov.note().find("every expert resident"), std::string::npos) << gov.note();
  // From a smaller budget it grows straight to the full footprint, once, and no further.
  w.budget = w.engine = 4 * GiB;
  Trace run = simulate(gov, w, 120, [](int, World&) {});
  ASSERT_EQ(run.changes, 1);
  EXPECT_EQ(w.budget, 16 * GiB);
  EXPECT_GE(run.budgets[0].first, 5);  // after the grow delay
  EXPECT_LE(run.budgets[0].first, 6);
  // A budget of 0 (none: everything resident) is the maximum: nothing to do.
  w.budget = 0;
  EXPECT_FALSE(gov.on_poll(w.snapshot(), 0, 16 * GiB, w.now + seconds(200)));
}

TEST(BudgetGovernor, InitialBudgetCountsTheOtherMemoryAndRoundsToAStep) {
  BudgetGovernor gov(test_options());
  World w;
  w.limit = 12 * GiB + 100 * MiB;
  uint64_t b = gov.initial_budget(w.snapshot(), 300 * MiB);  // 12.1 - 1 - 1 - 0.3 = 9.8 GiB
  EXPECT_EQ(b, 9 * GiB + 768 * MiB);
  EXPECT_EQ(b % gov.options().step, 0u);
  EXPECT_EQ(gov.options().step, 256 * MiB);
  EXPECT_EQ(gov.options().hysteresis, 1 * GiB);
  MemorySnapshot unknown;
  EXPECT_EQ(gov.initial_budget(unknown, 0), 2 * GiB);
  EXPECT_NE(gov.note().find("no memory figures"), std::string::npos);
}

// ---- pressure --------------------------------------------------------------------------------

TEST(BudgetGovernor, PsiSpikeIgnoredSustainedPressureShrinksThenGrowsBackWithBackoff) {
  BudgetGovernor gov(test_options());
  World w;
  w.limit = 0;
  w.mem_available_outside = 10 * GiB;  // 8 GiB affordable: the 8 GiB budget neither shrinks nor grows
  w.budget = w.engine = 8 * GiB;
  Trace run = simulate(gov, w, 200, [](int t, World& world) {
    world.psi_some = 0;
    if (t == 10) world.psi_some = 80;              // one poll: ignored
    if (t >= 30 && t < 38) world.psi_some = 25;    // sustained: shrink, and again after each cooldown
    if (t >= 100 && t < 104) world.psi_some = 25;  // back after the grow: the grow delay doubles
  });
  for (const auto& [t, b] : run.budgets) std::printf("  t=%3.0f budget %.2f GiB\n", t, static_cast<double>(b) / GiB);
  EXPECT_EQ(run.ooms, 0);
  ASSERT_GE(run.changes, 4);
  EXPECT_EQ(run.budgets[0].first, 31);        // the second poll with pressure
  EXPECT_EQ(run.budgets[0].second, 7 * GiB);  // 1/8 given up
  EXPECT_NE(run.reasons[0].find("memory pressure"), std::string::npos) << run.reasons[0];
  EXPECT_LT(run.budgets[1].second, run.budgets[0].second);
  EXPECT_GE(run.budgets[1].first, 33);  // a cooldown apart
  auto first_after = [&](double t) {
    return std::find_if(run.budgets.begin(), run.budgets.end(), [&](auto& p) { return p.first >= t; });
  };
  EXPECT_GE(first_after(10)->first, 30) << "the one-poll spike changed the budget";
  // Pressure gone at t=38: grown back after the grow delay (5 s), not before.
  auto grow = first_after(38);
  ASSERT_NE(grow, run.budgets.end());
  EXPECT_EQ(grow->first, 38 + 5);
  EXPECT_EQ(grow->second, 7 * GiB + 512 * MiB);  // the lowest affordable less half the hysteresis
  // The second episode followed a grow: pressure gone at t=104, the grow waits 10 s.
  grow = std::find_if(first_after(100), run.budgets.end(), [](auto& p) { return p.second == 7 * GiB + 512 * MiB; });
  ASSERT_NE(grow, run.budgets.end());
  EXPECT_EQ(grow->first, 104 + 10);
  EXPECT_EQ(grow + 1, run.budgets.end());
  EXPECT_LE(run.changes, 8);
}

TEST(BudgetGovernor, LimitHitsMakeADeficitUrgentAndAloneChangeNothing) {
  BudgetGovernor gov(test_options());
  World w;
  w.budget = w.engine = 9 * GiB + 512 * MiB;  // usage 10.5 of 12 GiB: the reserve intact
  Trace far = simulate(gov, w, 20, [](int, World& world) { world.limit_hits += 5; });  // page cache churn
  EXPECT_EQ(far.changes, 0) << far.reasons[0];

  for (bool hits : {false, true}) {
    BudgetGovernor g(test_options());
    World n;
    n.budget = n.engine = 6 * GiB;  // usage 7 GiB
    Trace run = simulate(g, n, 20, [&](int t, World& world) {
      if (t >= 5) world.limit = 7 * GiB + 640 * MiB;  // 0.625 GiB left: a small deficit
      if (t >= 5 && hits) world.limit_hits += 5;
    });
    ASSERT_EQ(run.changes, 1);
    EXPECT_EQ(run.budgets[0].first, hits ? 5 : 6);  // at once with hits, else on the second poll
    if (hits) {
      EXPECT_NE(run.reasons[0].find("limit hits"), std::string::npos) << run.reasons[0];
    }
  }
}

TEST(BudgetGovernor, OomKillInTheGroupShrinksAtOnceAndBacksOff) {
  BudgetGovernor gov(test_options());
  World w;
  w.budget = w.engine = 9 * GiB + 512 * MiB;
  Trace run = simulate(gov, w, 30, [](int t, World& world) {
    if (t == 7) world.oom_kills += 1;  // a client process in the group was killed
  });
  ASSERT_EQ(run.changes, 2);
  EXPECT_EQ(run.budgets[0].first, 7);
  EXPECT_EQ(run.budgets[0].second, 7 * GiB);  // a quarter given up
  EXPECT_NE(run.reasons[0].find("OOM"), std::string::npos);
  EXPECT_EQ(run.budgets[1].first, 8 + 10);  // grown back after a doubled grow delay
}

// ---- the caller decides ----------------------------------------------------------------------

TEST(BudgetGovernor, LearnsTheBudgetInForceFromTheCaller) {
  GovernorOptions o = test_options();
  o.apply_timeout = seconds(10);
  BudgetGovernor gov(o);
  World w;
  w.budget = w.engine = 10 * GiB;
  int offered = 0;
  std::vector<int> offer_times;
  // The limit drops at t=5; the server refuses the first two proposals (say, the minimum of a
  // new plan was not met), applies the third.
  Trace run = simulate(
      gov, w, 60,
      [](int t, World& world) {
        if (t >= 5) world.limit = 11 * GiB + 640 * MiB;  // a small deficit: 0.625 GiB left
      },
      [&](const BudgetChange&, int t) {
        offer_times.push_back(t);
        return ++offered >= 3;
      });
  ASSERT_EQ(offered, 3);
  EXPECT_EQ(run.changes, 1);
  EXPECT_EQ(offer_times[0], 6);
  // Not proposed again while pending; again only once the proposal timed out.
  EXPECT_GE(offer_times[1] - offer_times[0], 10);
  EXPECT_GE(offer_times[2] - offer_times[1], 10);
  EXPECT_NE(run.reasons[0].find("was not applied"), std::string::npos) << run.reasons[0];
  EXPECT_EQ(w.budget, 9 * GiB + 512 * MiB);

  // Applied late (the engine was mid-prefill): no second proposal in between.
  BudgetGovernor late(o);
  World l;
  l.budget = l.engine = 10 * GiB;
  int proposals = 0;
  std::optional<uint64_t> queued;
  for (int t = 0; t < 30; ++t) {
    l.now = GovernorClock::time_point{} + seconds(t);
    if (t >= 5) l.limit = 11 * GiB + 640 * MiB;
    if (t == 12 && queued) l.budget = l.engine = *queued;  // the safe point, 5 s later
    if (auto c = late.on_poll(l.snapshot(), l.budget, l.engine, l.now)) {
      ++proposals;
      queued = c->budget;
    }
  }
  EXPECT_EQ(proposals, 1);
  EXPECT_EQ(l.budget, 9 * GiB + 512 * MiB);
}

TEST(BudgetGovernor, RejectsBadOptions) {
  GovernorOptions o = test_options();
  o.maximum_budget = 0;
  EXPECT_THROW(BudgetGovernor{o}, std::exception);
  o.maximum_budget = 1 * GiB;  // below the 2 GiB minimum
  EXPECT_THROW(BudgetGovernor{o}, std::exception);
}

}  // namespace
}  // namespace swapmoe::server
