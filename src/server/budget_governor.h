// Budget governor: the decisions behind `--memory-budget auto`. It sizes the first budget from
// the memory free to the process and, poll by poll, proposes a smaller budget when memory runs
// short or comes under pressure and a larger one when it has stayed plentiful. Pure and
// deterministic: readings and the time come in, a proposal (or none) goes out.
//
// "Free to the process" is the headroom min(MemAvailable, cgroup limit - working set) plus what
// the engine holds now (it is part of the usage and would be given back by a smaller budget):
//   affordable = engine resident + headroom - reserve
// where engine resident = min(engine accounted, process RSS) (accounted memory not yet touched,
// e.g. KV caches of sessions not yet open, is not charged yet). The process's other memory is
// in the usage already, so it is kept out of the affordable budget without being named.
//
// Against thrashing (the budget following every wiggle of free memory):
// - shrinks go to the affordable budget rounded down to a step; grows go to the lowest
//   affordable seen over the whole grow delay less half the hysteresis, so after a change the
//   next one needs a move of at least a step down or half the hysteresis up;
// - a grow needs the headroom above reserve + hysteresis, without pressure, for the grow
//   delay; a shrink that follows a grow without the cgroup limit having dropped, or one for an
//   OOM kill, doubles the grow delay (up to max_grow_delay; back to the base after
//   max_grow_delay without one); a raised cgroup limit is followed at the base delay;
// - a shrink for a small deficit (the reserve partly eaten) or for PSI pressure needs it on
//   pressure_polls polls in a row, and changes are a cooldown apart; a shrink is at once when
//   the headroom is below half the reserve, the deficit comes with limit hits (the kernel is
//   reclaiming) or the group saw an OOM kill;
// - a proposal is pending until the caller's budget shows it applied (or it is overridden, or
//   apply_timeout passes): the governor never assumes its proposal was applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "server/memory_probe.h"

namespace swapmoe::server {

using GovernorClock = std::chrono::steady_clock;

struct GovernorOptions {
  uint64_t reserve = uint64_t{1} << 30;  // bytes kept free for everything else (--memory-reserve)
  uint64_t minimum_budget = 0;           // bytes: Engine::minimum_budget(); never proposed below
  uint64_t maximum_budget = 0;           // bytes: Engine::full_footprint(); never proposed above
  std::chrono::milliseconds poll_interval{1000};  // for GovernorThread
  std::chrono::milliseconds grow_delay{5000};     // plentiful this long before a grow
  std::chrono::milliseconds max_grow_delay{120000};  // the grow delay after repeated back-offs
  std::chrono::milliseconds cooldown{2000};       // between two changes (urgent shrinks excepted)
  std::chrono::milliseconds apply_timeout{15000}; // a proposal not in force by then was refused
  uint64_t step = 0;        // budgets are multiples of it; 0: max(16 MiB, maximum / 64)
  uint64_t hysteresis = 0;  // extra headroom a grow needs; 0: max(reserve / 4, 4 steps)
  double psi_some_threshold = 10;  // percent of time stalled (since the last poll) that is pressure
  double psi_full_threshold = 5;
  int pressure_polls = 2;          // consecutive polls with pressure (or a small deficit) to shrink
  double pressure_shrink = 0.125;  // share of the budget a pressure shrink gives up
};

struct BudgetChange {
  uint64_t from = 0;    // bytes: the budget in force when it was proposed
  uint64_t budget = 0;  // bytes: the proposed budget
  std::string reason;   // one line for the log and GET /v1/memory
  bool grow() const { return budget > from; }
};

class BudgetGovernor {
 public:
  // Fills the defaults (step, hysteresis); throws swapmoe::Error when the maximum is 0 or below
  // the minimum.
  explicit BudgetGovernor(GovernorOptions options);

  const GovernorOptions& options() const { return options_; }  // defaults filled in

  // The budget to start with, before the engine is built (it holds nothing yet):
  // headroom - reserve - process_other_bytes, rounded down to a step, within [minimum, maximum].
  // process_other_bytes: what the process will still take beside the engine's account that the
  // snapshot does not show yet (0 when unsure: the reserve covers small amounts). The
  // explanation is note(); when even the minimum does not fit, it says so and the minimum is
  // returned.
  uint64_t initial_budget(const MemorySnapshot& snapshot, uint64_t process_other_bytes);

  // One poll: the readings, the budget in force (0: none, i.e. everything resident), the
  // engine's accounted bytes (Engine::memory_account().total()), and the time. Returns a change
  // only when one should happen. Call it at every poll, even while a change is pending: the
  // pressure signals are differences between consecutive readings.
  std::optional<BudgetChange> on_poll(const MemorySnapshot& snapshot, uint64_t current_budget,
                                      uint64_t engine_accounted, GovernorClock::time_point now);

  const std::string& note() const { return note_; }  // the last assessment, changed or not
  int proposals() const { return proposals_; }
  GovernorClock::duration grow_delay_now() const { return grow_delay_now_; }

 private:
  uint64_t round_down(uint64_t bytes) const;  // to a step, within [minimum, maximum]
  // Records a proposal; back_off doubles the grow delay (a shrink after an OOM kill, or one
  // that follows a grow without the cgroup limit having dropped).
  std::optional<BudgetChange> propose(uint64_t from, uint64_t to, std::string reason, const MemorySnapshot& s,
                                      GovernorClock::time_point now, bool back_off);

  GovernorOptions options_;

  // Last reading, for the counters' and PSI totals' differences.
  std::optional<MemorySnapshot> previous_;
  int pressure_run_ = 0;  // consecutive polls with pressure
  int deficit_run_ = 0;   // consecutive polls with a small deficit

  // The grow window: since when memory has been plentiful, and the lowest affordable since.
  std::optional<GovernorClock::time_point> plenty_since_;
  int64_t plenty_min_affordable_ = 0;
  GovernorClock::duration grow_delay_now_{};

  // The last proposal and whether it is still waiting to be applied.
  struct Proposal {
    BudgetChange change;
    GovernorClock::time_point time;
    uint64_t cgroup_limit = 0;  // when it was made, to tell a limit drop from our own mistake
  };
  std::optional<Proposal> last_;
  bool pending_ = false;
  std::optional<GovernorClock::time_point> last_unexplained_shrink_;
  int proposals_ = 0;
  std::string note_;
};

}  // namespace swapmoe::server
