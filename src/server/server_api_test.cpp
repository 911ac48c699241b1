// Tests of the server's API parts: the OpenAI error body and completion request parsing, every
// field with good and bad values, and OpenAI's own example bodies.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <string>

#include "server/api_error.h"
#include "server/completion_request.h"
#include "server/json_fields.h"

namespace swapmoe::server {
namespace {

using nlohmann::json;

SamplerParams defaults() {
  SamplerParams p;
  p.temperature = 0.5f;
  p.top_k = 12;
  p.top_p = 0.9f;
  p.min_p = 0.02f;
  p.repeat_penalty = 1.1f;
  p.repeat_last_n = 32;
  return p;
}

CompletionRequest chat(const std::string& body) { return parse_completion_body(body, true, defaults()); }
CompletionRequest completion(const std::string& body) { return parse_completion_body(body, false, defaults()); }

// The ApiError a body raises; fails the test when it parses.
ApiError error_of(const json& body, bool is_chat = true) {
  try {
    parse_completion_request(body, is_chat, defaults());
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "parsed without error: " << body.dump();
  return ApiError(0, "", "");
}

// A chat body holding one user message plus `fields`.
json chat_with(const json& fields) {
  json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(fields);
  return body;
}

// "'<name>' must be <rest>", as the parser words its errors.
std::string must(const std::string& name, const std::string& rest) {
  return fmt::format("'{}' must be {}", name, rest);
}

void expect_400(const json& fields, const std::string& param, const std::string& message) {
  const ApiError e = error_of(chat_with(fields));
  EXPECT_EQ(e.status, 400) << fields.dump();
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, param) << fields.dump();
  EXPECT_EQ(e.message, message) << fields.dump();
}

// ---- errors ----------------------------------------------------------------------------------

TEST(ApiError, BodyHasTheOpenAIShape) {
  EXPECT_EQ(error_body(bad_request("'temperature' must be a number, got a string", "temperature")).dump(),
            R"({"error":{"code":null,"message":"'temperature' must be a number, got a string",)"
            R"("param":"temperature","type":"invalid_request_error"}})");
  EXPECT_EQ(error_body(bad_request("no")),
            json::parse(R"({"error":{"message":"no","type":"invalid_request_error","param":null,"code":null}})"));
}

TEST(ApiError, Helpers) {
  const ApiError auth = unauthorized("Incorrect API key provided");
  EXPECT_EQ(auth.status, 401);
  EXPECT_EQ(auth.type, "authentication_error");
  EXPECT_EQ(auth.code, "invalid_api_key");

  const ApiError model = model_not_found("gpt-9");
  EXPECT_EQ(model.status, 404);
  EXPECT_EQ(error_body(model)["error"]["code"], "model_not_found");
  EXPECT_EQ(error_body(model)["error"]["param"], "model");
  EXPECT_NE(model.message.find("'gpt-9'"), std::string::npos);

  const ApiError route = unknown_route("POST", "/v1/nope");
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(route.message, "Invalid URL (POST /v1/nope)");
  EXPECT_EQ(error_body(route)["error"]["code"], nullptr);

  EXPECT_EQ(payload_too_large(1024).status, 413);
  EXPECT_EQ(payload_too_large(1024).type, "invalid_request_error");
  EXPECT_EQ(unavailable("queue full").status, 503);
  EXPECT_EQ(unavailable("queue full").type, "unavailable_error");
  EXPECT_EQ(server_error("engine failed").status, 500);
  EXPECT_EQ(server_error("engine failed").type, "server_error");

  const ApiError ctx = context_length_exceeded(600, 512, false);
  EXPECT_EQ(ctx.status, 400);
  EXPECT_EQ(ctx.code, "context_length_exceeded");
  EXPECT_EQ(ctx.param, "prompt");
  EXPECT_EQ(context_length_exceeded(600, 512, true).param, "messages");
}

TEST(ApiError, BudgetTooSmallCarriesTheMinimumInsideError) {
  const ApiError e = budget_too_small("the budget is below the minimum", 123456789);
  EXPECT_EQ(e.status, 422);
  EXPECT_EQ(error_body(e), json::parse(R"({"error":{"message":"the budget is below the minimum",)"
                                       R"("type":"invalid_request_error","param":"budget","code":null,)"
                                       R"("minimum_budget_bytes":123456789}})"));
}

TEST(ApiError, ExtraNeverReplacesTheStandardKeys) {
  ApiError e = bad_request("real", "p");
  e.extra["message"] = "fake";
  e.extra["hint"] = "x";
  const json body = error_body(e);
  EXPECT_EQ(body["error"]["message"], "real");
  EXPECT_EQ(body["error"]["hint"], "x");
}

TEST(ApiError, IsAStdException) {
  try {
    throw bad_request("boom");
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
}

// ---- OpenAI's example bodies -----------------------------------------------------------------

TEST(CompletionRequest, ChatWithSystemAndUser) {
  const CompletionRequest r = chat(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "Hello!"}
    ]
  })");
  EXPECT_TRUE(r.chat);
  EXPECT_EQ(r.model, "gpt-4o");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "You are a helpful assistant.");
  EXPECT_EQ(r.messages[1].role, "user");
  EXPECT_EQ(r.messages[1].content, "Hello!");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.max_tokens, -1);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.ignore_eos);
  // Sampling keeps the server's defaults.
  EXPECT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 12);
  EXPECT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.min_p, 0.02f);
  EXPECT_EQ(r.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(r.sampling.repeat_last_n, 32);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
  EXPECT_EQ(r.sampling.presence_penalty, 0.0f);
}

TEST(CompletionRequest, ChatStreamingWithEveryField) {
  const CompletionRequest r = chat(R"({
    "model": "swapmoe", "messages": [{"role": "user", "content": "Hi"}],
    "stream": true, "stream_options": {"include_usage": true}, "max_tokens": 64,
    "temperature": 0.2, "top_p": 0.5, "top_k": 7, "min_p": 0.1, "seed": 42,
    "frequency_penalty": 0.5, "presence_penalty": -0.25, "repeat_penalty": 1.3, "repeat_last_n": 16,
    "stop": ["\n\n", "User:"], "n": 1, "ignore_eos": true, "logprobs": false,
    "response_format": {"type": "text"}, "tools": [], "user": "someone", "logit_bias": {}
  })");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 64);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.2f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.1f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, -0.25f);
  EXPECT_FLOAT_EQ(r.sampling.repeat_penalty, 1.3f);
  EXPECT_EQ(r.sampling.repeat_last_n, 16);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\n", "User:"}));
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_NO_THROW(Sampler(r.sampling, 100));  // what the parser accepts, the sampler takes
}

TEST(CompletionRequest, CompletionsWithAStringPrompt) {
  const CompletionRequest r = completion(
      R"({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7, "temperature": 0})");
  EXPECT_FALSE(r.chat);
  EXPECT_FALSE(r.prompt_is_tokens);
  EXPECT_EQ(r.prompt, "Say this is a test");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_TRUE(r.messages.empty());
}

TEST(CompletionRequest, CompletionsWithAnArrayPrompt) {
  CompletionRequest r = completion(R"({"prompt": ["Once upon a time"]})");
  EXPECT_FALSE(r.prompt_is_tokens);
  EXPECT_EQ(r.prompt, "Once upon a time");

  r = completion(R"({"prompt": [1, 15043, 3186, 2.0]})");
  EXPECT_TRUE(r.prompt_is_tokens);
  EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{1, 15043, 3186, 2}));
  EXPECT_TRUE(r.prompt.empty());

  r = completion(R"({"prompt": [[5, 6]]})");  // a batch of one tokenized prompt
  EXPECT_TRUE(r.prompt_is_tokens);
  EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{5, 6}));

  r = completion(R"({"prompt": ""})");  // empty text is the caller's to judge (BOS only)
  EXPECT_EQ(r.prompt, "");
}

TEST(CompletionRequest, PromptErrors) {
  auto expect = [](const json& body, const std::string& param, const std::string& message) {
    const ApiError e = error_of(body, false);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, param) << body.dump();
    EXPECT_EQ(e.message, message) << body.dump();
  };
  const std::string shapes = "a string, an array of one string or an array of token ids";
  expect(json::object(), "prompt", "'prompt' is required");
  expect({{"prompt", nullptr}}, "prompt", "'prompt' is required");
  expect({{"prompt", 5}}, "prompt", "'prompt' must be " + shapes + ", got a number");
  expect({{"prompt", json::object()}}, "prompt", "'prompt' must be " + shapes + ", got an object");
  expect({{"prompt", json::array()}}, "prompt", "'prompt' must be " + shapes + ", got an array");
  expect({{"prompt", {"a", "b"}}}, "prompt", "'prompt' holds several prompts; send one prompt per request");
  expect({{"prompt", {{1, 2}, {3}}}}, "prompt", "'prompt' holds several prompts; send one prompt per request");
  expect({{"prompt", {json::array()}}}, "prompt", "'prompt' must be " + shapes + ", got an array");
  expect({{"prompt", {{1, "x"}}}}, "prompt[0][1]", "'prompt[0][1]' must be a token id (an integer), got a string");
  expect({{"prompt", {1, "x"}}}, "prompt[1]", "'prompt[1]' must be a token id (an integer), got a string");
  expect({{"prompt", {1, -2}}}, "prompt[1]", "'prompt[1]' must be a token id (an integer >= 0), got -2");
  expect({{"prompt", {1.5}}}, "prompt[0]", "'prompt[0]' must be an integer, got 1.5");
  expect({{"prompt", {4294967296}}}, "prompt[0]", "'prompt[0]' must be a token id (an integer >= 0), got 4294967296");
  // messages belong to chat; a completions body without a prompt is still an error
  expect({{"messages", {{{"role", "user"}, {"content", "hi"}}}}}, "prompt", "'prompt' is required");
}

// ---- chat messages ---------------------------------------------------------------------------

TEST(CompletionRequest, MessageRolesAndContent) {
  const CompletionRequest r = chat(R"({"messages": [
    {"role": "developer", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1"}]},
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
    {"role": "assistant"},
    {"role": "user", "content": [], "name": "bob"}
  ]})");
  ASSERT_EQ(r.messages.size(), 6u);
  EXPECT_EQ(r.messages[0].role, "system");  // developer is OpenAI's new name for system
  EXPECT_EQ(r.messages[1].content, "first\nsecond");
  EXPECT_EQ(r.messages[2].role, "assistant");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.messages[3].role, "tool");
  EXPECT_EQ(r.messages[3].content, "42");
  EXPECT_EQ(r.messages[4].content, "");
  EXPECT_EQ(r.messages[5].content, "");
}

TEST(CompletionRequest, MessageErrors) {
  auto expect = [](const json& messages, const std::string& param, const std::string& message) {
    const ApiError e = error_of({{"messages", messages}});
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, param) << messages.dump();
    EXPECT_EQ(e.message, message) << messages.dump();
  };
  const json user = {{"role", "user"}, {"content", "hi"}};
  expect(nullptr, "messages", "'messages' is required");
  expect("hello", "messages", "'messages' must be an array, got a string");
  expect(json::array(), "messages", "'messages' must hold at least one message");
  expect({user, 7}, "messages[1]", "'messages[1]' must be an object, got a number");
  expect({{{"content", "hi"}}}, "messages[0].role", "'messages[0].role' is required");
  expect({{{"role", 1}, {"content", "hi"}}}, "messages[0].role", "'messages[0].role' must be a string, got a number");
  expect({user, {{"role", "robot"}, {"content", "x"}}}, "messages[1].role",
         "'messages[1].role' must be one of system, user, assistant, developer, tool, got \"robot\"");
  expect({{{"role", "user"}}}, "messages[0].content", "'messages[0].content' is required");
  expect({{{"role", "user"}, {"content", nullptr}}}, "messages[0].content", "'messages[0].content' is required");
  expect({{{"role", "system"}, {"content", 3}}}, "messages[0].content",
         "'messages[0].content' must be a string or an array of content parts, got a number");
  expect({{{"role", "user"}, {"content", {"text"}}}}, "messages[0].content[0]",
         "'messages[0].content[0]' must be an object, got a string");
  expect({{{"role", "user"}, {"content", {{{"text", "x"}}}}}}, "messages[0].content[0].type",
         "'messages[0].content[0].type' is required");
  expect({{{"role", "user"}, {"content", {{{"type", "text"}}}}}}, "messages[0].content[0].text",
         "'messages[0].content[0].text' is required");
  expect({{{"role", "user"}, {"content", {{{"type", "text"}, {"text", 5}}}}}}, "messages[0].content[0].text",
         "'messages[0].content[0].text' must be a string, got a number");
}

TEST(CompletionRequest, ImagesAreRefused) {
  const ApiError e = error_of(json::parse(R"({"messages": [{"role": "user", "content": [
    {"type": "text", "text": "What is in this image?"},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})"));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "messages[0].content[1].type");
  EXPECT_EQ(e.message, "'messages[0].content[1]' is a content part of type 'image_url': this model reads text only");
}

// ---- fields, one by one ----------------------------------------------------------------------

TEST(CompletionRequest, NumberFieldsCheckTypeAndRange) {
  struct Case {
    const char* name;
    std::vector<json> good;
    std::vector<json> bad;
    std::string requirement;
  };
  const std::vector<Case> cases = {
      {"temperature", {0, 0.0, 1, 2, 0.7}, {-0.1, 2.5}, "between 0 and 2"},
      {"top_p", {1, 0.01, 0.5}, {0, -1, 1.5}, "above 0 and at most 1"},
      {"min_p", {0, 1, 0.05}, {-0.01, 1.01}, "between 0 and 1"},
      {"frequency_penalty", {-2, 2, 0, 0.5}, {-2.1, 2.1}, "between -2 and 2"},
      {"presence_penalty", {-2, 2, 0, -1.5}, {-2.1, 3}, "between -2 and 2"},
      {"repeat_penalty", {1, 0.5, 1.2}, {0, -1}, "between 0.000001 and 1000000 (1: off)"},
  };
  for (const Case& c : cases) {
    for (const json& v : c.good) {
      const CompletionRequest r = parse_completion_request(chat_with({{c.name, v}}), true, defaults());
      EXPECT_NO_THROW(Sampler(r.sampling, 10)) << c.name << " " << v;
    }
    for (const json& v : c.bad) {
      expect_400({{c.name, v}}, c.name, must(c.name, c.requirement + ", got " + v.dump()));
    }
    expect_400({{c.name, "0.5"}}, c.name, must(c.name, "a number, got a string"));
    expect_400({{c.name, true}}, c.name, must(c.name, "a number, got a boolean"));
    expect_400({{c.name, {1}}}, c.name, must(c.name, "a number, got an array"));
  }
  EXPECT_FLOAT_EQ(parse_completion_request(chat_with({{"temperature", 1.25}}), true, defaults()).sampling.temperature,
                  1.25f);
}

TEST(CompletionRequest, IntegerFields) {
  auto r = [](const json& fields) { return parse_completion_request(chat_with(fields), true, defaults()); };
  EXPECT_EQ(r({{"top_k", 0}}).sampling.top_k, 0);
  EXPECT_EQ(r({{"top_k", 40.0}}).sampling.top_k, 40);  // 40.0 from a JavaScript client
  EXPECT_EQ(r({{"top_k", 1e12}}).sampling.top_k, INT_MAX);
  EXPECT_EQ(r({{"repeat_last_n", 0}}).sampling.repeat_last_n, 0);
  EXPECT_EQ(r({{"repeat_last_n", 1 << 20}}).sampling.repeat_last_n, 1 << 20);
  expect_400({{"top_k", -1}}, "top_k", "'top_k' must be at least 0 (0: off), got -1");
  expect_400({{"top_k", 1.5}}, "top_k", "'top_k' must be an integer, got 1.5");
  expect_400({{"top_k", "40"}}, "top_k", "'top_k' must be an integer, got a string");
  expect_400({{"repeat_last_n", -1}}, "repeat_last_n",
             "'repeat_last_n' must be between 0 and 1048576 (0: off), got -1");
  expect_400({{"repeat_last_n", (1 << 20) + 1}}, "repeat_last_n",
             "'repeat_last_n' must be between 0 and 1048576 (0: off), got 1048577");
  expect_400({{"top_k", 18446744073709551615u}}, "top_k",
             "'top_k' must be an integer below 2^63, got 18446744073709551615");
}

TEST(CompletionRequest, MaxTokens) {
  auto max_tokens = [](const json& fields) {
    return parse_completion_request(chat_with(fields), true, defaults()).max_tokens;
  };
  EXPECT_EQ(max_tokens({{"max_tokens", 1}}), 1);
  EXPECT_EQ(max_tokens({{"max_completion_tokens", 20}}), 20);
  EXPECT_EQ(max_tokens({{"n_predict", 30}}), 30);
  EXPECT_EQ(max_tokens({{"n_predict", -1}}), -1);
  EXPECT_EQ(max_tokens({{"max_tokens", 10}, {"max_completion_tokens", 20}, {"n_predict", 30}}), 20);
  EXPECT_EQ(max_tokens({{"max_tokens", 10}, {"n_predict", 30}}), 10);
  EXPECT_EQ(max_tokens({{"max_tokens", 1e10}}), INT_MAX);
  EXPECT_EQ(max_tokens({{"max_tokens", nullptr}}), -1);
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    const std::string n = name;
    expect_400({{name, 0}}, n, must(n, "at least 1, got 0"));
    expect_400({{name, -1}}, n, must(n, "at least 1, got -1"));
    expect_400({{name, "8"}}, n, must(n, "an integer, got a string"));
    expect_400({{name, 8.5}}, n, must(n, "an integer, got 8.5"));
  }
  expect_400({{"n_predict", 0}}, "n_predict", "'n_predict' must be at least 1, or -1 for no limit, got 0");
  expect_400({{"n_predict", -2}}, "n_predict", "'n_predict' must be at least 1, or -1 for no limit, got -2");
}

TEST(CompletionRequest, Seed) {
  auto seed = [](const json& fields) {
    return parse_completion_request(chat_with(fields), true, defaults()).sampling.seed;
  };
  EXPECT_EQ(seed({{"seed", 0}}), 0u);
  EXPECT_EQ(seed({{"seed", 42}}), 42u);
  EXPECT_EQ(seed({{"seed", 18446744073709551615u}}), UINT64_MAX);
  // Absent or negative: random, so two requests (almost surely) differ.
  EXPECT_NE(seed(json::object()), seed(json::object()));
  EXPECT_NE(seed({{"seed", -1}}), seed({{"seed", -1}}));
  expect_400({{"seed", "42"}}, "seed", "'seed' must be an integer, got a string");
  expect_400({{"seed", 4.2}}, "seed", "'seed' must be an integer, got 4.2");
}

TEST(CompletionRequest, Stop) {
  auto stop = [](const json& fields) { return parse_completion_request(chat_with(fields), true, defaults()).stop; };
  EXPECT_EQ(stop({{"stop", "\n"}}), std::vector<std::string>{"\n"});
  EXPECT_EQ(stop({{"stop", {"a", "bc"}}}), (std::vector<std::string>{"a", "bc"}));
  EXPECT_TRUE(stop({{"stop", json::array()}}).empty());
  EXPECT_TRUE(stop({{"stop", nullptr}}).empty());
  EXPECT_EQ(stop({{"stop", json(std::vector<std::string>(16, "x"))}}).size(), 16u);
  expect_400({{"stop", json(std::vector<std::string>(17, "x"))}}, "stop", "'stop' may hold at most 16 strings, got 17");
  expect_400({{"stop", ""}}, "stop", "'stop' must be a non-empty string, got \"\"");
  expect_400({{"stop", {"a", ""}}}, "stop[1]", "'stop[1]' must be a non-empty string, got \"\"");
  expect_400({{"stop", {"a", 3}}}, "stop[1]", "'stop[1]' must be a string, got a number");
  expect_400({{"stop", 3}}, "stop", "'stop' must be a string or an array of strings, got a number");
}

TEST(CompletionRequest, BooleanAndStringFields) {
  auto r = [](const json& fields) { return parse_completion_request(chat_with(fields), true, defaults()); };
  EXPECT_TRUE(r({{"stream", true}}).stream);
  EXPECT_FALSE(r({{"stream", false}, {"stream_options", nullptr}}).include_usage);
  EXPECT_TRUE(r({{"stream", true}, {"stream_options", {{"include_usage", true}}}}).include_usage);
  EXPECT_FALSE(r({{"stream", true}, {"stream_options", json::object()}}).include_usage);
  EXPECT_TRUE(r({{"ignore_eos", true}}).ignore_eos);
  EXPECT_EQ(r({{"model", "qwen"}}).model, "qwen");
  EXPECT_EQ(r({{"model", nullptr}}).model, "");
  expect_400({{"stream", "true"}}, "stream", "'stream' must be a boolean, got a string");
  expect_400({{"stream", 1}}, "stream", "'stream' must be a boolean, got a number");
  expect_400({{"stream_options", true}}, "stream_options", "'stream_options' must be an object, got a boolean");
  expect_400({{"stream_options", {{"include_usage", "yes"}}}}, "stream_options.include_usage",
             "'stream_options.include_usage' must be a boolean, got a string");
  expect_400({{"ignore_eos", 0}}, "ignore_eos", "'ignore_eos' must be a boolean, got a number");
  expect_400({{"model", 5}}, "model", "'model' must be a string, got a number");
}

TEST(CompletionRequest, UnsupportedFeaturesAreRefused) {
  auto ok = [](const json& fields) {
    EXPECT_NO_THROW(parse_completion_request(chat_with(fields), true, defaults())) << fields;
  };
  ok({{"n", 1}});
  ok({{"logprobs", false}});
  ok({{"logprobs", nullptr}});
  ok({{"n_probs", 0}});
  ok({{"tools", json::array()}});
  ok({{"tools", {{{"type", "function"}}}}, {"tool_choice", "none"}});
  ok({{"response_format", {{"type", "text"}}}});
  ok({{"response_format", nullptr}});

  expect_400({{"n", 2}}, "n", "'n' must be 1 (one choice per request), got 2");
  expect_400({{"n", "1"}}, "n", "'n' must be an integer, got a string");
  expect_400({{"logprobs", true}}, "logprobs", "'logprobs' is not supported by this server");
  expect_400({{"logprobs", 5}}, "logprobs", "'logprobs' is not supported by this server");  // legacy completions
  expect_400({{"n_probs", 1000000000000}}, "n_probs", "'n_probs' (token probabilities) is not supported by this server");
  expect_400({{"n_probs", -1}}, "n_probs", "'n_probs' (token probabilities) is not supported by this server");
  expect_400({{"logprobs", "yes"}}, "logprobs", "'logprobs' must be a boolean, got a string");
  const std::string tools =
      "Tool calling ('tools' with a tool_choice other than \"none\") is not supported by this server";
  expect_400({{"tools", {{{"type", "function"}}}}}, "tools", tools);
  expect_400({{"tools", {{{"type", "function"}}}}, {"tool_choice", "auto"}}, "tools", tools);
  expect_400({{"tools", {{{"type", "function"}}}}, {"tool_choice", {{"type", "function"}}}}, "tools", tools);
  expect_400({{"tools", "all"}}, "tools", "'tools' must be an array, got a string");
  expect_400({{"response_format", {{"type", "json_object"}}}}, "response_format",
             "'response_format' of type 'json_object' is not supported by this server");
  expect_400({{"response_format", {{"type", "json_schema"}, {"json_schema", json::object()}}}}, "response_format",
             "'response_format' of type 'json_schema' is not supported by this server");
  expect_400({{"response_format", "json"}}, "response_format", "'response_format' must be an object, got a string");
  expect_400({{"response_format", json::object()}}, "response_format.type", "'response_format.type' is required");
}

TEST(CompletionRequest, UnknownAndNullFieldsAreIgnored) {
  const CompletionRequest r = parse_completion_request(chat_with({{"user", "u1"},
                                                                  {"metadata", {{"k", "v"}}},
                                                                  {"logit_bias", {{"50256", -100}}},
                                                                  {"echo", true},
                                                                  {"parallel_tool_calls", false},
                                                                  {"cache_prompt", true},
                                                                  {"temperature", nullptr},
                                                                  {"top_k", nullptr},
                                                                  {"stop", nullptr},
                                                                  {"seed", nullptr},
                                                                  {"frequency_penalty", nullptr}}),
                                                       true, defaults());
  EXPECT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 12);
  EXPECT_TRUE(r.stop.empty());
}

// ---- the body --------------------------------------------------------------------------------

TEST(CompletionRequest, MalformedBodies) {
  auto error = [](const std::string& body) {
    try {
      parse_completion_body(body, true, defaults());
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.type, "invalid_request_error");
      EXPECT_TRUE(e.param.empty());
      return e.message;
    }
    ADD_FAILURE() << "parsed: " << body;
    return std::string();
  };
  const std::string bad = error("{\"messages\": [}");
  EXPECT_EQ(bad.rfind("the request body is not valid JSON: parse error at line 1, column 15:", 0), 0u) << bad;
  EXPECT_EQ(
      error("{\n  \"a\": 1,\n  x}").rfind("the request body is not valid JSON: parse error at line 3, column 3:", 0),
      0u);
  EXPECT_NE(error("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error("{\"a\": \"\xff\"}").find("not valid JSON"), std::string::npos);  // invalid UTF-8
  EXPECT_EQ(error("[1, 2]"), "the request body must be a JSON object, got an array");
  EXPECT_EQ(error("\"hi\""), "the request body must be a JSON object, got a string");
  EXPECT_EQ(error("null"), "the request body must be a JSON object, got null");
  EXPECT_EQ(error_of(json::array()).message, "the request body must be a JSON object, got an array");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "temperature": 1e999})"),
            "the request body is not valid JSON: number overflow parsing '1e999'");
  EXPECT_EQ(error_of(chat_with({{"temperature", INFINITY}})).message,
            "'temperature' must be a finite number, got one out of range");
}

TEST(CompletionRequest, DeepNestingDoesNotCrash) {
  // A small body can nest deeply; parsing and destroying it must not recurse on the stack.
  const int depth = 200000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_THROW(parse_completion_body(nested, true, defaults()), ApiError);
  const CompletionRequest r = parse_completion_body(
      R"({"messages": [{"role": "user", "content": "x"}], "extra": )" + nested + "}", true, defaults());
  EXPECT_EQ(r.messages.size(), 1u);
}

// ---- json_fields -----------------------------------------------------------------------------

TEST(JsonFields, Kinds) {
  EXPECT_STREQ(json_kind(json(nullptr)), "null");
  EXPECT_STREQ(json_kind(json(1)), "a number");
  EXPECT_STREQ(json_kind(json(-1)), "a number");
  EXPECT_STREQ(json_kind(json(1.5)), "a number");
  EXPECT_STREQ(json_kind(json(true)), "a boolean");
  EXPECT_STREQ(json_kind(json("s")), "a string");
  EXPECT_STREQ(json_kind(json::array()), "an array");
  EXPECT_STREQ(json_kind(json::object()), "an object");
}

}  // namespace
}  // namespace swapmoe::server
