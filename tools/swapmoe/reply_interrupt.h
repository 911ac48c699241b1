// Ctrl-C in an interactive session: while a reply is being generated it stops the reply and
// gives the turn back to the user; at the prompt it ends the program (as llama.cpp's chat).
#pragma once

#include <atomic>

namespace swapmoe::cli {

class ReplyInterrupt {
 public:
  ReplyInterrupt();  // installs the SIGINT handler
  ~ReplyInterrupt();  // restores the previous one
  ReplyInterrupt(const ReplyInterrupt&) = delete;
  ReplyInterrupt& operator=(const ReplyInterrupt&) = delete;

  // Marks the span in which Ctrl-C stops a reply; begin() clears an earlier interrupt.
  void begin_reply();
  void end_reply();
  // Set by Ctrl-C during a reply; generation polls it between tokens.
  const std::atomic<bool>* flag() const;
};

}  // namespace swapmoe::cli
