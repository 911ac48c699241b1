#include "experts/expert_loader.h"

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

ExpertLoader::ExpertLoader(const ExpertStore& store) : store_(store), thread_([this] { run(); }) {}

ExpertLoader::~ExpertLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

void ExpertLoader::submit(const LoadRequest& request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(request);
  }
  work_cv_.notify_one();
}

bool ExpertLoader::poll(LoadResult* result) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_.empty()) return false;
  *result = std::move(done_.front());
  done_.pop_front();
  return true;
}

void ExpertLoader::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [this] { return pending_.empty() && busy_ == 0; });
}

int ExpertLoader::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(pending_.size() + done_.size()) + busy_;
}

void ExpertLoader::run() {
  for (;;) {
    LoadRequest req;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      if (stop_) return;
      req = pending_.front();
      pending_.pop_front();
      ++busy_;
    }
    LoadResult res;
    res.request = req;
    try {
      store_.read(req.layer, req.expert, req.buffer);
      res.ok = true;
    } catch (const std::exception& e) {
      res.error = e.what();
    } catch (...) {  // anything escaping this thread's function would abort the process
      res.error = fmt::format(
          "[expert loader] reading expert {} of layer {} failed with an exception that is not a "
          "std::exception; the ByteRangeReader in use breaks its contract (it must throw swapmoe::Error)",
          req.expert, req.layer);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.push_back(std::move(res));
      --busy_;
    }
    idle_cv_.notify_all();
  }
}

}  // namespace swapmoe
