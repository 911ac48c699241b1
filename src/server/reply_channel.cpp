#include "server/reply_channel.h"

namespace swapmoe::server {

void ReplyChannel::push(ReplyEvent event) {
  const bool text = event.kind == ReplyEvent::TEXT;
  {
    std::lock_guard lock(mutex_);
    if (!text) finished_ = true;
    events_.push_back(std::move(event));
  }
  if (!text || wake_on_text_) ready_.notify_all();
}

std::vector<ReplyEvent> ReplyChannel::take(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return wake_on_text_ ? !events_.empty() : finished_.load(); });
  std::vector<ReplyEvent> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace swapmoe::server
