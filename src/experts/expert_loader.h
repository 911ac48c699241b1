// ExpertLoader: a background thread that reads experts from storage while decoding goes on.
//
// The engine thread submits requests and polls completions through two queues; it never waits
// unless it asks to (wait_idle, used once after a prompt's prefill).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "experts/expert_store.h"

namespace swapmoe {

struct LoadRequest {
  int layer = -1;
  int expert = -1;
  uint8_t* buffer = nullptr;  // store.buffer_bytes(), owned by the caller until completion
};

struct LoadResult {
  LoadRequest request;
  bool ok = false;
  std::string error;  // when !ok
};

class ExpertLoader {
 public:
  explicit ExpertLoader(const ExpertStore& store);
  ~ExpertLoader();
  ExpertLoader(const ExpertLoader&) = delete;
  ExpertLoader& operator=(const ExpertLoader&) = delete;

  void submit(const LoadRequest& request);
  // Takes one completed load, if any.
  bool poll(LoadResult* result);
  // Blocks until every submitted load has completed (results stay queued for poll).
  void wait_idle();
  int in_flight() const;  // submitted and not yet polled

 private:
  void run();

  const ExpertStore& store_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<LoadRequest> pending_;
  std::deque<LoadResult> done_;
  int busy_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace swapmoe
