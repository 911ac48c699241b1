// Stop strings in streamed text: generation ends when the text produced so far contains one.
// Text that may be the start of a stop string is held back until it is known not to be, so a
// stop string that is not kept never reaches the user, even when tokens split it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace swapmoe {

struct StopString {
  std::string text;
  bool keep = false;  // emit the stop string itself (llama.cpp's reverse prompt) or drop it (OpenAI's stop)
};

class StopStrings {
 public:
  explicit StopStrings(std::vector<StopString> stops = {});

  // Takes newly generated text; returns what can be shown now. After a stop string completes,
  // matched() is true and later calls return nothing.
  std::string push(std::string_view text);
  // The text still held back (at the end of generation, when no stop string completed).
  std::string flush();

  bool matched() const { return matched_ >= 0; }
  const StopString& match() const { return stops_[static_cast<size_t>(matched_)]; }
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<StopString> stops_;
  std::string held_;
  int matched_ = -1;
};

}  // namespace swapmoe
