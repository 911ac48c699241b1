// swapmoe: the command-line front end. One subcommand per job: run, chat, perplexity, bench, synth, profile, plan,
// tokenize, template, serve, classify.
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "core/error.h"
#include "kernels/vec_dot.h"
#include "llama_flags.h"

namespace swapmoe::cli {
void register_run(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_bench(CLI::App& app);
void register_synth(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_template(CLI::App& app);
void register_serve(CLI::App& app);
void register_classify(CLI::App& app);
}  // namespace swapmoe::cli

int main(int argc, char** argv) {
  CLI::App app{"swapmoe: serve Mixture-of-Experts models under a memory budget", "swapmoe"};
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
  swapmoe::cli::register_tokenize(app);
  swapmoe::cli::register_template(app);
  swapmoe::cli::register_serve(app);
  swapmoe::cli::register_classify(app);
  try {
    std::vector<std::string> subcommands;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      subcommands.push_back(sub->get_name());
    auto [args, notes] = swapmoe::cli::translate_llama_flags({argv + 1, argv + argc}, subcommands);
    for (const std::string& note : notes) std::cerr << note << "\n";
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
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
