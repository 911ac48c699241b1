#include "runtime/reply_builder.h"

namespace swapmoe {

ReplyBuilder::ReplyBuilder(const Tokenizer& tokenizer, int n_predict, std::vector<StopString> stops, bool ignore_eos)
    : tokenizer_(tokenizer), n_predict_(n_predict), detok_(tokenizer, StreamStart::CONTINUATION),
      stops_(std::move(stops)) {
  if (ignore_eos)
    for (int32_t id = 0; id < tokenizer.n_vocab(); ++id)
      if (tokenizer.is_eog(id)) banned_.push_back(id);
  if (n_predict_ == 0) reason_ = "limit";
}

std::string ReplyBuilder::push(int32_t token) {
  if (done()) return {};
  if (tokenizer_.is_eog(token)) {
    reason_ = "eos";
    return {};
  }
  tokens_.push_back(token);
  std::string text = stops_.push(detok_.push(token));
  if (stops_.matched()) reason_ = "stop";
  else if (n_predict_ >= 0 && static_cast<int>(tokens_.size()) >= n_predict_) reason_ = "limit";
  return text;
}

std::string ReplyBuilder::flush() {
  if (stops_.matched()) return {};
  std::string text = stops_.push(detok_.flush());
  return text + stops_.flush();
}

}  // namespace swapmoe
