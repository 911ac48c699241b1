#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "core/error.h"
#include "server/api_error.h"
#include "server/budget_json.h"
#include "server/classify_endpoint.h"
#include "server/completion_request.h"
#include "server/guarded_server.h"
#include "server/json_fields.h"
#include "server/metrics_text.h"
#include "server/openai_format.h"
#include "server/web_assets.h"

namespace swapmoe::server {

using nlohmann::json;

namespace {

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

ApiError vision_only() {
  return bad_request("this server serves a vision model, which has no text: POST images to /v1/classify");
}

ConnectionLimits connection_limits(size_t body_limit) {
  ConnectionLimits limits;
  limits.max_body_bytes = body_limit + body_limit / 8 + (64u << 10);  // room for chunked framing
  return limits;
}

void send_error(httplib::Response& res, const ApiError& e) {
  send_json(res, error_body(e), e.status);
  if (e.status == 503) res.set_header("Retry-After", "1");
}

// The reply events of one request, shaped as OpenAI chunks for a stream.
struct StreamWriter {
  ReplyIdentity id;
  bool include_usage = false;
  bool sent_role = false;

  // Writes the events; returns false when the stream is over (ended, failed or client gone).
  bool write(httplib::DataSink& sink, const std::vector<ReplyEvent>& events, ReplyChannel& channel) {
    std::string out;
    bool over = false;
    if (id.chat && !sent_role) out += sse_event(role_chunk(id)), sent_role = true;
    for (const ReplyEvent& e : events) {
      if (e.kind == ReplyEvent::TEXT) {
        out += sse_event(text_chunk(id, e.text));
      } else if (e.kind == ReplyEvent::END) {
        out += sse_event(finish_chunk(id, e.finish_reason));
        if (include_usage) out += sse_event(usage_chunk(id, e.prompt_tokens, e.completion_tokens));
        out += kSseDone;
        over = true;
      } else {
        ApiError err(e.status, e.status == 503 ? "unavailable_error" : "server_error", e.text, "");
        out += sse_event(error_body(err));
        out += kSseDone;
        over = true;
      }
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
      channel.cancel();  // the client went away: its sequence is freed at the next step
      return false;
    }
    return !over;
  }
};

}  // namespace

HttpServer::HttpServer(Scheduler& scheduler, const Engine& engine, ServerMetrics& metrics, BudgetControl& budget,
                       HttpOptions options)
    : scheduler_(scheduler), engine_(engine), metrics_(metrics), budget_(budget), options_(std::move(options)),
      http_(std::make_unique<GuardedServer>(options_.http_threads > 0 ? static_cast<size_t>(options_.http_threads) : 16,
                                            connection_limits(options_.body_limit))) {
  http_->set_payload_max_length(options_.body_limit);
  http_->set_write_timeout(30);
  routes();
}

HttpServer::~HttpServer() = default;

int HttpServer::bind() {
  if (options_.port == 0) {
    const int port = http_->bind_to_any_port(options_.host);
    if (port <= 0) fail("serve", fmt::format("cannot bind {}:any port", options_.host), "check --host");
    return port;
  }
  if (!http_->bind_to_port(options_.host, options_.port))
    fail("serve", fmt::format("cannot listen on {}:{}", options_.host, options_.port),
         "is another server using the port? pick one with --port");
  return options_.port;
}

bool HttpServer::serve() {
  http_->widen_backlog(1024);
  return http_->listen_after_bind();
}

void HttpServer::stop() { http_->stop(); }

void HttpServer::routes() {
  httplib::Server& h = *http_;

  // The API key (when set) guards everything but the page and the health check.
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path == "/" || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + options_.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    ++metrics_.http_errors;
    send_error(res, unauthorized("a valid API key is needed: send 'Authorization: Bearer KEY'"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib answers itself (unknown path, body too large) get an OpenAI-style body too.
  h.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ++metrics_.http_errors;
    if (res.status == 404)
      send_error(res, unknown_route(req.method, req.path));
    else if (res.status == 413)
      send_error(res, payload_too_large(options_.body_limit));
    else if (res.status == 414)
      send_error(res, ApiError(414, "invalid_request_error", "the request line is longer than 8 KiB", ""));
    else if (res.status == 400 && req.method.empty())
      send_error(res, bad_request("the request line or a header could not be read (malformed, or a header line "
                                  "over 8 KiB)"));
    else
      send_error(res, ApiError(res.status, "invalid_request_error", fmt::format("HTTP {}", res.status), ""));
  });
  h.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      if (e.status < 500) ++metrics_.http_errors;
      send_error(res, e);
    } catch (const Unavailable& e) {
      ++metrics_.requests_rejected;
      send_error(res, unavailable(e.what()));
    } catch (const std::exception& e) {
      send_error(res, server_error(e.what()));
    } catch (...) {
      send_error(res, server_error("unknown error"));
    }
  });

  h.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(index_html()), "text/html; charset=utf-8");
  });
  h.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"status", "ok"}}); });
  h.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    static const int64_t created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    send_json(res, {{"object", "list"},
                    {"data", json::array({{{"id", options_.model_id},
                                           {"object", "model"},
                                           {"created", created},
                                           {"owned_by", "swapmoe"}}})}});
  });
  auto completion = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) { complete(req, res, chat); };
  };
  h.Post("/v1/chat/completions", completion(true));
  h.Post("/chat/completions", completion(true));
  h.Post("/v1/completions", completion(false));
  h.Post("/completions", completion(false));

  h.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_object(req.body);
    if (options_.classify) throw vision_only();
    const json* content = find_field(body, "content");
    if (!content) throw bad_request("'content' is required: the text to tokenize", "content");
    const std::string& text = as_string(*content, "content");
    const bool add_special = get_bool(body, "add_special").value_or(false);
    const bool parse_special = get_bool(body, "parse_special").value_or(true);
    const Tokenizer& tok = engine_.tokenizer();
    send_json(res, {{"tokens", encode_text(text, add_special && tok.add_bos(), parse_special)}});
  });
  h.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_object(req.body);
    if (options_.classify) throw vision_only();
    const json* tokens = find_field(body, "tokens");
    if (!tokens || !tokens->is_array()) throw bad_request("'tokens' must be an array of token ids", "tokens");
    const Tokenizer& tok = engine_.tokenizer();
    std::vector<int32_t> ids;
    for (const json& t : *tokens) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab())
        throw bad_request(fmt::format("'tokens' must hold token ids from 0 to {}", tok.n_vocab() - 1), "tokens");
      ids.push_back(t.get<int32_t>());
    }
    send_json(res, {{"content", tok.decode(ids)}});
  });

  // Vision models classify images; text models generate. Each refuses the other's requests.
  h.Post("/v1/classify", [this](const httplib::Request& req, httplib::Response& res) {
    if (!options_.classify)
      throw bad_request("this server serves a text model: use /v1/chat/completions or /v1/completions");
    int top = 1;
    if (req.has_param("top")) {
      const std::string t = req.get_param_value("top");
      if (t.empty() || t.size() > 4 || !std::all_of(t.begin(), t.end(), ::isdigit) || std::stoi(t) < 1)
        throw bad_request("'top' must be a whole number from 1 to 9999", "top");
      top = std::stoi(t);
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(req.body.data());
    send_json(res, options_.classify->classify({bytes, req.body.size()}, top));
  });

  h.Get("/v1/memory", [this](const httplib::Request&, httplib::Response& res) { send_json(res, budget_.report()); });
  h.Post("/v1/memory", [this](const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_object(req.body);
    const json* budget = find_field(body, "budget");
    if (budget && *budget == "auto") return send_json(res, budget_.resume_auto());
    send_json(res, budget_.set(parse_memory_body(req.body)));
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(metrics_, budget_.report()), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace swapmoe::server

namespace swapmoe::server {

std::vector<int32_t> HttpServer::encode_text(std::string_view text, bool add_bos, bool parse_special) const {
  const Tokenizer& tok = engine_.tokenizer();
  if (text.size() < k_large_text) return tok.encode(text, add_bos, parse_special);
  // Waiting without end would let a burst of large texts hold every HTTP thread.
  if (!large_encodes_.try_acquire_for(std::chrono::seconds(5)))
    throw unavailable("the server is tokenizing other large texts; retry shortly");
  struct Release {
    std::counting_semaphore<>& s;
    ~Release() { s.release(); }
  } release{large_encodes_};
  return tok.encode(text, add_bos, parse_special);
}

std::vector<int32_t> HttpServer::prompt_tokens(const CompletionRequest& r) const {
  const Tokenizer& tok = engine_.tokenizer();
  const int64_t n_ctx = engine_.options().n_ctx;
  // A text whose length alone proves it cannot fit is refused before tokenizing it, which would
  // take about a second and 50 MB a megabyte.
  auto encode = [&](std::string_view text) {
    const int64_t at_least = tok.min_tokens(text.size()) + (tok.add_bos() ? 1 : 0);
    if (at_least >= n_ctx) throw context_length_exceeded(at_least, n_ctx, r.chat, /*at_least=*/true);
    return encode_text(text, tok.add_bos(), /*parse_special=*/true);
  };
  std::vector<int32_t> tokens;
  if (r.chat) {
    std::vector<swapmoe::ChatMessage> messages;
    for (const auto& m : r.messages) messages.push_back({m.role, m.content});
    std::string text;
    try {
      text = render_chat(*options_.chat, messages, /*add_generation_prompt=*/true);
    } catch (const Error& e) {
      throw bad_request(fmt::format("the chat template refused the messages: {}", e.what()), "messages");
    }
    // Templates that write bos_token themselves: the tokenizer adds the BOS token instead.
    const std::string& bos = options_.chat->bos_token;
    if (tok.add_bos() && !bos.empty() && text.rfind(bos, 0) == 0) text.erase(0, bos.size());
    tokens = encode(text);
  } else if (r.prompt_is_tokens) {
    for (int32_t t : r.prompt_tokens)
      if (t < 0 || t >= tok.n_vocab())
        throw bad_request(fmt::format("token id {} is outside the vocabulary (0..{})", t, tok.n_vocab() - 1), "prompt");
    tokens = r.prompt_tokens;
  } else {
    tokens = encode(r.prompt);
  }
  if (tokens.empty()) throw bad_request("the prompt is empty", r.chat ? "messages" : "prompt");
  if (static_cast<int64_t>(tokens.size()) >= n_ctx) {
    throw context_length_exceeded(static_cast<int64_t>(tokens.size()), n_ctx, r.chat);
  }
  return tokens;
}

void HttpServer::complete(const httplib::Request& req, httplib::Response& res, bool chat) {
  if (options_.classify) throw vision_only();
  const json body = parse_json_object(req.body);
  CompletionRequest r = parse_completion_request(body, chat, options_.sampling);
  if (options_.seed_given && !body.contains("seed")) r.sampling.seed = options_.sampling.seed;
  if (!r.model.empty() && r.model != options_.model_id) throw model_not_found(r.model);
  GenerationJob job;
  job.prompt = prompt_tokens(r);
  job.sampling = r.sampling;
  job.max_tokens = r.max_tokens >= 0 ? r.max_tokens : options_.default_max_tokens;
  for (const std::string& s : r.stop) job.stops.push_back({s, false});
  if (chat) job.stops.insert(job.stops.end(), options_.chat_stops.begin(), options_.chat_stops.end());
  job.ignore_eos = r.ignore_eos;
  std::shared_ptr<ReplyChannel> channel = scheduler_.submit(std::move(job));
  const ReplyIdentity id = new_reply_identity(chat, options_.model_id);

  if (!r.stream) {
    channel->wake_on_end_only();
    std::string text;
    for (;;) {
      for (ReplyEvent& e : channel->take(std::chrono::seconds(1))) {
        if (e.kind == ReplyEvent::TEXT) {
          text += e.text;
        } else if (e.kind == ReplyEvent::END) {
          return send_json(res, completion_response(id, text, e.finish_reason, e.prompt_tokens, e.completion_tokens));
        } else {
          throw ApiError(e.status, e.status == 503 ? "unavailable_error" : "server_error", e.text, "");
        }
      }
    }
  }
  auto writer = std::make_shared<StreamWriter>(StreamWriter{id, r.include_usage});
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [channel, writer](size_t, httplib::DataSink& sink) {
        const std::vector<ReplyEvent> events = channel->take(std::chrono::milliseconds(250));
        if (events.empty() && writer->sent_role) return true;  // nothing new yet
        const bool more = writer->write(sink, events, *channel);
        if (channel->cancelled()) return false;  // the client went away
        if (!more) sink.done();
        return true;
      },
      [channel](bool success) {
        if (!success) channel->cancel();
      });
}

}  // namespace swapmoe::server
