#include "server/governor_thread.h"

#include <exception>

namespace swapmoe::server {

GovernorThread::GovernorThread(BudgetGovernor governor, std::unique_ptr<MemoryProbe> probe,
                               std::function<EngineMemory()> read_engine,
                               std::function<void(const BudgetChange&)> on_change)
    : governor_(std::move(governor)),
      probe_(std::move(probe)),
      read_engine_(std::move(read_engine)),
      on_change_(std::move(on_change)),
      thread_([this] { run(); }) {}

GovernorThread::~GovernorThread() { stop(); }

void GovernorThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void GovernorThread::poll_now() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    poll_requested_ = true;
  }
  wake_.notify_all();
}

GovernorThread::Status GovernorThread::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void GovernorThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_once();
    lock.lock();
    wake_.wait_for(lock, governor_.options().poll_interval, [this] { return stopping_ || poll_requested_; });
    poll_requested_ = false;
  }
}

void GovernorThread::poll_once() {
  // The probe, the engine and the callback run outside the lock: status() never waits on them.
  std::optional<BudgetChange> change;
  MemorySnapshot snapshot;
  std::string error;
  try {
    snapshot = probe_->read();
    EngineMemory engine = read_engine_();
    GovernorClock::time_point now = snapshot.time == GovernorClock::time_point{} ? GovernorClock::now() : snapshot.time;
    change = governor_.on_poll(snapshot, engine.budget, engine.accounted, now);
    if (change) on_change_(*change);
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++status_.polls;
  status_.proposals = governor_.proposals();
  status_.note = governor_.note();
  status_.last_snapshot = snapshot;
  if (change) status_.last_change = change;
  if (!error.empty()) {
    ++status_.errors;
    status_.last_error = error;
  }
}

}  // namespace swapmoe::server
