#include "experts/expert_loader.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"

namespace swapmoe {

ExpertLoader::ExpertLoader(const ExpertStore& store, int n_readers) : store_(store) {
  for (int i = 0; i < std::max(1, n_readers); ++i) threads_.emplace_back([this] { run(); });
}

ExpertLoader::~ExpertLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ExpertLoader::submit(const LoadRequest& request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Load& load = active_.emplace_back();
    load.result.request = request;
    ++background_busy_;
    for (int p = 0; p < 3; ++p) jobs_.push_back({&load, p});
  }
  work_cv_.notify_all();
}

std::vector<LoadResult> ExpertLoader::read_now(std::span<const LoadRequest> requests) {
  std::vector<LoadResult> results;
  if (requests.empty()) return results;
  Batch batch;
  std::vector<Load*> loads;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    batch.loads_left = static_cast<int>(requests.size());
    for (const LoadRequest& r : requests) {
      Load& load = active_.emplace_back();
      load.result.request = r;
      load.batch = &batch;
      loads.push_back(&load);
    }
    // Ahead of the background work, in request order: the first expert's parts first.
    for (auto it = loads.rbegin(); it != loads.rend(); ++it)
      for (int p = 2; p >= 0; --p) jobs_.push_front({*it, p});
    work_cv_.notify_all();
    batch_cv_.wait(lock, [&] { return batch.loads_left == 0; });
    for (Load* load : loads) {
      results.push_back(std::move(load->result));
      active_.remove_if([load](const Load& l) { return &l == load; });
    }
  }
  return results;
}

bool ExpertLoader::poll(LoadResult* result) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_.empty()) return false;
  *result = std::move(done_.front());
  done_.pop_front();
  return true;
}

bool ExpertLoader::wait_poll(LoadResult* result) {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [this] { return !done_.empty() || background_busy_ == 0; });
  if (done_.empty()) return false;
  *result = std::move(done_.front());
  done_.pop_front();
  return true;
}

void ExpertLoader::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_cv_.wait(lock, [this] { return background_busy_ == 0; });
}

int ExpertLoader::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(done_.size()) + background_busy_;
}

// Called with mutex_ held.
void ExpertLoader::finish_part(Load* load, bool ok, const std::string& error) {
  if (!ok && load->result.error.empty()) load->result.error = error;
  if (--load->parts_left > 0) return;
  load->result.ok = load->result.error.empty();
  if (load->batch) {
    if (--load->batch->loads_left == 0) batch_cv_.notify_all();
    return;  // read_now takes the result and removes the load
  }
  done_.push_back(std::move(load->result));
  active_.remove_if([load](const Load& l) { return &l == load; });
  --background_busy_;
  idle_cv_.notify_all();  // wait_idle() waits for none in flight, wait_poll() for any result
}

void ExpertLoader::run() {
  for (;;) {
    Job job;
    LoadRequest req;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      jobs_.pop_front();
      req = job.load->result.request;
    }
    bool ok = false;
    std::string error;
    try {
      store_.read_part(req.layer, req.expert, job.part, req.buffer);
      ok = true;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {  // anything escaping this thread's function would abort the process
      error = fmt::format(
          "[expert loader] reading expert {} of layer {} failed with an exception that is not a "
          "std::exception; the ByteRangeReader in use breaks its contract (it must throw swapmoe::Error)",
          req.expert, req.layer);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    finish_part(job.load, ok, error);
  }
}

}  // namespace swapmoe
