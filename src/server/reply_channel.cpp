#include "server/reply_channel.h"

namespace swapmoe::server {

void ReplyChannel::push(ReplyEvent event) {
  {
    std::lock_guard lock(mutex_);
    if (event.kind != ReplyEvent::TEXT) finished_ = true;
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
}

std::vector<ReplyEvent> ReplyChannel::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  std::vector<ReplyEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace swapmoe::server
