#include "runtime/stop_strings.h"

#include <algorithm>

namespace swapmoe {

StopStrings::StopStrings(std::vector<StopString> stops) {
  for (StopString& s : stops)
    if (!s.text.empty()) stops_.push_back(std::move(s));
}

std::string StopStrings::push(std::string_view text) {
  if (matched()) return {};
  held_ += text;
  // The earliest complete stop string wins (the longest when several start there).
  size_t best = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t at = held_.find(stops_[i].text);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && stops_[i].text.size() > match().text.size())) best = at, matched_ = static_cast<int>(i);
  }
  if (matched()) {
    std::string out = held_.substr(0, best + (match().keep ? match().text.size() : 0));
    held_.clear();
    return out;
  }
  // Hold back the longest tail of the text that begins some stop string.
  size_t hold = 0;
  for (const StopString& s : stops_)
    for (size_t n = std::min(s.text.size() - 1, held_.size()); n > hold; --n)
      if (held_.compare(held_.size() - n, n, s.text, 0, n) == 0) {
        hold = n;
        break;
      }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopStrings::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace swapmoe
