// The page built into the binary is the one in the source tree, and keeps what the tests rely on.
#include "server/web_assets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace swapmoe::server {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST(web_assets, index_html_equals_the_file_on_disk) {
  const std::string on_disk = read_file(SWAPMOE_INDEX_HTML_PATH);
  ASSERT_FALSE(on_disk.empty()) << "cannot read " << SWAPMOE_INDEX_HTML_PATH;
  const std::string_view embedded = index_html();
  EXPECT_EQ(embedded.size(), on_disk.size());
  EXPECT_TRUE(embedded == on_disk) << "the embedded page differs from " << SWAPMOE_INDEX_HTML_PATH
                                   << "; rebuild swapmoe_web_assets";
  EXPECT_EQ(embedded.data()[embedded.size()], '\0');  // usable as a C string too
}

TEST(web_assets, index_html_has_the_element_ids_the_browser_test_uses) {
  const std::string_view html = index_html();
  for (const char* id : {"messages", "input", "send", "stop", "new-chat", "model-id", "budget-slider",
                         "budget", "budget-status", "hit-rate", "tokens-per-s", "api-key"}) {
    EXPECT_NE(html.find("id=\"" + std::string(id) + "\""), std::string_view::npos) << "no #" << id;
  }
}

TEST(web_assets, index_html_is_self_contained) {
  const std::string_view html = index_html();
  EXPECT_TRUE(html.starts_with("<!doctype html>"));
  for (const char* outside : {"src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import"}) {
    EXPECT_EQ(html.find(outside), std::string_view::npos) << "the page loads something from outside: " << outside;
  }
}

}  // namespace
}  // namespace swapmoe::server
