// ExpertLoader: reader threads that bring experts in from storage.
//
// Two kinds of work share the readers. Background loads (swapmoe's swaps, prefetches) are
// submitted and their completions polled; the engine never waits for them unless it asks to
// (wait_idle). Urgent loads (read_now: a token that must wait for its experts) jump the queue
// and are read in parallel, each expert's gate, up and down as separate reads, so that a token
// waits for the slowest read rather than for the sum of them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

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
  // n_readers: reads in flight at once (at least 1).
  explicit ExpertLoader(const ExpertStore& store, int n_readers = 1);
  ~ExpertLoader();
  ExpertLoader(const ExpertLoader&) = delete;
  ExpertLoader& operator=(const ExpertLoader&) = delete;

  void submit(const LoadRequest& request);
  // Takes one completed background load, if any.
  bool poll(LoadResult* result);
  // Takes one completed background load, waiting for one if some are still being read; false
  // when none is in flight.
  bool wait_poll(LoadResult* result);
  // Blocks until every submitted background load has completed (results stay queued for poll).
  void wait_idle();
  int in_flight() const;  // background loads submitted and not yet polled

  // Reads these experts now, ahead of the background queue and in parallel, and returns when
  // all have finished. One result per request, in order.
  std::vector<LoadResult> read_now(std::span<const LoadRequest> requests);

  int n_readers() const { return static_cast<int>(threads_.size()); }

 private:
  struct Batch;
  struct Load {
    LoadResult result;
    int parts_left = 3;
    Batch* batch = nullptr;  // urgent loads: the read_now call waiting for them
  };
  struct Batch {
    int loads_left = 0;
  };
  struct Job {
    Load* load;
    int part;
  };

  void run();
  void finish_part(Load* load, bool ok, const std::string& error);

  const ExpertStore& store_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_, idle_cv_, batch_cv_;
  std::deque<Job> jobs_;       // parts waiting for a reader; urgent ones at the front
  std::list<Load> active_;     // loads with parts still to read (stable addresses for the jobs)
  std::deque<LoadResult> done_;
  int background_busy_ = 0;    // background loads submitted and not yet in done_
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace swapmoe
