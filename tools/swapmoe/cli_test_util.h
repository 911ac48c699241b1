// Runs the built swapmoe binary as a user would, for the command-line tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace swapmoe::cli_test {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
  std::string last_stdout_line;
};

// `args` go to a shell after the binary's path; with stderr_too its stderr is captured as well.
inline Result run(const std::string& args, bool stderr_too = true) {
  const std::string cmd = std::string(SWAPMOE_BIN_DIR) + "/swapmoe " + args + (stderr_too ? " 2>&1" : " 2>/dev/null");
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::string trimmed = r.out;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  r.last_stdout_line = trimmed.substr(trimmed.find_last_of('\n') == std::string::npos ? 0 : trimmed.find_last_of('\n') + 1);
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = (std::filesystem::temp_directory_path() / ("swapmoe_cli_" + std::to_string(::getpid()) + ".gguf")).string();
    Result r = run("synth --preset tiny --experts 8 --type q8_0 -t 1 -o " + model_);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(model_);
    std::filesystem::remove(model_ + ".expert-norms");
  }
  static inline std::string model_;
};

}  // namespace swapmoe::cli_test
