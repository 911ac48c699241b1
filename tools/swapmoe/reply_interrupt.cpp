#include "reply_interrupt.h"

#include <signal.h>
#include <unistd.h>

namespace swapmoe::cli {

namespace {
// Lock-free atomics are safe to touch from a signal handler.
std::atomic<bool> g_in_reply{false};
std::atomic<bool> g_interrupted{false};
struct sigaction g_previous {};

void on_sigint(int) {
  if (g_in_reply.load()) {
    g_interrupted.store(true);
    return;
  }
  static const char kNewline[] = "\n";
  (void)!::write(STDOUT_FILENO, kNewline, 1);
  ::_exit(130);  // 128 + SIGINT, as a shell reports it
}
}  // namespace

ReplyInterrupt::ReplyInterrupt() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a read at the prompt is not cut short by a Ctrl-C during a reply
  ::sigaction(SIGINT, &sa, &g_previous);
}

ReplyInterrupt::~ReplyInterrupt() { ::sigaction(SIGINT, &g_previous, nullptr); }

void ReplyInterrupt::begin_reply() {
  g_interrupted.store(false);
  g_in_reply.store(true);
}

void ReplyInterrupt::end_reply() { g_in_reply.store(false); }

const std::atomic<bool>* ReplyInterrupt::flag() const { return &g_interrupted; }

}  // namespace swapmoe::cli
