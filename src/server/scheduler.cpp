#include "server/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace swapmoe::server {

using Clock = std::chrono::steady_clock;

struct Scheduler::Slot {
  enum State { FREE, PREFILL, DECODE } state = FREE;
  std::unique_ptr<Session> session;
  std::vector<int32_t> cached;  // the tokens the KV cache holds, for reuse by the next prompt
  GenerationJob job;
  std::shared_ptr<ReplyChannel> channel;
  std::optional<ReplyBuilder> reply;
  size_t evaluated = 0;         // prompt tokens in the cache
  int32_t next = -1;            // sampled, not yet evaluated
  Clock::time_point queued_at, last_token_at;
  bool first_token = true;
};

namespace {
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}
}  // namespace

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options, ServerMetrics& metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  // A vision model generates nothing: it has no text slots, only the engine thread's tasks.
  if (engine.model().config().is_vision()) options_.n_parallel = 0;
  else if (options_.n_parallel < 1) swapmoe::fail("serve", "-np must be at least 1", "pass -np 1 or more");
  for (int i = 0; i < options_.n_parallel; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->session = std::make_unique<Session>(engine_);
    slots_.push_back(std::move(slot));
  }
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(std::chrono::milliseconds(0)); }

std::shared_ptr<ReplyChannel> Scheduler::submit(GenerationJob job) {
  auto channel = std::make_shared<ReplyChannel>();
  {
    std::lock_guard lock(mutex_);
    if (draining_) throw Unavailable("the server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.queue_limit)
      throw Unavailable("the request queue is full (" + std::to_string(options_.queue_limit) + " waiting)");
    queue_.push_back({std::move(job), channel, Clock::now()});
    metrics_.queue_length = static_cast<int64_t>(queue_.size());
  }
  ++metrics_.requests;
  wake_.notify_all();
  return channel;
}

void Scheduler::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) throw Unavailable("the engine has stopped");
    tasks_.push_back(std::move(task));
  }
  wake_.notify_all();
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
  std::vector<Queued> dropped;
  {
    std::lock_guard lock(mutex_);
    if (stopped_ && !thread_.joinable()) return;
    draining_ = true;
    dropped.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    metrics_.queue_length = 0;
  }
  for (Queued& q : dropped) q.channel->push(ReplyEvent::failed("the server is shutting down", 503));
  // Replies in flight may finish within the grace period; then the rest are cancelled.
  const auto deadline = Clock::now() + grace;
  while (in_flight_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Scheduler::busy() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->state != Slot::FREE; });
}

void Scheduler::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const bool free_slot =
        std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->state == Slot::FREE; });
    wake_.wait(lock, [&] { return stopping_ || !tasks_.empty() || (!queue_.empty() && free_slot) || busy(); });
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    if (stopping_) {
      // Cancel what is still running; run the tasks already posted (their callers wait), then stop.
      stopped_ = true;
      lock.unlock();
      for (auto& s : slots_)
        if (s->state != Slot::FREE) fail(*s, "the server is shutting down", 503);
      for (auto& t : tasks) t();
      return;
    }
    admit(lock);
    lock.unlock();
    for (auto& t : tasks) t();
    step();
    lock.lock();
  }
}

// Queued jobs take free slots (lock held), preferring the slot whose cache already holds the
// longest prefix of the prompt: a chat client sends the whole conversation every turn.
void Scheduler::admit(std::unique_lock<std::mutex>& lock) {
  (void)lock;
  while (!queue_.empty()) {
    Slot* best = nullptr;
    size_t best_common = 0;
    for (auto& s : slots_) {
      if (s->state != Slot::FREE) continue;
      const size_t common = common_prefix(s->cached, queue_.front().job.prompt);
      if (!best || common > best_common) best = s.get(), best_common = common;
    }
    if (!best) break;
    Queued q = std::move(queue_.front());
    queue_.pop_front();
    metrics_.queue_length = static_cast<int64_t>(queue_.size());
    start(*best, std::move(q.job), std::move(q.channel), q.at);
  }
}

void Scheduler::start(Slot& slot, GenerationJob job, std::shared_ptr<ReplyChannel> channel, Clock::time_point queued_at) {
  Session& session = *slot.session;
  const Tokenizer& tok = engine_.tokenizer();
  slot.job = std::move(job);
  slot.channel = std::move(channel);
  slot.queued_at = queued_at;
  slot.first_token = true;
  slot.next = -1;
  slot.reply.emplace(tok, slot.job.max_tokens, slot.job.stops, slot.job.ignore_eos);
  session.sampler() = Sampler(slot.job.sampling, tok.n_vocab());
  // Keep the cached prefix, but evaluate at least the prompt's last token: its logits start the reply.
  const size_t keep = std::min(common_prefix(slot.cached, slot.job.prompt), slot.job.prompt.size() - 1);
  slot.cached.resize(keep);
  slot.cached.resize(static_cast<size_t>(session.keep_prefix(slot.cached)));
  slot.evaluated = slot.cached.size();
  metrics_.prompt_tokens_cached += slot.cached.size();
  slot.state = Slot::PREFILL;
  ++metrics_.active;
  ++in_flight_;
}

// One forward for every active slot: each decoding sequence's next token, then prompt chunks of
// the prefilling slots while the micro-batch has room. A new request's prompt costs the decoding
// sequences no forward of its own, and a long prompt delays them by one micro-batch at a time.
void Scheduler::step() {
  std::vector<Slot*> batch;
  std::vector<Session::Run> runs;
  int64_t room = engine_.options().n_ubatch;
  int decoding = 0;
  for (auto& s : slots_) {
    if (s->state != Slot::DECODE) continue;
    if (s->channel->cancelled()) {
      finish(*s);
      continue;
    }
    batch.push_back(s.get());
    runs.push_back({s->session.get(), {&s->next, 1}, Session::RunKind::decode});
    --room, ++decoding;
  }
  for (auto& s : slots_) {
    if (s->state != Slot::PREFILL || room <= 0) continue;
    if (s->channel->cancelled()) {
      finish(*s);
      continue;
    }
    const auto& prompt = s->job.prompt;
    const size_t n = std::min(prompt.size() - s->evaluated, static_cast<size_t>(room));
    const bool last = s->evaluated + n == prompt.size();
    batch.push_back(s.get());
    runs.push_back({s->session.get(), {prompt.data() + s->evaluated, n},
                    last ? Session::RunKind::prompt_end : Session::RunKind::prompt});
    room -= static_cast<int64_t>(n);
  }
  if (runs.empty()) return;
  try {
    Session::evaluate_batch(runs);
  } catch (const std::exception& e) {
    for (Slot* s : batch) fail(*s, e.what(), 500);
    return;
  }
  ++metrics_.forwards;
  if (decoding > 0) {
    ++metrics_.decode_steps;
    metrics_.decode_step_tokens += decoding;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& slot = *batch[i];
    if (runs[i].kind == Session::RunKind::decode) {
      slot.cached.push_back(slot.next);
    } else {
      slot.cached.insert(slot.cached.end(), runs[i].tokens.begin(), runs[i].tokens.end());
      slot.evaluated += runs[i].tokens.size();
      metrics_.prompt_tokens += runs[i].tokens.size();
      if (runs[i].kind == Session::RunKind::prompt) continue;
    }
    try {
      take_token(slot, slot.session->sample(slot.reply->banned()));
    } catch (const std::exception& e) {
      fail(slot, e.what(), 500);
    }
  }
}

// A sampled token: its text goes to the client; the reply ends, or the token waits to be
// evaluated by the next decode step.
void Scheduler::take_token(Slot& slot, int32_t token) {
  const auto now = Clock::now();
  if (slot.first_token) metrics_.time_to_first_token.observe(std::chrono::duration<double>(now - slot.queued_at).count());
  else metrics_.inter_token_latency.observe(std::chrono::duration<double>(now - slot.last_token_at).count());
  slot.first_token = false;
  slot.last_token_at = now;
  std::string text = slot.reply->push(token);
  if (!slot.reply->done() || slot.reply->stop_reason() != "eos") {
    ++metrics_.completion_tokens;
    metrics_.generated.add(1);
  }
  if (!text.empty()) slot.channel->push(ReplyEvent::piece(std::move(text)));
  if (!slot.reply->done() && slot.session->pos() >= slot.session->n_ctx()) slot.reply->end("context");
  if (slot.reply->done()) return finish(slot);
  slot.next = token;
  slot.state = Slot::DECODE;
}

void Scheduler::finish(Slot& slot) {
  if (slot.channel->cancelled()) {
    ++metrics_.requests_cancelled;
  } else {
    if (!slot.reply->done()) slot.reply->end("cancelled");
    std::string rest = slot.reply->flush();
    if (!rest.empty()) slot.channel->push(ReplyEvent::piece(std::move(rest)));
    const std::string& why = slot.reply->stop_reason();
    slot.channel->push(ReplyEvent::end(why == "limit" || why == "context" ? "length" : "stop",
                                       static_cast<int64_t>(slot.job.prompt.size()),
                                       static_cast<int64_t>(slot.reply->tokens().size())));
  }
  slot.channel.reset();
  slot.reply.reset();
  slot.state = Slot::FREE;
  --metrics_.active;
  --in_flight_;
}

void Scheduler::fail(Slot& slot, const std::string& message, int status) {
  if (status >= 500 && status != 503) ++metrics_.requests_failed;
  slot.channel->push(ReplyEvent::failed(message, status));
  slot.cached.clear();  // a forward that failed part-way leaves the cache undefined
  slot.channel.reset();
  slot.reply.reset();
  slot.state = Slot::FREE;
  --metrics_.active;
  --in_flight_;
}

}  // namespace swapmoe::server
