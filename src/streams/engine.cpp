// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The engine: construction, stream lookup and the validation helpers the
// control-plane files share. The rest, one concern per file:
//   engine_lifecycle.cpp   create, delete, list and describe streams and shards
//   engine_resharding.cpp  topology primitives, split, merge, UpdateShardCount,
//                          UpdateStreamMode, on-demand scaling
//   engine_retention.cpp   retention periods and the trim of expired records
//   engine_limits.cpp      quotas, control-plane rates, injected faults, throughput
//   engine_tags.cpp        stream tags
//   engine_monitoring.cpp  enhanced monitoring and the engine's metrics
//   engine_data.cpp        the data plane (puts, iterators, reads)
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

namespace detail {

void validate_name_like(validation& v, std::string_view text, std::string_view member, std::string_view pattern,
                        std::size_t max_length) {
  // AWS checks every constraint of the member: the pattern, then each length
  // bound. An empty string fails both the pattern and the minimum length.
  if (!detail::is_name_chars(text)) v.pattern(text, member, pattern);
  if (text.empty()) v.length_at_least(text, member, 1);
  if (text.size() > max_length) v.length_at_most(text, member, max_length);
}

void validate_stream_name(validation& v, std::string_view name, std::string_view member) {
  validate_name_like(v, name, member, detail::kStreamNamePattern, 128);
}

void validate_shard_id_input(validation& v, std::string_view id, std::string_view member) {
  validate_name_like(v, id, member, detail::kShardIdPattern, 128);
}

std::string map_repr(const std::map<std::string, std::string>& m) {
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) s += ", ";
    first = false;
    s += k;
    s += '=';
    s += v;
  }
  s += '}';
  return s;
}

std::string list_repr(const std::vector<std::string>& keys) {
  std::string s = "[";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) s += ", ";
    s += keys[i];
  }
  s += ']';
  return s;
}

}  // namespace detail

namespace {

struct parsed_arn {
  std::string_view partition;
  std::string_view region;
  std::string_view account;
  std::string_view name;
};

// arn:aws[-partition]:kinesis:<region>:<12 digits>:stream/<name>, the model's
// pattern `arn:aws.*:kinesis:.*:\d{12}:stream/\S+` taken apart.
std::optional<parsed_arn> parse_arn(std::string_view a) {
  if (!a.starts_with("arn:aws")) return std::nullopt;
  const auto k = a.find(":kinesis:");
  const auto st = a.rfind(":stream/");
  if (k == std::string_view::npos || st == std::string_view::npos) return std::nullopt;
  // ":kinesis:" <region> ':' <12 digits> ":stream/": the colon before the
  // account sits at st - 13 and the region (possibly empty) runs up to it.
  const std::size_t region_begin = k + 9;
  if (st < 13 || st - 13 < region_begin || a[st - 13] != ':') return std::nullopt;
  parsed_arn out;
  out.partition = a.substr(4, k - 4);  // "aws", "aws-cn", …: the text the model's `aws.*` matches
  out.account = a.substr(st - 12, 12);
  if (!std::all_of(out.account.begin(), out.account.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  out.region = a.substr(region_begin, st - 13 - region_begin);
  out.name = a.substr(st + 8);
  if (out.name.empty() || out.name.find_first_of(" \t\r\n\f\v") != std::string_view::npos) return std::nullopt;
  return out;
}

}  // namespace

// --- construction -------------------------------------------------------------

engine::impl::impl(engine_options o)
    : opt(std::move(o)),
      clock(opt.clock ? opt.clock : std::make_shared<system_clock>()),
      storage(opt.storage ? opt.storage : make_memory_storage()),
      tokens(opt.token_key) {
  opt.clock = clock;
  opt.storage = storage;
  opt.token_key.clear();  // not kept readable
  if (opt.limits != limits_mode::as_configured) {
    opt.throughput = throughput_limits{};
    opt.throughput.enabled = true;
    opt.control_plane = control_plane_limits{};
    opt.control_plane.enabled = true;
    report_limits = opt.limits == limits_mode::aws_report;
  }
  const auto& l = opt.throughput;
  for (auto [value, name] :
       {std::pair{l.write_bytes_per_second, "write_bytes_per_second"},
        std::pair{l.write_records_per_second, "write_records_per_second"},
        std::pair{l.read_calls_per_second, "read_calls_per_second"},
        std::pair{l.read_bytes_per_second, "read_bytes_per_second"}, std::pair{l.large_read_bytes, "large_read_bytes"},
        std::pair{l.get_shard_iterator_per_second, "get_shard_iterator_per_second"}}) {
    if (value < 1) {
      throw std::invalid_argument(
          fmt::format("rill: engine_options::throughput.{} must be at least 1, not {}", name, value));
    }
  }
  if (l.large_read_penalty < duration::zero()) {
    throw std::invalid_argument("rill: engine_options::throughput.large_read_penalty must not be negative");
  }
  manual = dynamic_cast<manual_clock*>(clock.get()) != nullptr;
  registry = std::make_shared<metrics_registry>(clock, opt.metrics);
  sched = clock->make_scheduler();
}

result<void> engine::impl::check_clock_range(timestamp t) const {
  // Sequence numbers hold whole seconds since 1970 up to sequence_number::max_create_seconds
  // (creation times; arrival times have more room). Refuse what they cannot hold rather
  // than issue numbers the engine would later refuse.
  const auto ms = t.time_since_epoch().count();
  if (ms >= 0 &&
      static_cast<std::uint64_t>(ms / 1000) + std::uint64_t{86400} * 366 <= sequence_number::max_create_seconds) {
    return {};
  }
  return detail::invalid_argument(
      fmt::format("The clock reads {} ms since 1970, outside the times sequence numbers can hold (1970-01-01 up to "
                  "a year before {} s since 1970).",
                  ms, sequence_number::max_create_seconds));
}

engine::engine(engine_options options) : engine(std::move(options), defer_open{}) {
  if (!impl_->opt.data_directory.empty()) {
    if (auto r = impl_->open_durable(); !r) throw bad_result_access(r.error());
    impl_->resume_pending(*this);
  }
  impl_->schedule_trim();
  impl_->schedule_on_demand();
}

engine::engine(engine_options options, defer_open) : impl_(std::make_unique<impl>(std::move(options))) {}

result<std::unique_ptr<engine>> engine::open(engine_options options) {
  std::unique_ptr<engine> e(new engine(std::move(options), defer_open{}));
  if (!e->impl_->opt.data_directory.empty()) {
    if (auto r = e->impl_->open_durable(); !r) return r.error();
    e->impl_->resume_pending(*e);
  }
  e->impl_->schedule_trim();
  e->impl_->schedule_on_demand();
  return e;
}

engine::~engine() {
  impl_->sched->shutdown();
  impl_->fanout.shutdown();
  std::lock_guard control(impl_->control_mu);
  std::unique_lock streams(impl_->streams_mu);
  impl_->streams.clear();  // the logs close; a durable engine's files stay
  impl_->by_name.clear();
}

rill::clock& engine::clock() const noexcept { return *impl_->clock; }

const engine_options& engine::options() const noexcept { return impl_->opt; }

std::shared_ptr<metrics_registry> engine::metrics() const noexcept { return impl_->registry; }

void engine::trim_expired() { impl_->trim_expired(); }

namespace detail {

std::string_view partition_of(std::string_view region) {
  if (region.starts_with("cn-")) return "aws-cn";
  if (region.starts_with("us-gov-")) return "aws-us-gov";
  if (region.starts_with("us-isob-")) return "aws-iso-b";
  if (region.starts_with("us-iso-")) return "aws-iso";
  if (region.starts_with("eu-isoe-")) return "aws-iso-e";
  if (region.starts_with("us-isof-")) return "aws-iso-f";
  return "aws";
}

}  // namespace detail

std::string engine::impl::arn_of(std::string_view name) const {
  return fmt::format("arn:{}:kinesis:{}:{}:stream/{}", detail::partition_of(opt.region), opt.region, opt.account_id,
                     name);
}

// --- lookup -------------------------------------------------------------------

void engine::impl::validate_ref(validation& v, const std::optional<std::string>& name,
                                const std::optional<std::string>& arn) {
  if (name) validate_stream_name(v, *name, "streamName");
  if (!arn) return;
  const bool long_arn = arn->size() > 2048;
  auto parsed = parse_arn(*arn);
  if (!parsed) {
    v.pattern(*arn, "streamARN", detail::kStreamArnPattern);
    if (arn->empty()) v.length_at_least(*arn, "streamARN", 1);
  } else if (!long_arn) {
    validate_stream_name(v, parsed->name, "streamARN");
  }
  if (long_arn) v.length_at_most(*arn, "streamARN", 2048);
}

result<std::string> engine::impl::resolve(const std::optional<std::string>& name,
                                          const std::optional<std::string>& arn) const {
  if (!name && !arn) return detail::invalid_argument("Either StreamName or StreamARN must be provided.");
  validation v;
  validate_ref(v, name, arn);
  if (!v.ok()) return v.error();
  std::optional<parsed_arn> parsed;
  if (arn) parsed = parse_arn(*arn);
  if (parsed) {
    // An ARN of another partition, account or region names no stream here.
    if (parsed->partition != detail::partition_of(opt.region) || parsed->account != opt.account_id ||
        parsed->region != opt.region) {
      return detail::stream_not_found({parsed->name, parsed->account});
    }
    if (name && *name != parsed->name) {
      return detail::invalid_argument(
          fmt::format("StreamARN {} and StreamName {} do not name the same stream.", *arn, *name));
    }
    return std::string(parsed->name);
  }
  return *name;
}

result<std::shared_ptr<stream_state>> engine::impl::find(std::string_view name) const {
  std::shared_lock lock(streams_mu);
  auto it = by_name.find(name);
  if (it == by_name.end()) return detail::stream_not_found(at(name));
  return it->second;
}

result<std::shared_ptr<stream_state>> engine::impl::lookup(const std::optional<std::string>& name,
                                                           const std::optional<std::string>& arn) const {
  // The common case, a valid name and no ARN, without copying the name.
  if (name && !arn && name->size() <= 128 && detail::is_name_chars(*name)) return find(*name);
  auto n = resolve(name, arn);
  if (!n) return n.error();
  return find(*n);
}

result<engine::impl::control_call> engine::impl::begin_control(std::string_view op,
                                                               const std::optional<std::string>& name,
                                                               const std::optional<std::string>& arn) {
  auto s = lookup(name, arn);
  if (!s) return s.error();
  // Rates and injected faults (a delay may wait for the clock) before the locks.
  if (auto admitted = enter(op, (*s)->name); !admitted) return admitted.error();
  for (;;) {
    auto stream = *s;
    std::unique_lock stream_control(stream->control_mu);
    std::unique_lock control(control_mu);
    s = lookup(name, arn);  // again, under the locks: it may have been deleted (or replaced) meanwhile
    if (!s) return s.error();
    if (*s != stream) continue;  // a new stream of that name: lock that one instead
    return control_call{std::move(stream), std::move(stream_control), std::move(control),
                        persist_on_exit(persist ? this : nullptr, *s)};
  }
}

void engine::set_fault_plan(fault_plan plan) { impl_->faults.install(std::move(plan), impl_->now()); }

}  // namespace rill
