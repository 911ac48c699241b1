// Chat mode's use of templates: incremental turns as differences of renderings, turn ends.
#include <gtest/gtest.h>

#include "runtime/chat_format.h"

namespace swapmoe {
namespace {

TEST(ChatFormat, TurnsAreDifferencesOfRenderings) {
  const ChatFormat chatml{ChatTemplate::builtin("chatml"), "<s>", "</s>"};
  std::vector<ChatMessage> past = {{"system", "S"}};
  EXPECT_EQ(render_chat_turn(chatml, past, {"user", "hi"}, true),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  past.push_back({"user", "hi"});
  past.push_back({"assistant", "hello"});
  EXPECT_EQ(render_chat_turn(chatml, past, {"user", "again"}, true),
            "<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatFormat, TurnEndIsWhatFollowsAnAssistantMessage) {
  EXPECT_EQ(chat_turn_end({ChatTemplate::builtin("chatml"), "", ""}), "<|im_end|>");
  EXPECT_EQ(chat_turn_end({ChatTemplate::builtin("llama3"), "<|begin_of_text|>", ""}), "<|eot_id|>");
  EXPECT_EQ(chat_turn_end({ChatTemplate::builtin("gemma"), "<bos>", ""}), "<end_of_turn>");
  EXPECT_EQ(chat_turn_end({ChatTemplate("{% for m in messages %}[{{ m.content }}]{{ eos_token }}{% endfor %}", "t"),
                           "", "</s>"}),
            "]</s>");
}

}  // namespace
}  // namespace swapmoe
