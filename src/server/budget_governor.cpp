#include "server/budget_governor.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/memory_stats.h"

namespace swapmoe::server {

namespace {

std::string bytes_text(int64_t bytes) {
  return bytes < 0 ? fmt::format("-{}", format_bytes(static_cast<uint64_t>(-bytes))) : format_bytes(static_cast<uint64_t>(bytes));
}

// "(cgroup v1 limit 8.00 GiB, working set 7.50 GiB; MemAvailable 20.00 GiB)"
std::string memory_text(const MemorySnapshot& s) {
  std::string cgroup = s.cgroup_limit == 0 ? std::string("no cgroup limit")
                                           : fmt::format("cgroup limit {}, working set {}", format_bytes(s.cgroup_limit),
                                                         format_bytes(s.cgroup_working_set()));
  std::string available = s.mem_available < 0 ? "unknown" : format_bytes(static_cast<uint64_t>(s.mem_available));
  return fmt::format("({}; MemAvailable {})", cgroup, available);
}

// The share of time stalled since the previous reading, in percent (avg10 without one).
double stall_percent(int64_t total_us, int64_t previous_total_us, double avg10, double seconds) {
  if (total_us >= 0 && previous_total_us >= 0 && total_us >= previous_total_us && seconds > 0)
    return static_cast<double>(total_us - previous_total_us) / (seconds * 1e6) * 100.0;
  return avg10;
}

int64_t increase(int64_t value, int64_t previous) {
  return value >= 0 && previous >= 0 && value > previous ? value - previous : 0;
}

std::string seconds_text(GovernorClock::duration d) {
  return fmt::format("{:.0f} s", std::chrono::duration<double>(d).count());
}

}  // namespace

BudgetGovernor::BudgetGovernor(GovernorOptions options) : options_(options) {
  GovernorOptions& o = options_;
  if (o.maximum_budget == 0)
    fail("governor", "the maximum budget is 0", "pass Engine::full_footprint() as GovernorOptions::maximum_budget");
  if (o.maximum_budget < o.minimum_budget)
    fail("governor",
         fmt::format("the maximum budget {} is below the minimum {}", format_bytes(o.maximum_budget),
                     format_bytes(o.minimum_budget)),
         "pass Engine::full_footprint() and Engine::minimum_budget()");
  if (o.step == 0) o.step = std::max<uint64_t>(uint64_t{16} << 20, o.maximum_budget / 64);
  if (o.hysteresis == 0) o.hysteresis = std::max(o.reserve / 4, 4 * o.step);
  o.pressure_polls = std::max(1, o.pressure_polls);
  o.max_grow_delay = std::max(o.max_grow_delay, o.grow_delay);
  grow_delay_now_ = o.grow_delay;
}

uint64_t BudgetGovernor::round_down(uint64_t bytes) const {
  if (bytes >= options_.maximum_budget) return options_.maximum_budget;
  return std::max(bytes / options_.step * options_.step, options_.minimum_budget);
}

uint64_t BudgetGovernor::initial_budget(const MemorySnapshot& s, uint64_t process_other_bytes) {
  const GovernorOptions& o = options_;
  int64_t headroom = s.headroom();
  if (headroom < 0) {
    note_ = fmt::format("auto budget {}: no memory figures (neither MemAvailable nor a cgroup limit), starting at the minimum",
                        format_bytes(o.minimum_budget));
    return o.minimum_budget;
  }
  int64_t affordable = headroom - static_cast<int64_t>(o.reserve) - static_cast<int64_t>(process_other_bytes);
  uint64_t budget = affordable <= 0 ? o.minimum_budget : round_down(static_cast<uint64_t>(affordable));
  note_ = fmt::format("auto budget {}: headroom {} - reserve {}{} {}", format_bytes(budget), format_bytes(static_cast<uint64_t>(headroom)),
                      format_bytes(o.reserve),
                      process_other_bytes ? fmt::format(" - other {}", format_bytes(process_other_bytes)) : std::string(),
                      memory_text(s));
  if (affordable < static_cast<int64_t>(o.minimum_budget))
    note_ += fmt::format("; even the minimum {} does not fit (affordable {}): starting at the minimum",
                         format_bytes(o.minimum_budget), bytes_text(affordable));
  else if (budget == o.maximum_budget)
    note_ += "; every expert resident";
  return budget;
}

std::optional<BudgetChange> BudgetGovernor::propose(uint64_t from, uint64_t to, std::string reason,
                                                    const MemorySnapshot& s, GovernorClock::time_point now,
                                                    bool back_off) {
  const GovernorOptions& o = options_;
  if (to < from && last_ && last_->change.grow()) {
    // A shrink right after a grow: unless the limit dropped in between, the grow was too eager
    // (or the memory around us moves that fast).
    back_off |= s.cgroup_limit == 0 || (last_->cgroup_limit != 0 && s.cgroup_limit >= last_->cgroup_limit);
  }
  if (to < from && back_off) {  // wait longer before the next grow
    grow_delay_now_ = std::min<GovernorClock::duration>(2 * grow_delay_now_, o.max_grow_delay);
    last_unexplained_shrink_ = now;
    reason += fmt::format("; grow delay now {}", seconds_text(grow_delay_now_));
  }
  BudgetChange change{from, to, std::move(reason)};
  last_ = Proposal{change, now, s.cgroup_limit};
  pending_ = true;
  plenty_since_.reset();
  deficit_run_ = 0;
  ++proposals_;
  note_ = change.reason;
  return change;
}

std::optional<BudgetChange> BudgetGovernor::on_poll(const MemorySnapshot& s, uint64_t current_budget,
                                                    uint64_t engine_accounted, GovernorClock::time_point now) {
  const GovernorOptions& o = options_;
  const uint64_t current = current_budget == 0 || current_budget > o.maximum_budget ? o.maximum_budget : current_budget;
  const auto reserve = static_cast<int64_t>(o.reserve);

  // ---- the previous proposal: applied, overridden, refused, or still pending ----
  std::string refused;
  if (pending_) {
    const BudgetChange& c = last_->change;
    if (current == c.budget || current != c.from) pending_ = false;  // applied, or another budget was set
    else if (now - last_->time >= o.apply_timeout) {
      pending_ = false;
      refused = fmt::format("the proposal {} was not applied; ", format_bytes(c.budget));
    }
  }

  // ---- signals ----
  double some = -1, full = -1;
  int64_t hits = 0, ooms = 0;
  if (previous_) {
    double seconds = std::chrono::duration<double>(s.time - previous_->time).count();
    some = stall_percent(s.psi.some_total_us, previous_->psi.some_total_us, s.psi.some_avg10, seconds);
    full = stall_percent(s.psi.full_total_us, previous_->psi.full_total_us, s.psi.full_avg10, seconds);
    hits = increase(s.cgroup_limit_hits, previous_->cgroup_limit_hits) + increase(s.cgroup_high_events, previous_->cgroup_high_events);
    ooms = increase(s.cgroup_oom_events, previous_->cgroup_oom_events);
  } else {
    some = s.psi.some_avg10;
    full = s.psi.full_avg10;
  }
  previous_ = s;

  const int64_t headroom = s.headroom();
  const bool known = headroom >= 0;
  int64_t affordable = 0;  // the budget the process can afford now
  int64_t projected = 0;   // the headroom once the engine has filled the budget in force
  if (known) {
    auto resident = static_cast<int64_t>(std::min<uint64_t>(engine_accounted, INT64_MAX));
    if (s.process_rss >= 0) resident = std::min(resident, s.process_rss);
    affordable = resident + headroom - reserve;
    projected = affordable + reserve - static_cast<int64_t>(current);
  }

  // Pressure is PSI above a threshold. Limit hits alone are not: a group full of page cache hits
  // its limit all the time; with the reserve being eaten (a deficit) they make the deficit
  // urgent, as the kernel is reclaiming already.
  const bool pressure = (some >= 0 && some >= o.psi_some_threshold) || (full >= 0 && full >= o.psi_full_threshold);
  pressure_run_ = pressure ? pressure_run_ + 1 : 0;
  const bool deficit = known && projected + static_cast<int64_t>(o.step) < reserve;
  const bool hard_deficit = known && (projected < reserve / 2 || (deficit && hits > 0));
  deficit_run_ = deficit ? deficit_run_ + 1 : 0;

  const bool cooled = !last_ || now - last_->time >= o.cooldown;
  const bool min_fits = known && affordable >= static_cast<int64_t>(o.minimum_budget);
  std::string min_text = known && !min_fits
                             ? fmt::format("; even the minimum {} does not fit (affordable {}): staying at the minimum",
                                           format_bytes(o.minimum_budget), bytes_text(affordable))
                             : std::string();

  // ---- shrink: promptly ----
  const bool urgent = hard_deficit || ooms > 0;
  const bool pressed = pressure_run_ >= o.pressure_polls;
  if ((urgent || (cooled && (deficit_run_ >= o.pressure_polls || pressed))) && current > o.minimum_budget && (!pending_ || urgent)) {
    uint64_t target = current;
    std::vector<std::string> why;
    if (deficit) {
      target = affordable <= 0 ? 0 : std::min(target, static_cast<uint64_t>(affordable));
      why.push_back(fmt::format("headroom {} once the budget is filled, below the reserve {}{}", bytes_text(projected),
                                format_bytes(o.reserve), hits > 0 ? fmt::format(", limit hits +{}", hits) : std::string()));
    }
    if (pressed || ooms > 0) {
      double share = o.pressure_shrink * (ooms > 0 ? 2 : 1);
      target = std::min(target, current - std::min(current, std::max(o.step, static_cast<uint64_t>(current * share))));
      if (ooms > 0) why.push_back(fmt::format("{} OOM kill(s) in the cgroup", ooms));
      if (pressed)
        why.push_back(fmt::format("memory pressure for {} polls (PSI some {:.1f}%, full {:.1f}%)", pressure_run_, some, full));
    }
    target = std::min(round_down(target), current);
    bool supersedes = !pending_ || target < last_->change.budget;
    if (target < current && supersedes) {
      std::string reason = fmt::format("{}shrink {} -> {}: {} {}{}", refused, format_bytes(current), format_bytes(target),
                                       fmt::join(why, "; "), memory_text(s), min_text);
      return propose(current, target, std::move(reason), s, now, ooms > 0);
    }
  }

  // ---- grow: slowly ----
  if (last_unexplained_shrink_ && now - *last_unexplained_shrink_ >= o.max_grow_delay) {
    grow_delay_now_ = o.grow_delay;  // calm for long: back to the base delay
    last_unexplained_shrink_.reset();
  }
  const bool plenty = known && !pressure && ooms == 0 && current < o.maximum_budget &&
                      affordable >= static_cast<int64_t>(current + o.hysteresis);
  if (!plenty) {
    plenty_since_.reset();
  } else if (!plenty_since_) {
    plenty_since_ = now;
    plenty_min_affordable_ = affordable;
  } else {
    plenty_min_affordable_ = std::min(plenty_min_affordable_, affordable);
  }
  // A raised (or removed) cgroup limit is a deliberate change: follow it at the base delay.
  const bool limit_raised = last_ && last_->cgroup_limit != 0 && (s.cgroup_limit == 0 || s.cgroup_limit > last_->cgroup_limit);
  const GovernorClock::duration delay = limit_raised ? GovernorClock::duration(o.grow_delay) : grow_delay_now_;
  if (plenty && !pending_ && cooled && now - *plenty_since_ >= delay) {
    int64_t room = plenty_min_affordable_ - static_cast<int64_t>(o.hysteresis / 2);
    uint64_t target = round_down(static_cast<uint64_t>(std::max<int64_t>(room, 0)));
    if (target >= current + o.step || (target == o.maximum_budget && target > current)) {
      std::string reason = fmt::format("{}grow {} -> {}: headroom above reserve + {} for {} (lowest affordable {}) {}{}", refused,
                                       format_bytes(current), format_bytes(target), format_bytes(o.hysteresis),
                                       seconds_text(now - *plenty_since_), bytes_text(plenty_min_affordable_), memory_text(s),
                                       target == o.maximum_budget ? "; every expert resident" : "");
      return propose(current, target, std::move(reason), s, now, false);
    }
  }

  // ---- no change ----
  if (!known) {
    note_ = refused + fmt::format("steady at {}: no memory figures", format_bytes(current));
  } else {
    note_ = refused + fmt::format("steady at {}: affordable {}, headroom {} once filled{}{} {}{}", format_bytes(current),
                                  bytes_text(affordable), bytes_text(projected), pending_ ? ", a change pending" : "",
                                  pressure ? ", under pressure" : "", memory_text(s), min_text);
  }
  return std::nullopt;
}

}  // namespace swapmoe::server
