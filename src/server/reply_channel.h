// ReplyChannel: how one request's reply travels from the engine thread, which decodes every
// sequence, to the HTTP thread that answers the client: text pieces, then one end event. The
// HTTP side may cancel (the client went away); the engine frees the sequence at its next step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace swapmoe::server {

struct ReplyEvent {
  enum Kind { TEXT, END, FAILED } kind = TEXT;
  std::string text;           // TEXT: the next piece of the reply; FAILED: the error message
  std::string finish_reason;  // END: "stop" (end of generation or a stop string) or "length"
  int64_t prompt_tokens = 0;  // END: usage
  int64_t completion_tokens = 0;
  int status = 500;           // FAILED: the HTTP status to answer with

  static ReplyEvent piece(std::string text) {
    ReplyEvent e;
    e.text = std::move(text);
    return e;
  }
  static ReplyEvent end(std::string finish_reason, int64_t prompt_tokens, int64_t completion_tokens) {
    ReplyEvent e;
    e.kind = END, e.finish_reason = std::move(finish_reason);
    e.prompt_tokens = prompt_tokens, e.completion_tokens = completion_tokens;
    return e;
  }
  static ReplyEvent failed(std::string message, int status) {
    ReplyEvent e;
    e.kind = FAILED, e.text = std::move(message), e.status = status;
    return e;
  }
};

class ReplyChannel {
 public:
  // Engine side.
  void push(ReplyEvent event);
  // HTTP side: waits up to `timeout` for events and takes all that are there (none on timeout).
  std::vector<ReplyEvent> take(std::chrono::milliseconds timeout);
  // HTTP side: a whole reply is awaited (no stream), so text pieces need not wake the taker;
  // only the end or a failure does. (A wake-up a token cost a context switch a token on both
  // sides: on 2 cores, a quarter of the machine at -np 4 on the shipped model.)
  void wake_on_end_only() { wake_on_text_ = false; }
  // HTTP side: the client is gone, or the request is abandoned; the engine drops the sequence.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // Engine side: the end (or failure) event has been sent.
  bool finished() const { return finished_; }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ReplyEvent> events_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> wake_on_text_{true};
  std::atomic<bool> finished_{false};
};

}  // namespace swapmoe::server
