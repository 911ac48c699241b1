// swapmoe run: generate text from a prompt, streamed, then a stats line. With -i the user
// continues the text after each turn; with -cnv (or `swapmoe chat`) it is a conversation in
// the model's chat format.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "chat_commands.h"
#include "cli_common.h"
#include "core/error.h"
#include "core/memory_stats.h"
#include "runtime/chat_format.h"
#include "runtime/generation.h"
#include "runtime/metrics.h"
#include "reply_interrupt.h"

namespace swapmoe::cli {

namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt, prompt_file;
  int n_predict = 128;
  SamplerParams sampling;
  uint64_t seed = 0;
  bool seed_given = false;
  bool escape = true;
  bool ignore_eos = false;
  bool display_prompt = true;
  std::vector<std::string> reverse_prompts, stops;
  bool interactive = false;
  bool conversation = false;
  std::string system_prompt;
  bool single_turn = false;
  std::string chat_template;
};

// llama.cpp's -e: \n, \r, \t, \', \", \\ and \xHH in prompts become the characters they name.
std::string process_escapes(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    const char c = in[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\'': case '"': case '\\': out += c; break;
      case 'x':
        if (i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
          out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
          i += 2;
          break;
        }
        [[fallthrough]];
      default: out += '\\', out += c;
    }
  }
  return out;
}

// Figures over all turns of a run.
struct Totals {
  size_t prompt_tokens = 0, gen_tokens = 0;
  double prompt_seconds = 0, gen_seconds = 0;
  std::vector<double> token_ms;
  std::vector<int32_t> tokens;
  std::string text, stop_reason;

  void add(const GenerationResult& r) {
    prompt_tokens += r.prompt_tokens.size();
    gen_tokens += r.tokens.size();
    prompt_seconds += r.prompt_seconds;
    gen_seconds += r.gen_seconds;
    token_ms.insert(token_ms.end(), r.token_ms.begin(), r.token_ms.end());
    tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
    text += r.text;
    stop_reason = r.stop_reason;
  }
};

// The next line the user types; false at the end of input. On a terminal a "> " marks where
// to type; from a pipe the line is echoed so the transcript reads as a conversation.
bool read_user_line(std::string& line) {
  const bool tty = ::isatty(0) != 0;
  std::cout << (tty ? "\n> " : "\n") << std::flush;
  if (!std::getline(std::cin, line)) return false;
  if (!tty) std::cout << "> " << line << "\n" << std::flush;
  return true;
}

void print_piece(std::string_view piece) { std::cout << piece << std::flush; }

// Plain text: the prompt, then with -i each line the user types continues the text.
void run_text(Session& session, const RunOptions& o, const GenerationSettings& settings, Totals& totals) {
  const Tokenizer& tok = session.engine().tokenizer();
  const std::string prompt = o.prompt_file.empty() ? o.prompt : read_text_file(o.prompt_file, "-f");
  // Special tokens in the prompt are parsed, as llama.cpp does; lines typed with -i are not.
  const std::string text = o.escape ? process_escapes(prompt) : prompt;
  check_text_fits_context(session, text);
  std::vector<int32_t> input = tok.encode(text, tok.add_bos(), /*parse_special=*/true);
  check_fits_context(session, static_cast<int64_t>(input.size()));  // before anything is printed
  if (o.display_prompt) std::cout << prompt << std::flush;
  if (!o.interactive) {
    totals.add(generate_turn(session, std::move(input), -1, settings, print_piece));
    return;
  }
  ReplyInterrupt interrupt;
  GenerationSettings turn = settings;
  turn.interrupt = interrupt.flag();
  interrupt.begin_reply();
  GenerationResult r = generate_turn(session, std::move(input), -1, turn, print_piece);
  interrupt.end_reply();
  totals.add(r);
  std::string line;
  while (!o.single_turn && read_user_line(line)) {
    const std::string text = (o.escape ? process_escapes(line) : line) + "\n";
    interrupt.begin_reply();
    r = generate_turn(session, tok.encode(text, false), r.pending, turn, print_piece);
    interrupt.end_reply();
    totals.add(r);
  }
}

// A conversation in the model's chat format: -sys, then -p (or the first line typed) as the
// first user message; each reply ends at the end of the assistant's turn.
void run_chat(Session& session, const RunOptions& o, GenerationSettings settings, Totals& totals) {
  const Tokenizer& tok = session.engine().tokenizer();
  const ChatFormat format = chat_format_for(session.engine().model().file(), o.chat_template);
  const std::string turn_end = chat_turn_end(format);
  if (!turn_end.empty()) settings.stops.push_back({turn_end, false});
  ReplyInterrupt interrupt;
  settings.interrupt = interrupt.flag();
  std::vector<ChatMessage> messages;
  if (!o.system_prompt.empty()) messages.push_back({"system", o.system_prompt});
  GenerationResult last;
  // The next message; commands (/budget, /stats) are carried out on the way. False at the end.
  auto next_message = [&](std::string& line) {
    while (read_user_line(line))
      if (!run_chat_command(line, session, last)) return true;
    return false;
  };
  std::string user = o.prompt_file.empty() ? o.prompt : read_text_file(o.prompt_file, "-f");
  if (user.empty() && !next_message(user)) return;
  int32_t pending = -1;
  bool first_turn = true;
  while (true) {
    const ChatMessage message{"user", o.escape ? process_escapes(user) : user};
    // The first turn is the whole rendering (the system message too); later turns add what
    // their message adds to it.
    std::string text;
    if (first_turn) {
      messages.push_back(message);
      text = render_chat(format, messages, true);
      first_turn = false;
    } else {
      text = render_chat_turn(format, messages, message, true);
      messages.push_back(message);
    }
    // Templates that write bos_token themselves: the tokenizer adds the BOS token instead of
    // encoding its text.
    const bool add_bos = session.pos() == 0 && tok.add_bos();
    if (add_bos && !format.bos_token.empty() && text.rfind(format.bos_token, 0) == 0)
      text.erase(0, format.bos_token.size());
    interrupt.begin_reply();
    last = generate_turn(session, tok.encode(text, add_bos, /*parse_special=*/true), pending, settings, print_piece);
    interrupt.end_reply();
    totals.add(last);
    messages.push_back({"assistant", last.text});
    pending = last.pending;
    if (o.single_turn || !next_message(user)) break;
  }
  std::cout << "\n";
}

void run(const RunOptions& o) {
  if (!o.prompt.empty() && !o.prompt_file.empty())
    fail("run", "both -p and -f given", "pass the prompt either as text (-p) or as a file (-f)");
  if (o.single_turn && !o.interactive && !o.conversation)
    fail("run", "--single-turn without -i or -cnv", "it ends an interactive session after one turn");
  Engine engine(engine_options(o.model));
  lock_memory_if_asked(o.model);
  note_plan_scaling(engine);
  RoutingTraces traces = attach_routing_traces(engine, o.model);
  SamplerParams sp = o.sampling;
  sp.seed = o.seed_given ? o.seed
                         : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());

  GenerationSettings settings;
  settings.n_predict = o.n_predict;
  settings.ignore_eos = o.ignore_eos;
  for (const auto& r : o.reverse_prompts) settings.stops.push_back({o.escape ? process_escapes(r) : r, true});
  for (const auto& s : o.stops) settings.stops.push_back({o.escape ? process_escapes(s) : s, false});

  Session session(engine, sp);
  Totals t;
  if (o.conversation)
    run_chat(session, o, settings, t);
  else
    run_text(session, o, settings, t);
  std::cout << "\n" << std::flush;

  const uint64_t peak = peak_rss_bytes();
  const double p50 = percentile(t.token_ms, 50), p99 = percentile(t.token_ms, 99);
  const double prompt_tps = t.prompt_seconds > 0 ? static_cast<double>(t.prompt_tokens) / t.prompt_seconds : 0;
  const double gen_tps = t.gen_seconds > 0 ? static_cast<double>(t.token_ms.size()) / t.gen_seconds : 0;
  std::cerr << fmt::format(
      "\nprompt: {} tokens, {:.2f} tok/s | generation: {} tokens, {:.2f} tok/s, p50 {:.2f} ms, p99 {:.2f} ms | "
      "peak RSS {} | stop: {} | seed {}\n",
      t.prompt_tokens, prompt_tps, t.gen_tokens, gen_tps, p50, p99, format_bytes(peak), t.stop_reason, sp.seed);
  const RunMetrics m = collect_metrics(engine);
  std::cerr << format_metrics_line(m) << "\n";
  if (o.model.json) {
    nlohmann::json j = to_json(m);
    j.update({
        {"model", engine.options().model_path},
        {"threads", engine.pool().size()},
        {"n_prompt_tokens", t.prompt_tokens},
        {"n_gen_tokens", t.gen_tokens},
        {"prompt_tokens_per_s", prompt_tps},
        {"gen_tokens_per_s", gen_tps},
        {"p50_ms", p50},
        {"p99_ms", p99},
        {"peak_rss_bytes", peak},
        {"stop_reason", t.stop_reason},
        {"seed", sp.seed},
        {"tokens", t.tokens},
        {"text", t.text},
    });
    print_json_line(j);
  }
}

// The options of `run`, which `chat` shares.
void add_run_options(CLI::App* cmd, RunOptions& o) {
  cmd->footer(
      "Reproducibility: without a budget, --temp 0 (or a fixed --seed) gives the same text on every run. Under a "
      "budget, which experts are resident at each token depends on when their loads complete, so outputs may "
      "differ between runs; --deterministic makes each load land one token after it starts, and runs repeat.");
  add_model_options(cmd, o.model, 512);
  add_batch_options(cmd, o.model, "512, or 64 under a budget");
  add_budget_options(cmd, o.model);
  cmd->add_option("-p,--prompt", o.prompt, "prompt text (in chat mode: the first user message)");
  cmd->add_option("-f,--file", o.prompt_file, "read the prompt from this file");
  cmd->add_option("-n,--n-predict", o.n_predict, "tokens to generate (per turn); -1 = until end of text or a full context")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 24));
  cmd->add_flag("-e,--escape,!--no-escape", o.escape, "turn \\n, \\t, \\\\, \\xHH ... in prompts into the characters (default: on)");
  cmd->add_flag("--ignore-eos", o.ignore_eos, "never end a reply with an end-of-generation token (only -n, stop strings or Ctrl-C end it)");
  cmd->add_flag("!--no-display-prompt", o.display_prompt, "do not print the prompt before the generated text");
  cmd->add_option("-r,--reverse-prompt", o.reverse_prompts,
                  "stop when the text ends with this (shown; with -i the user's turn follows); may be repeated")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  cmd->add_option("--stop", o.stops, "stop before this text (not shown); may be repeated")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  cmd->add_flag("-i,--interactive", o.interactive, "after each turn, read a line from stdin and continue the text with it");
  cmd->add_flag("--conversation,!--no-conversation", o.conversation,
                "chat mode (-cnv): messages in the model's chat format, replies until the end of the assistant's turn");
  cmd->add_option("--system-prompt", o.system_prompt, "chat mode: the system message (-sys)");
  cmd->add_flag("--single-turn", o.single_turn, "chat or interactive mode: stop after one reply (-st)");
  cmd->add_option("--chat-template", o.chat_template,
                  "chat mode: a Jinja template file or a built-in (chatml, llama3, gemma) instead of the model's");
  add_sampling_options(cmd, o.sampling, o.seed, o.seed_given);
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt");
  add_run_options(cmd, *o);
  cmd->callback([o] { run(*o); });

  auto c = std::make_shared<RunOptions>();
  CLI::App* chat = app.add_subcommand("chat", "talk to the model in its chat format (run -cnv)");
  add_run_options(chat, *c);
  chat->callback([c] {
    c->conversation = true;
    run(*c);
  });
}

}  // namespace swapmoe::cli
