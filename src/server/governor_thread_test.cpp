// GovernorThread: proposals reach the callback from the thread, the budget in force comes from
// the caller, errors are counted without stopping it, and stop() is prompt.
#include "server/governor_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace swapmoe::server {
namespace {

constexpr uint64_t kGibibyte = uint64_t{1} << 30;
using namespace std::chrono_literals;

// A cgroup of 12 kGibibyte with 1 kGibibyte besides the engine; the engine holds what the test says.
class ScriptedProbe final : public MemoryProbe {
 public:
  std::atomic<uint64_t> limit{12 * kGibibyte};
  std::atomic<uint64_t> engine{0};
  std::atomic<int> throw_next{0};
  MemorySnapshot read() override {
    if (throw_next > 0) {
      --throw_next;
      throw std::runtime_error("[probe] scripted failure");
    }
    MemorySnapshot s;
    s.time = std::chrono::steady_clock::now();
    s.mem_available = static_cast<int64_t>(64 * kGibibyte);
    s.cgroup_version = 2;
    s.cgroup_limit = limit;
    s.cgroup_usage = 1 * kGibibyte + engine;
    return s;
  }
  std::string describe() const override { return "scripted"; }
};

GovernorOptions fast_options() {
  GovernorOptions o;
  o.minimum_budget = 2 * kGibibyte;
  o.maximum_budget = 16 * kGibibyte;
  o.poll_interval = 5ms;
  o.grow_delay = 50ms;
  o.cooldown = 10ms;
  return o;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(GovernorThread, ProposesAndLearnsWhatWasApplied) {
  auto probe_owned = std::make_unique<ScriptedProbe>();
  ScriptedProbe* probe = probe_owned.get();
  probe->engine = 10 * kGibibyte;
  std::atomic<uint64_t> budget{10 * kGibibyte};  // what the engine thread would publish
  std::mutex m;
  std::vector<BudgetChange> changes;
  GovernorThread thread(
      BudgetGovernor(fast_options()), std::move(probe_owned),
      [&] { return EngineMemory{budget.load(), probe->engine.load()}; },
      [&](const BudgetChange& c) {
        std::lock_guard<std::mutex> lock(m);
        changes.push_back(c);
      });
  probe->limit = 11 * kGibibyte + 256 * (uint64_t{1} << 20);
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(m);
    return !changes.empty();
  }));
  BudgetChange first;
  {
    std::lock_guard<std::mutex> lock(m);
    first = changes[0];
  }
  EXPECT_EQ(first.from, 10 * kGibibyte);
  EXPECT_LT(first.budget, 10 * kGibibyte);
  // The server applies it at its safe point; the governor goes on from there, with no repeat.
  budget = first.budget;
  probe->engine = first.budget;
  thread.poll_now();
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard<std::mutex> lock(m);
    EXPECT_EQ(changes.size(), 1u);
  }
  GovernorThread::Status st = thread.status();
  EXPECT_GE(st.polls, 2u);
  EXPECT_EQ(st.proposals, 1);
  ASSERT_TRUE(st.last_change);
  EXPECT_EQ(st.last_change->budget, first.budget);
  EXPECT_NE(st.note.find("steady"), std::string::npos) << st.note;
}

TEST(GovernorThread, CountsErrorsAndPollsOn) {
  auto probe_owned = std::make_unique<ScriptedProbe>();
  probe_owned->throw_next = 3;
  GovernorThread thread(BudgetGovernor(fast_options()), std::move(probe_owned), [] { return EngineMemory{4 * kGibibyte, 4 * kGibibyte}; },
                        [](const BudgetChange&) { throw std::runtime_error("[server] queue closed"); });
  ASSERT_TRUE(wait_until([&] { return thread.status().polls >= 10; }));
  GovernorThread::Status st = thread.status();
  EXPECT_GE(st.errors, 3u);
  EXPECT_FALSE(st.last_error.empty());
}

TEST(GovernorThread, StopsPromptlyWithALongInterval) {
  GovernorOptions o = fast_options();
  o.poll_interval = std::chrono::hours(1);
  auto thread = std::make_unique<GovernorThread>(BudgetGovernor(o), std::make_unique<ScriptedProbe>(),
                                                 [] { return EngineMemory{4 * kGibibyte, 4 * kGibibyte}; }, [](const BudgetChange&) {});
  ASSERT_TRUE(wait_until([&] { return thread->status().polls >= 1; }));
  thread->poll_now();  // an early poll, well before the hour
  ASSERT_TRUE(wait_until([&] { return thread->status().polls >= 2; }));
  auto start = std::chrono::steady_clock::now();
  thread.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

}  // namespace
}  // namespace swapmoe::server
