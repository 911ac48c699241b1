// For libFuzzer targets: the GGUF reader takes a path, so each input goes through a scratch file.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace swapmoe {

// Writes the input to this process's scratch file (in $TMPDIR, else /tmp) and returns its path.
// Aborts when it cannot: a fuzzer that silently tests nothing would look clean.
inline const std::string& write_fuzz_input(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/swapmoe_fuzz_" + std::to_string(::getpid()) + ".gguf";
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace swapmoe
