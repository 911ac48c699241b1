// GovernorThread: runs a BudgetGovernor on its own thread, one poll per interval, and hands
// each proposal to the server. The server applies it at a safe point (between decode steps),
// or refuses it; the governor learns which from the budget the engine reports next, never by
// assuming. Stops promptly (a condition variable, not a sleep).
//
// Wiring for `--memory-budget auto` (the engine needs a budgeted policy, e.g. swapmoe, even when
// the first budget is the full footprint, or it cannot shrink later):
//   MemoryPlan plan = Engine::preview_plan(options);
//   GovernorOptions g{.reserve = reserve, .minimum_budget = plan.minimum(), .maximum_budget = plan.full_footprint()};
//   auto probe = system_memory_probe();             // log probe->describe()
//   BudgetGovernor governor(g);
//   options.budget = Budget::of_bytes(governor.initial_budget(probe->read(), 0));  // log governor.note()
//   ... build the engine; its thread publishes EngineMemory after every step and change ...
//   GovernorThread thread(std::move(governor), std::move(probe), read_published, queue_newest);
// At a safe point the engine thread takes the newest queued change, drops it if change.from is
// no longer the budget in force, else calls set_memory_budget(Budget::of_bytes(change.budget))
// (a throw is a refusal: log it, keep the budget), publishes the budget and logs change.reason.
// After a shrink it calls malloc_trim(0): glibc keeps freed expert slots (a few MiB each) in its
// heap, the group's usage would not drop and the governor, seeing less room, would shrink again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/budget_governor.h"
#include "server/memory_probe.h"

namespace swapmoe::server {

// What the governor reads of the engine. The engine's thread owns the engine, so it publishes
// these (e.g. in atomics after every step and every budget change) for the governor to read.
struct EngineMemory {
  uint64_t budget = 0;     // bytes in force: Engine::memory_budget() (0: none)
  uint64_t accounted = 0;  // bytes: Engine::memory_account().total()
};

class GovernorThread {
 public:
  // Both callbacks run on the governor's thread. read_engine must be safe to call from there;
  // on_change should only hand the change over (queue it for the engine's next safe point) and
  // return. An exception from either, or from the probe, is counted in status() and the
  // thread polls on.
  GovernorThread(BudgetGovernor governor, std::unique_ptr<MemoryProbe> probe,
                 std::function<EngineMemory()> read_engine,
                 std::function<void(const BudgetChange&)> on_change);
  ~GovernorThread();  // stops
  GovernorThread(const GovernorThread&) = delete;
  GovernorThread& operator=(const GovernorThread&) = delete;

  void stop();      // returns once the thread has ended (within the poll in progress)
  void poll_now();  // an early poll, e.g. right after a change was applied or refused

  struct Status {
    uint64_t polls = 0;
    int proposals = 0;
    uint64_t errors = 0;
    std::optional<BudgetChange> last_change;  // the last proposal
    std::string note;                         // the governor's last assessment
    std::string last_error;
    MemorySnapshot last_snapshot;
  };
  Status status() const;

 private:
  void run();
  void poll_once();

  BudgetGovernor governor_;  // the thread's alone
  std::unique_ptr<MemoryProbe> probe_;
  std::function<EngineMemory()> read_engine_;
  std::function<void(const BudgetChange&)> on_change_;

  mutable std::mutex mutex_;  // guards what follows
  std::condition_variable wake_;
  bool stopping_ = false;
  bool poll_requested_ = false;
  Status status_;
  std::thread thread_;  // last: starts once everything above is built
};

}  // namespace swapmoe::server
