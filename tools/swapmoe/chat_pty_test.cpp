// `swapmoe chat` driven through a pseudo-terminal, as a person types into it: two turns (the
// second does not re-evaluate the first), /stats, a budget change between turns, Ctrl-C in the
// middle of a reply (the chat goes on), Ctrl-D to end.
#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>

#include "cli_test_util.h"

namespace {

using swapmoe::cli_test::CliTest;

class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& args) {
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  bool started() const { return pid_ > 0; }

  void type(const std::string& keys) { ASSERT_EQ(::write(fd_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size())); }

  // Reads until `pattern` matches what arrived since the last wait (or the time is up); returns
  // the text read, which starts after the previous match.
  std::string wait_for(const std::regex& pattern, double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::string seen;
    while (std::chrono::steady_clock::now() < end) {
      if (std::regex_search(buffer_, pattern)) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
    std::smatch m;
    if (!std::regex_search(buffer_, m, pattern)) return "TIMEOUT waiting for a match in: " + buffer_;
    seen = buffer_.substr(0, static_cast<size_t>(m.position(0) + m.length(0)));
    buffer_.erase(0, seen.size());
    return seen;
  }

  int wait_exit() {
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      char chunk[4096];
      while (::read(fd_, chunk, sizeof chunk) > 0) {
      }
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(50000);
    }
    return -1;
  }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string buffer_;
};

// "context 64/65536 tokens | last turn: 57 tokens evaluated, 8 generated (limit)"
struct TurnStats {
  long context = -1, evaluated = -1;
  std::string stop;
};
TurnStats parse_stats(const std::string& text) {
  static const std::regex re(R"(context (\d+)/\d+ tokens \| last turn: (\d+) tokens evaluated, \d+ generated \((\w+)\))");
  std::smatch m;
  TurnStats s;
  if (std::regex_search(text, m, re)) s = {std::stol(m[1]), std::stol(m[2]), m[3]};
  return s;
}

TEST_F(CliTest, ChatInATerminal) {
  const std::string system(300, 'x');  // a long history, so that re-evaluating it would show
  Terminal term({std::string(SWAPMOE_BIN_DIR) + "/swapmoe", "chat", "-m", model_, "-c", "65536", "-n", "8", "--temp",
                 "0", "-t", "1", "--expert-budget", "50%", "-sys", system});
  ASSERT_TRUE(term.started());
  const std::regex prompt(R"(\n> $)"), stats(R"(last turn: [^\n]*\n)");
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);

  term.type("hello\r");
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);
  term.type("/stats\r");
  const TurnStats first = parse_stats(term.wait_for(stats));
  ASSERT_GT(first.context, 300) << "the system message and the first turn fill the context";
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);

  term.type("/budget 99%\r");
  EXPECT_NE(term.wait_for(prompt).find("budget now"), std::string::npos);

  term.type("again\r");
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);
  term.type("/stats\r");
  const TurnStats second = parse_stats(term.wait_for(stats));
  EXPECT_LT(second.evaluated, first.context / 2) << "the second turn evaluated only its own tokens";
  EXPECT_GT(second.context, first.context);
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);

  term.type("\x04");  // Ctrl-D ends the chat
  EXPECT_EQ(term.wait_exit(), 0);
}

TEST_F(CliTest, CtrlCStopsAReplyAndTheChatGoesOn) {
  // Replies without a token limit (-n -1) in a long context: they run for seconds unless stopped.
  Terminal term({std::string(SWAPMOE_BIN_DIR) + "/swapmoe", "chat", "-m", model_, "-c", "65536", "-n", "-1", "--temp",
                 "0.8", "--seed", "1", "-t", "1", "--ignore-eos"});
  ASSERT_TRUE(term.started());
  const std::regex prompt(R"(\n> $)"), stats(R"(last turn: [^\n]*\n)");
  ASSERT_EQ(term.wait_for(prompt).find("TIMEOUT"), std::string::npos);
  // --ignore-eos: the reply cannot end by itself before the Ctrl-C arrives (a random model may
  // still write the turn-end text; then try again).
  bool interrupted = false;
  for (int attempt = 0; attempt < 3 && !interrupted; ++attempt) {
    term.type("tell me everything\r");
    ::usleep(300000);
    term.type("\x03");  // Ctrl-C
    ASSERT_EQ(term.wait_for(prompt, 60).find("TIMEOUT"), std::string::npos);
    term.type("/stats\r");
    interrupted = parse_stats(term.wait_for(stats)).stop == "interrupted";
    term.wait_for(prompt);
  }
  EXPECT_TRUE(interrupted);
  // Ctrl-C at the prompt ends the program, as in llama.cpp.
  term.type("\x03");
  EXPECT_EQ(term.wait_exit(), 130);
}

}  // namespace
