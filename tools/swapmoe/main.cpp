// swapmoe: the command-line front end. One subcommand per job: run, perplexity, bench, synth, profile, plan.
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/vec_dot.h"

namespace swapmoe::cli {
void register_run(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_bench(CLI::App& app);
void register_synth(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);
}  // namespace swapmoe::cli

namespace {

// llama.cpp's multi-letter short flags, which CLI11 cannot declare: rewritten to their long
// names before parsing, so `-ctk q8_0` works as it does with llama.cpp.
std::vector<std::string> with_long_names(int argc, char** argv) {
  static const std::pair<const char*, const char*> kAliases[] = {
      {"-ctk", "--cache-type-k"},
      {"-ctv", "--cache-type-v"},
  };
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const auto& [short_name, long_name] : kAliases)
      if (a == short_name) a = long_name;
    args.push_back(std::move(a));
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"swapmoe: serve Mixture-of-Experts models under a memory budget"};
  app.require_subcommand(1);
  // A flag given twice takes its last value, so wrappers (scripts/demo) can be overridden.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", [] {
    return fmt::format("swapmoe {} ({} build, {})\ncpu: {}", SWAPMOE_VERSION, SWAPMOE_BUILD_TYPE,
                       SWAPMOE_NATIVE_BUILD ? "-march=native" : "portable", swapmoe::cpu_description());
  });
  swapmoe::cli::register_run(app);
  swapmoe::cli::register_perplexity(app);
  swapmoe::cli::register_bench(app);
  swapmoe::cli::register_synth(app);
  swapmoe::cli::register_profile(app);
  swapmoe::cli::register_plan(app);
  try {
    app.parse(with_long_names(argc, argv));
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const swapmoe::Error& e) {
    std::fflush(stdout);
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory; use a smaller context (-c) or a smaller model" << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
