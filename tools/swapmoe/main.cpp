// swapmoe: the command-line front end. One subcommand per job: run, perplexity, bench, synth, profile, plan.
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/error.h"

namespace swapmoe::cli {
void register_run(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_bench(CLI::App& app);
void register_synth(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);
}  // namespace swapmoe::cli

int main(int argc, char** argv) {
  CLI::App app{"swapmoe: serve Mixture-of-Experts models under a memory budget"};
  app.require_subcommand(1);
  // A flag given twice takes its last value, so wrappers (scripts/demo) can be overridden.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", std::string("swapmoe ") + SWAPMOE_VERSION);
  swapmoe::cli::register_run(app);
  swapmoe::cli::register_perplexity(app);
  swapmoe::cli::register_bench(app);
  swapmoe::cli::register_synth(app);
  swapmoe::cli::register_profile(app);
  swapmoe::cli::register_plan(app);
  try {
    app.parse(argc, argv);
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
