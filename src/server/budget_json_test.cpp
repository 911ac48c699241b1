// Tests of budgets from JSON: numbers and the CLI's text syntax, and the 400s for the rest.
#include "server/budget_json.h"

#include <gtest/gtest.h>

#include "server/api_error.h"

namespace swapmoe::server {
namespace {

using nlohmann::json;

ApiError budget_error(const json& v) {
  try {
    budget_from_json(v);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted " << v.dump();
  return ApiError(0, "", "");
}

TEST(BudgetJson, Numbers) {
  Budget b = budget_from_json(json(123456));
  EXPECT_EQ(b.kind, Budget::BYTES);
  EXPECT_EQ(b.bytes, 123456u);
  b = budget_from_json(json(3e9));  // JSON writers send large numbers as doubles
  EXPECT_EQ(b.kind, Budget::BYTES);
  EXPECT_EQ(b.bytes, 3000000000u);
  EXPECT_EQ(budget_from_json(json(18446744073709551615u)).bytes, UINT64_MAX);
}

TEST(BudgetJson, TextInTheCliSyntax) {
  Budget b = budget_from_json(json("3G"));
  EXPECT_EQ(b.kind, Budget::BYTES);
  EXPECT_EQ(b.bytes, 3ull << 30);
  EXPECT_EQ(budget_from_json(json("512M")).bytes, 512ull << 20);
  EXPECT_EQ(budget_from_json(json("123456")).bytes, 123456u);
  b = budget_from_json(json("40%"));
  EXPECT_EQ(b.kind, Budget::FOOTPRINT_SHARE);
  EXPECT_DOUBLE_EQ(b.share, 0.4);
  b = budget_from_json(json("100%"));  // every expert resident
  EXPECT_EQ(b.kind, Budget::FOOTPRINT_SHARE);
  EXPECT_DOUBLE_EQ(b.share, 1.0);
  // The same text gives the same budget as --memory-budget.
  for (const char* text : {"3.5G", "1024K", "25%", "7"}) {
    const Budget cli = Budget::parse(text), api = budget_from_json(json(text));
    EXPECT_EQ(api.kind, cli.kind) << text;
    EXPECT_EQ(api.bytes, cli.bytes) << text;
    EXPECT_EQ(api.share, cli.share) << text;
  }
}

TEST(BudgetJson, Errors) {
  const std::string syntax = "a number of bytes or a string such as \"512M\", \"3.5G\" or \"40%\"";
  for (const json& v : {json("abc"), json("150%"), json("0"), json("0%"), json(""), json("3 G"),
                        json("99999999999999999999G"), json("nan"), json("inf")}) {
    const ApiError e = budget_error(v);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "budget");
    EXPECT_EQ(e.message, "'budget' must be " + syntax + ", got " + v.dump());
  }
  for (const json& v : {json(0), json(-5), json(1.5), json(0.5)}) {
    const ApiError e = budget_error(v);
    EXPECT_EQ(e.param, "budget");
    EXPECT_EQ(e.message, "'budget' must be a whole number of bytes >= 1, got " + v.dump());
  }
  EXPECT_EQ(budget_error(json(true)).message, "'budget' must be " + syntax + ", got a boolean");
  EXPECT_EQ(budget_error(json(nullptr)).message, "'budget' must be " + syntax + ", got null");
  EXPECT_EQ(budget_error(json::array()).message, "'budget' must be " + syntax + ", got an array");
}

TEST(BudgetJson, MemoryRequestBody) {
  EXPECT_EQ(parse_memory_body(R"({"budget": "3G"})").bytes, 3ull << 30);
  EXPECT_EQ(parse_memory_body(R"({"budget": 123456789, "other": 1})").bytes, 123456789u);
  for (const char* body : {"{}", R"({"budget": null})", "[]", "{", ""}) {
    try {
      parse_memory_body(body);
      ADD_FAILURE() << "accepted " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
    }
  }
  try {
    parse_memory_body("{}");
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param, "budget");
    EXPECT_EQ(e.message, "'budget' is required: a number of bytes or a string such as \"512M\", \"3.5G\" or \"40%\"");
  }
}

}  // namespace
}  // namespace swapmoe::server
