#include "server/metrics_text.h"

#include "server/prometheus.h"

namespace swapmoe::server {

std::string metrics_text(ServerMetrics& m, const nlohmann::json& memory) {
  PrometheusText p;
  auto num = [&](const char* key) { return memory.value(key, 0.0); };
  p.counter("swapmoe_requests_total", "completion requests admitted to the queue", double(m.requests));
  p.counter("swapmoe_requests_failed_total", "requests answered with an engine error", double(m.requests_failed));
  p.counter("swapmoe_requests_rejected_total", "requests refused with 503 (queue full or shutting down)", double(m.requests_rejected));
  p.counter("swapmoe_requests_cancelled_total", "replies abandoned by their client mid-way", double(m.requests_cancelled));
  p.counter("swapmoe_http_client_errors_total", "requests answered with a 4xx error", double(m.http_errors));
  p.counter("swapmoe_prompt_tokens_total", "prompt tokens evaluated", double(m.prompt_tokens));
  p.counter("swapmoe_prompt_tokens_cached_total", "prompt tokens reused from a sequence's cache", double(m.prompt_tokens_cached));
  p.counter("swapmoe_tokens_generated_total", "tokens generated", double(m.completion_tokens));
  p.counter("swapmoe_images_classified_total", "images classified (vision models)", double(m.images_classified));
  p.counter("swapmoe_forwards_total", "engine forward passes (a decode step and the prompt chunks beside it count once)",
            double(m.forwards));
  p.counter("swapmoe_decode_steps_total", "forwards that advanced decoding sequences", double(m.decode_steps));
  p.counter("swapmoe_decode_step_tokens_total", "tokens those forwards carried (one per active sequence)", double(m.decode_step_tokens));
  p.gauge("swapmoe_tokens_per_second", "tokens generated per second over the last 10 s", m.generated.per_second());
  p.gauge("swapmoe_queue_length", "requests waiting for a sequence", double(m.queue_length));
  p.gauge("swapmoe_active_sequences", "sequences being evaluated or decoded", double(m.active));
  p.gauge("swapmoe_memory_budget_bytes", "the memory budget in force (0: the full model, no budget)", num("budget_bytes"));
  p.gauge("swapmoe_memory_accounted_bytes", "what the engine holds now", num("accounted_bytes"));
  p.gauge("swapmoe_memory_minimum_budget_bytes", "the smallest budget the engine can run in", num("minimum_budget_bytes"));
  p.gauge("swapmoe_memory_full_footprint_bytes", "what the full model would hold", num("full_footprint_bytes"));
  p.counter("swapmoe_memory_budget_changes_total", "budget changes applied while serving", double(m.budget_changes));
  p.gauge("swapmoe_expert_share", "share of each MoE layer's experts resident", num("expert_share"));
  p.gauge("swapmoe_expert_hit_rate", "(token, layer) pairs whose top-k was entirely resident", num("hit_rate"));
  p.gauge("swapmoe_expert_fidelity", "(token, layer) pairs whose masked top-k equals the model's own", num("fidelity"));
  p.counter("swapmoe_expert_swaps_total", "experts swapped in the background", num("swaps"));
  p.counter("swapmoe_expert_loads_total", "experts read from storage after start-up", num("loads"));
  p.counter("swapmoe_expert_bytes_read_total", "bytes of experts read from storage after start-up", num("bytes_read"));
  p.counter("swapmoe_expert_stalls_total", "tokens that waited on storage", num("stalls"));
  p.histogram("swapmoe_time_to_first_token_seconds", "from a request's arrival to its first token", m.time_to_first_token.snapshot());
  p.histogram("swapmoe_inter_token_latency_seconds", "between two tokens of one reply", m.inter_token_latency.snapshot());
  return p.text();
}

}  // namespace swapmoe::server
