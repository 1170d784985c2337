// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The engine: construction, stream lookup, lifecycle and the control plane.
// The data plane (puts, iterators, reads) is in engine_data.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cassert>
#include <condition_variable>

#include "streams/engine_impl.hpp"
#include "common/md5.hpp"
#include "rill/logging.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

namespace {

constexpr std::int32_t kMinRetentionHours = 24;
constexpr std::int32_t kMaxRetentionHours = 8760;
constexpr std::size_t kMaxTagsPerStream = 50;
constexpr std::size_t kMaxTagsPerCall = 50;
constexpr std::int32_t kOnDemandInitialShards = 4;
constexpr duration kNextTokenLifetime = std::chrono::seconds(300);

constexpr std::uint8_t kListShardsToken = 2;
constexpr std::uint8_t kListStreamsToken = 3;

// The creation second of a child shard: after its parents', and after now, so
// every child number exceeds every parent number.
std::uint64_t child_create_seconds(std::uint64_t parent_create_s, timestamp now) {
  return std::max(parent_create_s, seconds_of(now)) + 1;
}

void validate_stream_name(validation& v, std::string_view name, std::string_view member) {
  if (name.empty()) {
    v.length_at_least(name, member, 1);
  } else if (name.size() > 128) {
    v.length_at_most(name, member, 128);
  } else if (!detail::is_name_chars(name)) {
    v.pattern(name, member, detail::kStreamNamePattern);
  }
}

void validate_shard_id_input(validation& v, std::string_view id, std::string_view member) {
  if (id.empty()) {
    v.length_at_least(id, member, 1);
  } else if (id.size() > 128) {
    v.length_at_most(id, member, 128);
  } else if (!detail::is_name_chars(id)) {
    v.pattern(id, member, detail::kShardIdPattern);
  }
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

// Tag text may hold Unicode letters, digits, white space and _ . / = + - % @ :.
// Non-ASCII characters are accepted as letters when the text is valid UTF-8
// (rill carries no Unicode tables; see docs/semantics.md).
enum class tag_chars { ok, percent, invalid };
tag_chars check_tag_chars(std::string_view s) {
  if (detail::utf16_length(s) < 0) return tag_chars::invalid;
  bool percent = false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) continue;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) continue;
    switch (c) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
      case '\f':
      case '\v':
      case '_':
      case '.':
      case '/':
      case '=':
      case '+':
      case '-':
      case '@':
      case ':': continue;
      case '%': percent = true; continue;
      default: return tag_chars::invalid;
    }
  }
  return percent ? tag_chars::percent : tag_chars::ok;
}

std::optional<error> validate_tag_map(const std::map<std::string, std::string>& tags, std::string_view verb,
                                      detail::where w) {
  validation v;
  for (const auto& [k, val] : tags) {
    auto klen = detail::utf16_length(k);
    if (k.empty() || klen > 128) {
      v.fail(map_repr(tags), "tags",
             "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must "
             "have length greater than or equal to 1]");
      break;
    }
    if (detail::utf16_length(val) > 256) {
      v.fail(map_repr(tags), "tags",
             "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must "
             "have length greater than or equal to 0]");
      break;
    }
  }
  if (!v.ok()) return v.error();
  bool percent = false;
  for (const auto& [k, val] : tags) {
    auto a = check_tag_chars(k);
    auto b = check_tag_chars(val);
    if (a == tag_chars::invalid || b == tag_chars::invalid) {
      return detail::invalid_argument(
          "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + "
          "- % @.");
    }
    percent = percent || a == tag_chars::percent || b == tag_chars::percent;
  }
  if (percent) {
    return detail::invalid_argument(fmt::format(
        "Failed to {} tags {} stream {} under account {} because some tags contained illegal characters. The "
        "allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.",
        verb, verb == "add" ? "to" : "from", w.stream, w.account));
  }
  return std::nullopt;
}

error too_many_tags(detail::where w) {
  // AWS's own text still says 10 although the limit has been 50 for years.
  return detail::invalid_argument(
      fmt::format("Failed to add tags to stream {} under account {} because a given stream cannot have more than 10 "
                  "tags associated with it.",
                  w.stream, w.account));
}

// Shard ids after which a listing starts: an input that parses names an index;
// one that does not is compared as text with the canonical ids.
struct start_after {
  std::optional<std::string> text;
  [[nodiscard]] bool admits(shard_id id) const {
    if (!text) return true;
    if (auto parsed = shard_id::parse(*text)) return id.index() > parsed->index();
    return id.to_string() > *text;
  }
};

shard describe_shard(const shard_state& s) {
  shard out;
  out.shard_id = s.id;
  out.parent_shard_id = s.parent;
  out.adjacent_parent_shard_id = s.adjacent_parent;
  out.hash_key_range = s.range();
  out.sequence_number_range.starting_sequence_number = s.starting_sequence_number();
  if (s.closed) out.sequence_number_range.ending_sequence_number = s.ending_sequence_number();
  return out;
}

std::vector<enhanced_metrics> monitoring_of(const stream_state& s) {
  enhanced_metrics m;
  m.shard_level_metrics.assign(s.shard_level_metrics.begin(), s.shard_level_metrics.end());
  return {std::move(m)};
}

// The fields DescribeStream and DescribeStreamSummary share. Caller holds st.mu.
template <class Description>
void describe_common(Description& out, const stream_state& st) {
  out.stream_name = st.name;
  out.stream_arn = st.arn;
  out.stream_status = st.status;
  out.stream_mode_details = {st.mode};
  out.retention_period_hours = st.retention_hours;
  out.stream_creation_timestamp = st.created;
  out.enhanced_monitoring = monitoring_of(st);
  out.encryption_type = st.encryption;
  out.key_id = st.key_id;
}

struct parsed_arn {
  std::string_view region;
  std::string_view account;
  std::string_view name;
};

// arn:aws[-partition]:kinesis:<region>:<12 digits>:stream/<name>, the model's
// pattern `arn:aws.*:kinesis:.*:\d{12}:stream/\S+` taken apart.
std::optional<parsed_arn> parse_arn(std::string_view a) {
  if (a.size() > 2048 || !a.starts_with("arn:aws")) return std::nullopt;
  const auto k = a.find(":kinesis:");
  const auto st = a.rfind(":stream/");
  if (k == std::string_view::npos || st == std::string_view::npos) return std::nullopt;
  // ":kinesis:" <region> ':' <12 digits> ":stream/": the colon before the
  // account sits at st - 13 and the region (possibly empty) runs up to it.
  const std::size_t region_begin = k + 9;
  if (st < 13 || st - 13 < region_begin || a[st - 13] != ':') return std::nullopt;
  parsed_arn out;
  out.account = a.substr(st - 12, 12);
  if (!std::all_of(out.account.begin(), out.account.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  out.region = a.substr(region_begin, st - 13 - region_begin);
  out.name = a.substr(st + 8);
  if (out.name.empty() || out.name.find_first_of(" \t\r\n\f\v") != std::string_view::npos) return std::nullopt;
  return out;
}

// The uniform layout of n shards: shard i starts at floor(2^128 / n) * i.
std::vector<hash_key> uniform_starts(std::uint32_t n) {
  using u128 = unsigned __int128;
  const u128 max = ~u128{0};
  // floor(2^128 / n) without 2^128: (2^128 - 1) / n, plus one when n divides 2^128.
  const u128 step = max / n + (max % n + 1 == n ? 1 : 0);
  std::vector<hash_key> starts;
  starts.reserve(n);
  for (u128 i = 0; i < n; ++i) starts.emplace_back(step * i);
  return starts;
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
  registry = std::make_shared<metrics_registry>(clock, opt.metrics);
  sched = clock->make_scheduler();
}

engine::engine(engine_options options) : impl_(std::make_unique<impl>(std::move(options))) {
  impl_->schedule_trim();
  impl_->schedule_on_demand();
}

engine::~engine() {
  impl_->sched->shutdown();
  std::lock_guard control(impl_->control_mu);
  std::unique_lock streams(impl_->streams_mu);
  for (auto& [name, s] : impl_->streams) {
    for (auto& sh : s->shards) {
      if (sh) impl_->storage->remove_log({s->name, s->uid, sh->id});
    }
  }
  impl_->streams.clear();
}

rill::clock& engine::clock() const noexcept { return *impl_->clock; }

const engine_options& engine::options() const noexcept { return impl_->opt; }

std::shared_ptr<metrics_registry> engine::metrics() const noexcept { return impl_->registry; }

void engine::trim_expired() { impl_->trim_expired(); }

std::string engine::impl::arn_of(std::string_view name) const {
  return fmt::format("arn:aws:kinesis:{}:{}:stream/{}", opt.region, opt.account_id, name);
}

// --- lookup -------------------------------------------------------------------

result<std::string> engine::impl::resolve(const std::optional<std::string>& name,
                                          const std::optional<std::string>& arn) const {
  if (!name && !arn) return detail::invalid_argument("Either StreamName or StreamARN must be provided.");
  validation v;
  if (name) validate_stream_name(v, *name, "streamName");
  std::optional<parsed_arn> parsed;
  if (arn) {
    parsed = parse_arn(*arn);
    if (!parsed) {
      if (arn->empty()) {
        v.length_at_least(*arn, "streamARN", 1);
      } else if (arn->size() > 2048) {
        v.length_at_most(*arn, "streamARN", 2048);
      } else {
        v.pattern(*arn, "streamARN", detail::kStreamArnPattern);
      }
    } else {
      validate_stream_name(v, parsed->name, "streamARN");
    }
  }
  if (!v.ok()) return v.error();
  if (parsed) {
    if (parsed->account != opt.account_id || parsed->region != opt.region) {
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
  auto it = streams.find(name);
  if (it == streams.end()) return detail::stream_not_found(at(name));
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
  // Rates and injected faults (a delay may wait for the clock) before the lock.
  if (auto admitted = enter(op, (*s)->name); !admitted) return admitted.error();
  std::unique_lock control(control_mu);
  s = lookup(name, arn);  // again, under the lock: it may have been deleted meanwhile
  if (!s) return s.error();
  return control_call{std::move(control), std::move(*s)};
}

// --- topology primitives -----------------------------------------------------

std::int64_t engine::impl::open_shard_total() const {
  std::int64_t total = 0;
  std::shared_lock lock(streams_mu);
  for (const auto& [n, s] : streams) {
    // status, mode, initial_shards and open change only under control_mu, held here.
    if (s->mode == stream_mode::on_demand) continue;  // the quota covers provisioned streams
    total += s->status == stream_status::creating ? s->initial_shards : static_cast<std::int64_t>(s->open.size());
  }
  return total;
}

std::int32_t engine::impl::on_demand_stream_total() const {
  std::int32_t total = 0;
  std::shared_lock lock(streams_mu);
  for (const auto& [n, s] : streams)
    total += s->mode == stream_mode::on_demand ? 1 : 0;  // mode changes under control_mu
  return total;
}

result<void> engine::impl::check_on_demand_quota() const {
  const std::int32_t current = on_demand_stream_total();
  if (current < opt.on_demand_stream_count_limit) return {};
  return error(error_code::limit_exceeded_exception,
               fmt::format("This request would exceed the on-demand stream limit for the account {} in {}. Current "
                           "on-demand stream count: {}. Limit: {}.",
                           opt.account_id, opt.region, current, opt.on_demand_stream_count_limit));
}

shard_state* engine::impl::add_shard(stream_state& s, hash_key start, hash_key end, std::optional<shard_id> parent,
                                     std::optional<shard_id> adjacent, std::uint64_t create_s, timestamp now) {
  shard_id id(s.next_index++);
  auto log = storage->create_log({s.name, s.uid, id});
  if (!log) throw std::runtime_error("rill: storage could not create a shard log: " + log.error().to_string());
  auto sh = std::make_shared<shard_state>(id, start, end, parent, adjacent, create_s, now, std::move(*log));
  {
    std::unique_lock lock(sh->mu);
    sh->arm(s.limits, now);
  }
  s.shards.push_back(sh);
  return sh.get();
}

void engine::impl::rebuild_open(stream_state& s) {
  s.open.clear();
  for (auto& sh : s.shards) {
    if (sh && !sh->closed) s.open.push_back(sh.get());
  }
  std::sort(s.open.begin(), s.open.end(),
            [](const shard_state* a, const shard_state* b) { return a->start < b->start; });
}

void engine::impl::activate(stream_state& s) {
  const timestamp t = now();
  const auto starts = uniform_starts(static_cast<std::uint32_t>(s.initial_shards));
  for (std::size_t i = 0; i < starts.size(); ++i) {
    hash_key end = i + 1 < starts.size() ? hash_key(starts[i + 1].value() - 1) : hash_key::max();
    add_shard(s, starts[i], end, std::nullopt, std::nullopt, seconds_of(t), t);
  }
  rebuild_open(s);
  s.status = stream_status::active;
  s.activated_at = t;
}

void engine::impl::close_shard(shard_state& sh, timestamp t) {
  std::unique_lock lock(sh.mu);
  sh.closed = true;
  sh.closed_at = std::max(t, sh.last_arrival);
  sh.close_offset = sh.log->end_offset();
}

void engine::impl::split(stream_state& s, shard_state& parent, hash_key at, timestamp t) {
  close_shard(parent, t);
  std::uint64_t cs = child_create_seconds(parent.create_s, t);
  auto* lo = add_shard(s, parent.start, hash_key(at.value() - 1), parent.id, std::nullopt, cs, t);
  auto* hi = add_shard(s, at, parent.end, parent.id, std::nullopt, cs, t);
  parent.children = {lo->id, hi->id};
  rebuild_open(s);
}

void engine::impl::merge(stream_state& s, shard_state& lower, shard_state& upper, timestamp t) {
  close_shard(lower, t);
  close_shard(upper, t);
  std::uint64_t cs = child_create_seconds(std::max(lower.create_s, upper.create_s), t);
  auto* child = add_shard(s, lower.start, upper.end, lower.id, upper.id, cs, t);
  lower.children = {child->id};
  upper.children = {child->id};
  rebuild_open(s);
}

void engine::impl::begin_update(const std::shared_ptr<stream_state>& s, std::function<void()> change) {
  if (opt.update_stream_delay <= duration::zero()) {
    change();
    return;
  }
  s->status = stream_status::updating;
  s->on_updated = std::move(change);
  std::weak_ptr<stream_state> weak = s;
  sched->call_at(now() + opt.update_stream_delay, [this, weak] {
    std::lock_guard control(control_mu);
    auto st = weak.lock();
    if (!st) return;
    std::unique_lock lock(st->mu);
    if (st->status != stream_status::updating) return;  // deleted meanwhile
    auto fn = std::move(st->on_updated);
    st->on_updated = nullptr;
    if (fn) fn();
    st->status = stream_status::active;
  });
}

void engine::impl::remove_stream(const std::shared_ptr<stream_state>& s) {
  {
    std::unique_lock streams_lock(streams_mu);
    auto it = streams.find(s->name);
    if (it == streams.end() || it->second != s) return;
    streams.erase(it);
  }
  std::unique_lock lock(s->mu);  // waits for in-flight puts and reads
  for (auto& sh : s->shards) {
    if (sh) storage->remove_log({s->name, s->uid, sh->id});
  }
  s->open.clear();
  s->status = stream_status::deleting;
}

// --- retention ---------------------------------------------------------------

void engine::impl::trim_expired() {
  const timestamp t = now();
  std::vector<std::shared_ptr<stream_state>> all;
  {
    std::shared_lock lock(streams_mu);
    for (auto& [n, s] : streams) all.push_back(s);
  }
  for (auto& s : all) {
    std::vector<std::shared_ptr<shard_state>> gone;
    {
      std::unique_lock lock(s->mu);
      const duration retention = s->retention();
      for (auto& sh : s->shards) {
        if (!sh) continue;
        if (sh->expired(t, retention)) {
          gone.push_back(std::move(sh));
          continue;
        }
        std::unique_lock sl(sh->mu);
        sh->log->trim_before(t - retention + duration(1));
      }
    }
    for (auto& sh : gone) storage->remove_log({s->name, s->uid, sh->id});
  }
}

void engine::impl::schedule_trim() {
  if (opt.trim_interval <= duration::zero()) return;
  sched->call_at(now() + opt.trim_interval, [this] {
    trim_expired();
    schedule_trim();
  });
}

// --- control plane -----------------------------------------------------------

result<void> engine::create_stream(const create_stream_request& req) {
  auto& d = *impl_;
  validation v;
  validate_stream_name(v, req.stream_name, "streamName");
  const stream_mode mode = req.stream_mode_details ? req.stream_mode_details->stream_mode : stream_mode::provisioned;
  if (mode == stream_mode::provisioned) {
    if (!req.shard_count) {
      v.fail_null("shardCount");
    } else if (*req.shard_count < 1) {
      v.value_at_least(*req.shard_count, "shardCount", 1);
    } else if (*req.shard_count > 100000) {
      v.value_at_most(*req.shard_count, "shardCount", 100000);
    }
  }
  if (req.tags.size() > 200) v.length_at_most(map_repr(req.tags), "tags", 200);
  if (!v.ok()) return v.error();
  const auto w = d.at(req.stream_name);
  if (auto e = validate_tag_map(req.tags, "add", w)) return *e;
  if (req.tags.size() > kMaxTagsPerStream) return too_many_tags(w);

  const std::int32_t shards = mode == stream_mode::on_demand ? kOnDemandInitialShards : *req.shard_count;
  if (auto admitted = d.enter("CreateStream", req.stream_name); !admitted) return admitted.error();
  std::lock_guard control(d.control_mu);
  if (d.find(req.stream_name)) return detail::stream_in_use_exists(w);
  const std::int64_t current = d.open_shard_total();
  if (mode == stream_mode::provisioned && current + shards > d.opt.shard_limit) {
    return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, current, d.opt.shard_limit, shards);
  }
  if (d.opt.control_plane.enabled) {
    std::int32_t creating = 0;
    std::shared_lock lock(d.streams_mu);
    for (auto& [n, other] : d.streams) creating += other->status == stream_status::creating ? 1 : 0;
    if (creating >= d.opt.control_plane.max_creating_streams) {
      return error(error_code::limit_exceeded_exception,
                   fmt::format("This request would exceed the limit of {} streams in the CREATING state for the "
                               "account {} in {}.",
                               d.opt.control_plane.max_creating_streams, d.opt.account_id, d.opt.region));
    }
  }
  if (mode == stream_mode::on_demand) {
    if (auto quota = d.check_on_demand_quota(); !quota) return quota.error();
  }

  auto s = std::make_shared<stream_state>();
  s->uid = d.next_uid++;
  s->name = req.stream_name;
  s->arn = d.arn_of(req.stream_name);
  s->created = d.now();
  s->mode = mode;
  s->tags = req.tags;
  s->initial_shards = shards;
  s->limits = d.opt.throughput;
  {
    std::unique_lock lock(d.streams_mu);
    d.streams.emplace(s->name, s);
  }
  logger()->debug("created stream {} ({} shards, {})", s->name, shards, to_string(mode));
  if (d.opt.create_stream_delay <= duration::zero()) {
    std::unique_lock lock(s->mu);
    d.activate(*s);
    return {};
  }
  std::weak_ptr<stream_state> weak = s;
  d.sched->call_at(d.now() + d.opt.create_stream_delay, [&d, weak] {
    std::lock_guard control(d.control_mu);
    auto st = weak.lock();
    if (!st) return;
    std::unique_lock lock(st->mu);
    if (st->status == stream_status::creating) d.activate(*st);
  });
  return {};
}

result<void> engine::delete_stream(const delete_stream_request& req) {
  auto& d = *impl_;
  auto call = d.begin_control("DeleteStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = std::move(call->stream);
  logger()->debug("deleting stream {}", stream->name);
  if (d.opt.delete_stream_delay <= duration::zero()) {
    d.remove_stream(stream);
    return {};
  }
  {
    std::unique_lock lock(stream->mu);
    if (stream->status == stream_status::deleting) return {};
    stream->status = stream_status::deleting;
    stream->on_updated = nullptr;
  }
  std::weak_ptr<stream_state> weak = stream;
  d.sched->call_at(d.now() + d.opt.delete_stream_delay, [&d, weak] {
    std::lock_guard control(d.control_mu);
    if (auto st = weak.lock()) d.remove_stream(st);
  });
  return {};
}

result<list_streams_result> engine::list_streams(const list_streams_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > 10000) v.value_at_most(*req.limit, "limit", 10000);
  if (req.exclusive_start_stream_name)
    validate_stream_name(v, *req.exclusive_start_stream_name, "exclusiveStartStreamName");
  if (!v.ok()) return v.error();
  if (auto admitted = d.enter("ListStreams", ""); !admitted) return admitted.error();
  const timestamp t = d.now();
  std::optional<std::string> after = req.exclusive_start_stream_name;
  if (req.next_token) {
    if (req.exclusive_start_stream_name) {
      return detail::invalid_argument("NextToken and ExclusiveStartStreamName cannot be provided together.");
    }
    auto payload = d.tokens.open(*req.next_token);
    detail::payload_reader r(payload ? *payload : std::string_view());
    std::uint8_t kind = 0;
    std::int64_t issued = 0;
    std::string last;
    if (!payload || !r.u8(kind) || kind != kListStreamsToken || !r.i64(issued) || !r.str(last) || !r.done()) {
      return detail::invalid_argument("Invalid NextToken.");
    }
    if (t - timestamp(duration(issued)) > kNextTokenLifetime) {
      return error(error_code::expired_next_token_exception,
                   fmt::format("The NextToken has expired. Tokens expire {} seconds after they are issued.",
                               kNextTokenLifetime.count() / 1000));
    }
    after = std::move(last);
  }
  const std::size_t limit = static_cast<std::size_t>(req.limit.value_or(100));
  list_streams_result out;
  std::shared_lock lock(d.streams_mu);
  auto it = after ? d.streams.upper_bound(*after) : d.streams.begin();
  for (; it != d.streams.end() && out.stream_names.size() < limit; ++it) {
    const auto& s = *it->second;
    std::shared_lock sl(s.mu);
    out.stream_names.push_back(s.name);
    out.stream_summaries.push_back({s.name, s.arn, s.status, {s.mode}, s.created});
  }
  out.has_more_streams = it != d.streams.end();
  if (out.has_more_streams) {
    out.next_token = d.tokens.seal(detail::payload_writer()
                                       .u8(kListStreamsToken)
                                       .i64(t.time_since_epoch().count())
                                       .str(out.stream_names.back())
                                       .take());
  }
  return out;
}

result<describe_stream_result> engine::describe_stream(const describe_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > 10000) v.value_at_most(*req.limit, "limit", 10000);
  if (req.exclusive_start_shard_id) validate_shard_id_input(v, *req.exclusive_start_shard_id, "exclusiveStartShardId");
  if (!v.ok()) return v.error();
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("DescribeStream", (*s)->name); !admitted) return admitted.error();
  const stream_state& st = **s;
  const timestamp t = d.now();
  const std::size_t limit = std::min<std::size_t>(static_cast<std::size_t>(req.limit.value_or(100)), 100);
  start_after after{req.exclusive_start_shard_id};

  describe_stream_result out;
  auto& desc = out.stream_description;
  std::shared_lock lock(st.mu);
  describe_common(desc, st);
  for (const auto& sh : st.shards) {
    if (!sh || sh->expired(t, st.retention()) || !after.admits(sh->id)) continue;
    if (desc.shards.size() == limit) {
      desc.has_more_shards = true;
      break;
    }
    std::shared_lock sl(sh->mu);
    desc.shards.push_back(describe_shard(*sh));
  }
  return out;
}

result<describe_stream_summary_result> engine::describe_stream_summary(const describe_stream_summary_request& req) {
  auto& d = *impl_;
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("DescribeStreamSummary", (*s)->name); !admitted) return admitted.error();
  const stream_state& st = **s;
  describe_stream_summary_result out;
  auto& sum = out.stream_description_summary;
  std::shared_lock lock(st.mu);
  describe_common(sum, st);
  sum.open_shard_count = static_cast<std::int32_t>(st.open.size());
  sum.consumer_count = 0;
  return out;
}

result<list_shards_result> engine::list_shards(const list_shards_request& req) {
  auto& d = *impl_;
  const timestamp t = d.now();
  validation v;
  if (req.max_results && *req.max_results < 1) v.value_at_least(*req.max_results, "maxResults", 1);
  if (req.max_results && *req.max_results > 10000) v.value_at_most(*req.max_results, "maxResults", 10000);
  if (req.exclusive_start_shard_id) validate_shard_id_input(v, *req.exclusive_start_shard_id, "exclusiveStartShardId");
  if (req.shard_filter && req.shard_filter->shard_id) {
    validate_shard_id_input(v, *req.shard_filter->shard_id, "shardFilter.shardId");
  }
  if (!v.ok()) return v.error();

  // Where to start, and which shards to keep: from the request, or from the token.
  std::string name;
  std::uint64_t uid = 0;
  shard_filter filter = req.shard_filter.value_or(shard_filter{});
  start_after after{req.exclusive_start_shard_id};
  std::optional<std::uint32_t> resume_after;  // from a token: last index returned
  if (req.next_token) {
    if (req.stream_name) return detail::invalid_argument("NextToken and StreamName cannot be provided together.");
    if (req.stream_arn) return detail::invalid_argument("NextToken and StreamARN cannot be provided together.");
    if (req.exclusive_start_shard_id) {
      return detail::invalid_argument("NextToken and ExclusiveStartShardId cannot be provided together.");
    }
    if (req.shard_filter) return detail::invalid_argument("NextToken and ShardFilter cannot be provided together.");
    if (req.stream_creation_timestamp) {
      return detail::invalid_argument("NextToken and StreamCreationTimestamp cannot be provided together.");
    }
    auto payload = d.tokens.open(*req.next_token);
    detail::payload_reader r(payload ? *payload : std::string_view());
    std::uint8_t kind = 0;
    std::uint8_t ftype = 0;
    std::int64_t issued = 0;
    std::int64_t fts = 0;
    std::uint32_t last = 0;
    std::uint8_t has_ts = 0;
    if (!payload || !r.u8(kind) || kind != kListShardsToken || !r.i64(issued) || !r.str(name) || !r.u64(uid) ||
        !r.u32(last) || !r.u8(ftype) || !r.u8(has_ts) || !r.i64(fts) || !r.done() ||
        ftype > static_cast<std::uint8_t>(shard_filter_type::from_timestamp)) {
      return detail::invalid_argument("Invalid NextToken.");
    }
    if (t - timestamp(duration(issued)) > kNextTokenLifetime) {
      return error(error_code::expired_next_token_exception,
                   fmt::format("The NextToken has expired. Tokens expire {} seconds after they are issued.",
                               kNextTokenLifetime.count() / 1000));
    }
    filter = shard_filter{static_cast<shard_filter_type>(ftype), std::nullopt,
                          has_ts ? std::optional<timestamp>(timestamp(duration(fts))) : std::nullopt};
    resume_after = last;
  } else {
    if (!req.stream_name && !req.stream_arn) {
      return detail::invalid_argument("Either NextToken or StreamName should be provided.");
    }
    auto n = d.resolve(req.stream_name, req.stream_arn);
    if (!n) return n.error();
    name = std::move(*n);
    if (req.shard_filter) {
      const auto& f = *req.shard_filter;
      if (f.type == shard_filter_type::after_shard_id && !f.shard_id) {
        return detail::invalid_argument("ShardId must be supplied in a ShardFilter with a Type of AFTER_SHARD_ID.");
      }
      if ((f.type == shard_filter_type::at_timestamp || f.type == shard_filter_type::from_timestamp) && !f.timestamp) {
        return detail::invalid_argument(
            "Timestamp must be supplied in a ShardFilter with a Type of FROM_TIMESTAMP or AT_TIMESTAMP.");
      }
      if (f.shard_id && f.type != shard_filter_type::after_shard_id) {
        return detail::invalid_argument("ShardId can be supplied in a ShardFilter only with a Type of AFTER_SHARD_ID.");
      }
      if (f.type == shard_filter_type::after_shard_id && req.exclusive_start_shard_id) {
        return detail::invalid_argument(
            "ExclusiveStartShardId and a ShardFilter of Type AFTER_SHARD_ID cannot be provided together.");
      }
      if (f.type == shard_filter_type::after_shard_id) after.text = f.shard_id;
    }
  }

  auto s = d.find(name);
  if (!s) return s.error();
  if (auto admitted = d.enter("ListShards", name); !admitted) return admitted.error();
  const stream_state& st = **s;
  if (uid != 0 && st.uid != uid) return detail::stream_not_found(d.at(name));
  if (req.stream_creation_timestamp && *req.stream_creation_timestamp != st.created) {
    return detail::stream_not_found(d.at(name));
  }
  const std::size_t limit = std::min<std::size_t>(static_cast<std::size_t>(req.max_results.value_or(1000)), 1000);

  list_shards_result out;
  std::shared_lock lock(st.mu);
  const duration retention = st.retention();
  // The trim horizon as a time: records before it are gone. A younger stream's
  // horizon is when its first shards opened.
  const timestamp horizon = std::max(t - retention, st.activated_at.value_or(st.created));
  auto open_at = [](const shard_state& sh, timestamp when) {
    return sh.created_at <= when && (!sh.closed || sh.closed_at >= when);
  };
  auto keep = [&](const shard_state& sh) {
    switch (filter.type) {
      case shard_filter_type::after_shard_id:
      case shard_filter_type::from_trim_horizon: return true;
      case shard_filter_type::at_latest: return !sh.closed;
      case shard_filter_type::at_trim_horizon: return open_at(sh, horizon);
      case shard_filter_type::at_timestamp: return open_at(sh, std::max(*filter.timestamp, horizon));
      case shard_filter_type::from_timestamp: return !sh.closed || sh.closed_at >= std::max(*filter.timestamp, horizon);
    }
    return true;
  };
  std::optional<std::uint32_t> last;
  for (const auto& sh : st.shards) {
    if (!sh || sh->expired(t, retention)) continue;
    if (resume_after && sh->id.index() <= *resume_after) continue;
    if (!after.admits(sh->id)) continue;
    std::shared_lock sl(sh->mu);
    if (!keep(*sh)) continue;
    if (out.shards.size() == limit) {
      out.next_token = d.tokens.seal(detail::payload_writer()
                                         .u8(kListShardsToken)
                                         .i64(t.time_since_epoch().count())
                                         .str(st.name)
                                         .u64(st.uid)
                                         .u32(*last)
                                         .u8(static_cast<std::uint8_t>(filter.type))
                                         .u8(filter.timestamp ? 1 : 0)
                                         .i64(filter.timestamp ? filter.timestamp->time_since_epoch().count() : 0)
                                         .take());
      break;
    }
    out.shards.push_back(describe_shard(*sh));
    last = sh->id.index();
  }
  return out;
}

result<void> engine::impl::change_retention(const update_retention_period_request& req, bool increase) {
  auto call = begin_control(increase ? "IncreaseStreamRetentionPeriod" : "DecreaseStreamRetentionPeriod",
                            req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  const std::int32_t h = req.retention_period_hours;
  if (h < kMinRetentionHours) {
    return detail::invalid_argument(
        fmt::format("Minimum allowed retention period is {} hours. Requested retention period ({} hours) is too short.",
                    kMinRetentionHours, h));
  }
  if (h > kMaxRetentionHours) {
    return detail::invalid_argument(
        fmt::format("Maximum allowed retention period is {} hours. Requested retention period ({} hours) is too long.",
                    kMaxRetentionHours, h));
  }
  std::unique_lock lock(st.mu);
  if (increase && h < st.retention_hours) {
    return detail::invalid_argument(
        fmt::format("Requested retention period ({} hours) for stream {} can not be shorter than existing retention "
                    "period ({} hours). Use DecreaseRetentionPeriod API.",
                    h, st.name, st.retention_hours));
  }
  if (!increase && h > st.retention_hours) {
    return detail::invalid_argument(
        fmt::format("Requested retention period ({} hours) for stream {} can not be longer than existing retention "
                    "period ({} hours). Use IncreaseRetentionPeriod API.",
                    h, st.name, st.retention_hours));
  }
  const auto& cp = opt.control_plane;
  if (cp.enabled && cp.max_retention_changes_per_day > 0) {
    if (st.retention_changes.count(now(), std::chrono::hours(24)) >=
        static_cast<std::size_t>(cp.max_retention_changes_per_day)) {
      return error(error_code::limit_exceeded_exception,
                   fmt::format("Exceeded the limit of {} retention period changes per rolling 24 hours for stream {} "
                               "under account {}.",
                               cp.max_retention_changes_per_day, st.name, opt.account_id));
    }
    st.retention_changes.add(now());
  }
  st.retention_hours = h;
  return {};
}

result<void> engine::increase_stream_retention_period(const update_retention_period_request& req) {
  return impl_->change_retention(req, true);
}

result<void> engine::decrease_stream_retention_period(const update_retention_period_request& req) {
  return impl_->change_retention(req, false);
}

result<void> engine::add_tags_to_stream(const add_tags_to_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.tags.empty()) v.length_at_least(map_repr(req.tags), "tags", 1);
  if (req.tags.size() > kMaxTagsPerCall) v.length_at_most(map_repr(req.tags), "tags", kMaxTagsPerCall);
  if (!v.ok()) return v.error();
  auto call = d.begin_control("AddTagsToStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  if (auto e = validate_tag_map(req.tags, "add", d.at(st.name))) return *e;
  std::unique_lock lock(st.mu);
  std::size_t total = st.tags.size();
  for (const auto& [k, val] : req.tags) total += st.tags.contains(k) ? 0 : 1;
  if (total > kMaxTagsPerStream) return too_many_tags(d.at(st.name));
  for (const auto& [k, val] : req.tags) st.tags[k] = val;
  return {};
}

result<void> engine::remove_tags_from_stream(const remove_tags_from_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.tag_keys.empty()) v.length_at_least(list_repr(req.tag_keys), "tagKeys", 1);
  if (req.tag_keys.size() > 50) v.length_at_most(list_repr(req.tag_keys), "tagKeys", 50);
  for (const auto& k : req.tag_keys) {
    if (k.empty() || detail::utf16_length(k) > 128) {
      v.fail(list_repr(req.tag_keys), "tagKeys",
             "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have "
             "length greater than or equal to 1]");
      break;
    }
  }
  if (!v.ok()) return v.error();
  auto call = d.begin_control("RemoveTagsFromStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::map<std::string, std::string> as_map;
  for (const auto& k : req.tag_keys) as_map.emplace(k, "");
  if (auto e = validate_tag_map(as_map, "remove", d.at(st.name))) return *e;
  std::unique_lock lock(st.mu);
  for (const auto& k : req.tag_keys) st.tags.erase(k);
  return {};
}

result<list_tags_for_stream_result> engine::list_tags_for_stream(const list_tags_for_stream_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > 50) v.value_at_most(*req.limit, "limit", 50);
  if (!v.ok()) return v.error();
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("ListTagsForStream", (*s)->name); !admitted) return admitted.error();
  const auto& st = **s;
  const std::size_t limit = static_cast<std::size_t>(req.limit.value_or(50));
  list_tags_for_stream_result out;
  std::shared_lock lock(st.mu);
  auto it = req.exclusive_start_tag_key ? st.tags.upper_bound(*req.exclusive_start_tag_key) : st.tags.begin();
  for (; it != st.tags.end() && out.tags.size() < limit; ++it) out.tags.push_back({it->first, it->second});
  out.has_more_tags = it != st.tags.end();
  return out;
}

// --- resharding --------------------------------------------------------------

namespace {

error provisioned_only(std::string_view op) {
  return {error_code::validation_exception,
          fmt::format("{} is only supported for data streams with the provisioned capacity mode.", op)};
}

// Resharding needs an ACTIVE, PROVISIONED stream. Caller holds st.mu.
std::optional<error> reshardable(const stream_state& st, std::string_view op, detail::where w) {
  if (st.status != stream_status::active) return detail::stream_not_active(w, st.status);
  if (st.mode == stream_mode::on_demand) return provisioned_only(op);
  return std::nullopt;
}

error not_eligible(detail::where w, shard_id id, std::string_view what) {
  return {error_code::resource_in_use_exception,
          fmt::format("Shard {} in stream {} under account {} has already been merged or split, and thus is not "
                      "eligible for {}.",
                      id.to_string(), w.stream, w.account, what)};
}

}  // namespace

result<void> engine::split_shard(const split_shard_request& req) {
  auto& d = *impl_;
  validation v;
  validate_shard_id_input(v, req.shard_to_split, "shardToSplit");
  if (!detail::is_decimal(req.new_starting_hash_key, 39)) {
    v.pattern(req.new_starting_hash_key, "newStartingHashKey", detail::kHashKeyPattern);
  }
  if (!v.ok()) return v.error();
  auto call = d.begin_control("SplitShard", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = std::move(call->stream);
  auto& st = *stream;
  const auto w = d.at(st.name);
  // Before the stream lock: it takes streams_mu, which comes first in the lock order.
  const std::int64_t current = d.open_shard_total();
  std::unique_lock lock(st.mu);
  if (auto e = reshardable(st, "SplitShard", w)) return *e;
  shard_state* found = st.live_shard(shard_id::parse(req.shard_to_split), d.now());
  if (!found) return detail::shard_not_found(w, req.shard_to_split);
  shard_state& parent = *found;
  if (parent.closed) return not_eligible(w, parent.id, "splitting");
  auto key = hash_key::parse(req.new_starting_hash_key);
  // The key must leave at least two hash keys in the lower child (AWS's rule).
  if (!key || key->value() <= parent.start.value() + 1 || *key >= parent.end) {
    return detail::invalid_argument(fmt::format(
        "NewStartingHashKey {} used in SplitShard() on shard {} in stream {} under account {} is not both greater "
        "than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
        req.new_starting_hash_key, parent.id.to_string(), st.name, d.opt.account_id, parent.start.to_string(),
        parent.end.to_string()));
  }
  if (current + 1 > d.opt.shard_limit) {
    return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, current, d.opt.shard_limit, 1);
  }
  const hash_key at = *key;
  const shard_id pid = parent.id;
  logger()->info("SplitShard {} of stream {} at {}", pid.to_string(), st.name, at.to_string());
  d.begin_update(stream, [&d, &st, pid, at] {
    auto& p = *st.shards[pid.index()];
    if (!p.closed) d.split(st, p, at, d.now());
  });
  return {};
}

result<void> engine::merge_shards(const merge_shards_request& req) {
  auto& d = *impl_;
  validation v;
  validate_shard_id_input(v, req.shard_to_merge, "shardToMerge");
  validate_shard_id_input(v, req.adjacent_shard_to_merge, "adjacentShardToMerge");
  if (!v.ok()) return v.error();
  auto call = d.begin_control("MergeShards", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = std::move(call->stream);
  auto& st = *stream;
  const auto w = d.at(st.name);
  std::unique_lock lock(st.mu);
  if (auto e = reshardable(st, "MergeShards", w)) return *e;
  const timestamp t = d.now();
  shard_state* a = st.live_shard(shard_id::parse(req.shard_to_merge), t);
  if (!a) return detail::shard_not_found(w, req.shard_to_merge);
  shard_state* b = st.live_shard(shard_id::parse(req.adjacent_shard_to_merge), t);
  if (!b) return detail::shard_not_found(w, req.adjacent_shard_to_merge);
  if (a->closed) return not_eligible(w, a->id, "merging");
  if (b->closed) return not_eligible(w, b->id, "merging");
  if (a == b || a->end == hash_key::max() || hash_key(a->end.value() + 1) != b->start) {
    return detail::invalid_argument(
        fmt::format("Shards {} and {} in stream {} under account {} are not an adjacent pair of shards eligible for "
                    "merging",
                    a->id.to_string(), b->id.to_string(), st.name, d.opt.account_id));
  }
  const shard_id lo = a->id;
  const shard_id hi = b->id;
  d.begin_update(stream, [&d, &st, lo, hi] {
    auto& x = *st.shards[lo.index()];
    auto& y = *st.shards[hi.index()];
    if (!x.closed && !y.closed) d.merge(st, x, y, d.now());
  });
  return {};
}

result<update_shard_count_result> engine::update_shard_count(const update_shard_count_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.target_shard_count < 1) v.value_at_least(req.target_shard_count, "targetShardCount", 1);
  if (req.target_shard_count > 100000) v.value_at_most(req.target_shard_count, "targetShardCount", 100000);
  if (!v.ok()) return v.error();
  auto call = d.begin_control("UpdateShardCount", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = std::move(call->stream);
  auto& st = *stream;
  const auto w = d.at(st.name);
  // Before the stream lock: it takes streams_mu, which comes first in the lock order.
  const std::int64_t total = d.open_shard_total();
  std::unique_lock lock(st.mu);
  if (auto e = reshardable(st, "UpdateShardCount", w)) return *e;
  const auto current = static_cast<std::int32_t>(st.open.size());
  const std::int32_t target = req.target_shard_count;
  if (target > 2 * current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale up over double your current open shard count. Current "
                             "open shard count: {}, Target shard count: {}",
                             current, target));
  }
  if (2 * target < current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale down below half your current open shard count. Current "
                             "open shard count: {}, Target shard count: {}",
                             current, target));
  }
  if (target > 10000 && target > current) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("UpdateShardCount cannot scale a stream beyond 10000 shards. Current open shard count: "
                             "{}, Target shard count: {}",
                             current, target));
  }
  const auto& cp = d.opt.control_plane;
  if (cp.enabled &&
      st.scalings.count(d.now(), std::chrono::hours(24)) >= static_cast<std::size_t>(cp.max_scalings_per_day)) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("Exceeded the limit of {} UpdateShardCount calls per rolling 24 hours for stream {} under "
                             "account {}. The next call is allowed at {}.",
                             cp.max_scalings_per_day, st.name, d.opt.account_id,
                             detail::java_date(st.scalings.next_free(std::chrono::hours(24)))));
  }
  // Splits come first, then merges: the peak is current + number of splits.
  const auto starts = uniform_starts(static_cast<std::uint32_t>(target));
  std::int64_t splits = 0;
  {
    std::size_t oi = 0;
    for (std::size_t i = 1; i < starts.size(); ++i) {
      while (oi < st.open.size() && st.open[oi]->end < starts[i]) ++oi;
      if (oi < st.open.size() && st.open[oi]->start < starts[i]) ++splits;
    }
  }
  if (total + splits > d.opt.shard_limit) {
    return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, total, d.opt.shard_limit, splits);
  }
  if (cp.enabled) st.scalings.add(d.now());
  logger()->info("UpdateShardCount on stream {}: {} -> {} open shards", st.name, current, target);
  d.begin_update(stream, [&d, &st, starts] {
    const timestamp now = d.now();
    // 1. Split every open shard that a target boundary cuts.
    for (std::size_t i = 1; i < starts.size(); ++i) {
      for (auto* sh : st.open) {
        if (sh->start < starts[i] && starts[i] <= sh->end) {
          d.split(st, *sh, starts[i], now);
          break;
        }
      }
    }
    // 2. Merge, left to right, the shards inside each target range.
    for (std::size_t i = 0; i < starts.size(); ++i) {
      const hash_key lo = starts[i];
      const hash_key hi = i + 1 < starts.size() ? hash_key(starts[i + 1].value() - 1) : hash_key::max();
      for (;;) {
        auto first = std::find_if(st.open.begin(), st.open.end(), [&](shard_state* sh) { return sh->start == lo; });
        assert(first != st.open.end());
        if ((*first)->end == hi) break;
        d.merge(st, **first, **(first + 1), now);
      }
    }
  });
  return update_shard_count_result{st.name, st.arn, current, target};
}

result<void> engine::update_stream_mode(const update_stream_mode_request& req) {
  auto& d = *impl_;
  if (req.stream_arn.empty()) {
    validation v;
    v.length_at_least(req.stream_arn, "streamARN", 1);
    return v.error();
  }
  auto call = d.begin_control("UpdateStreamMode", std::nullopt, req.stream_arn);
  if (!call) return call.error();
  auto stream = std::move(call->stream);
  auto& st = *stream;
  const auto w = d.at(st.name);
  const stream_mode mode = req.stream_mode_details.stream_mode;
  if (mode == stream_mode::on_demand) {
    // Before the stream lock: it takes streams_mu, which comes first in the lock order.
    if (auto quota = d.check_on_demand_quota(); !quota) return quota.error();
  }
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(w, st.status);
  if (st.mode == mode) {
    return detail::invalid_argument(
        fmt::format("Stream {} under account {} is already in {} mode.", st.name, d.opt.account_id, to_string(mode)));
  }

  const auto& cp = d.opt.control_plane;
  if (cp.enabled) {
    if (st.mode_switches.count(d.now(), std::chrono::hours(24)) >=
        static_cast<std::size_t>(cp.max_mode_switches_per_day)) {
      return error(error_code::limit_exceeded_exception,
                   fmt::format("Exceeded the limit of {} capacity mode switches per rolling 24 hours for stream {} "
                               "under account {}.",
                               cp.max_mode_switches_per_day, st.name, d.opt.account_id));
    }
    st.mode_switches.add(d.now());
  }
  d.begin_update(stream, [&st, mode] { st.mode = mode; });
  return {};
}

result<enhanced_monitoring_result> engine::impl::change_monitoring(const enhanced_monitoring_request& req,
                                                                   bool enable) {
  auto& d = *this;
  validation v;
  if (req.shard_level_metrics.empty()) v.length_at_least(list_repr(req.shard_level_metrics), "shardLevelMetrics", 1);
  if (req.shard_level_metrics.size() > 7) v.length_at_most(list_repr(req.shard_level_metrics), "shardLevelMetrics", 7);
  for (const auto& m : req.shard_level_metrics) {
    if (m != "ALL" && !detail::shard_metric_named(m)) {
      v.fail(list_repr(req.shard_level_metrics), "shardLevelMetrics",
             "Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, OutgoingRecords, "
             "IteratorAgeMilliseconds, IncomingRecords, ReadProvisionedThroughputExceeded, "
             "WriteProvisionedThroughputExceeded, OutgoingBytes, ALL]]");
      break;
    }
  }
  if (!v.ok()) return v.error();
  auto call = d.begin_control(enable ? "EnableEnhancedMonitoring" : "DisableEnhancedMonitoring", req.stream_name,
                              req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(d.at(st.name), st.status);
  enhanced_monitoring_result out;
  out.stream_name = st.name;
  out.stream_arn = st.arn;
  out.current_shard_level_metrics.assign(st.shard_level_metrics.begin(), st.shard_level_metrics.end());
  for (const auto& m : req.shard_level_metrics) {
    if (m == "ALL") {
      for (std::size_t i = 0; i < detail::kShardMetrics; ++i) {
        const std::string_view name = detail::info(static_cast<detail::shard_metric>(i)).name;
        if (enable) {
          st.shard_level_metrics.emplace(name);
        } else {
          st.shard_level_metrics.erase(std::string(name));
        }
      }
    } else if (enable) {
      st.shard_level_metrics.insert(m);
    } else {
      st.shard_level_metrics.erase(m);
    }
  }
  out.desired_shard_level_metrics.assign(st.shard_level_metrics.begin(), st.shard_level_metrics.end());
  st.shard_metric_mask = 0;
  for (const auto& name : st.shard_level_metrics) {
    if (auto m = detail::shard_metric_named(name)) st.shard_metric_mask |= 1U << static_cast<unsigned>(*m);
  }
  return out;
}

result<enhanced_monitoring_result> engine::enable_enhanced_monitoring(const enhanced_monitoring_request& req) {
  return impl_->change_monitoring(req, true);
}

result<enhanced_monitoring_result> engine::disable_enhanced_monitoring(const enhanced_monitoring_request& req) {
  return impl_->change_monitoring(req, false);
}

result<describe_limits_result> engine::describe_limits() {
  auto& d = *impl_;
  if (auto admitted = d.enter("DescribeLimits", ""); !admitted) return admitted.error();
  std::lock_guard control(d.control_mu);
  describe_limits_result out;
  out.shard_limit = d.opt.shard_limit;
  out.open_shard_count = static_cast<std::int32_t>(d.open_shard_total());
  out.on_demand_stream_count_limit = d.opt.on_demand_stream_count_limit;
  out.on_demand_stream_count = d.on_demand_stream_total();
  return out;
}

}  // namespace rill

namespace rill {

// --- call prologue: control-plane rates and injected faults -----------------

result<void> engine::impl::enter(std::string_view op, std::string_view stream) {
  const auto& cp = opt.control_plane;
  if (cp.enabled) {
    auto rate = cp.operations_per_second.find(op);
    if (rate != cp.operations_per_second.end()) {
      const timestamp t = now();
      std::lock_guard lock(control_rate_mu);
      auto bucket = control_rates.find(op);
      if (bucket == control_rates.end()) {
        const std::int64_t r = std::max<std::int32_t>(1, rate->second);
        bucket = control_rates.emplace(std::string(op), detail::token_bucket(r, r, t)).first;
      }
      if (!bucket->second.try_take(1, t)) {
        return error(error_code::limit_exceeded_exception,
                     stream.empty()
                         ? fmt::format("Rate exceeded for account {}.", opt.account_id)
                         : fmt::format("Rate exceeded for stream {} under account {}.", stream, opt.account_id));
      }
    }
  }
  if (!faults.active()) return {};
  auto outcome = faults.on_call(op, stream);
  if (outcome.delay > duration::zero()) {
    logger()->debug("fault plan: delaying {} on {} by {} ms", op, stream, outcome.delay.count());
    wait_until(now() + outcome.delay);
  }
  if (outcome.fail) {
    logger()->debug("fault plan: failing {} on {} with {}", op, stream, to_string(*outcome.fail));
    if (*outcome.fail == error_code::provisioned_throughput_exceeded_exception) {
      return error(*outcome.fail, fmt::format("Rate exceeded for stream {} under account {}.", stream, opt.account_id));
    }
    if (*outcome.fail == error_code::internal_failure) return detail::internal_failure("Internal Service Failure");
    return error(*outcome.fail, fmt::format("Injected {} for {} on stream {}.", to_string(*outcome.fail), op, stream));
  }
  return {};
}

void engine::impl::wait_until(timestamp t) {
  if (now() >= t) return;
  struct waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  auto w = std::make_shared<waiter>();
  sched->call_at(t, [w] {
    std::lock_guard lock(w->mu);
    w->done = true;
    w->cv.notify_all();
  });
  std::unique_lock lock(w->mu);
  w->cv.wait(lock, [&] { return w->done; });
}

// --- on-demand scaling -------------------------------------------------------

void engine::impl::scale_on_demand() {
  const auto& od = opt.on_demand;
  std::lock_guard control(control_mu);
  const timestamp t = now();
  const std::int64_t this_minute = detail::minute_of(t);
  const std::int64_t minutes = std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::minutes>(od.sustain).count());
  std::vector<std::shared_ptr<stream_state>> all;
  {
    std::shared_lock lock(streams_mu);
    for (auto& [n, s] : streams) all.push_back(s);
  }
  for (auto& s : all) {
    std::unique_lock lock(s->mu);
    if (s->mode != stream_mode::on_demand || s->status != stream_status::active) continue;
    const double bytes_cap = static_cast<double>(s->limits.write_bytes_per_second) * 60.0 * od.split_threshold;
    const double records_cap = static_cast<double>(s->limits.write_records_per_second) * 60.0 * od.split_threshold;
    std::vector<shard_state*> hot;
    for (auto* sh : s->open) {
      // A shard qualifies once it has lived through `sustain` whole minutes,
      // every one of them above the threshold.
      if (sh->created_at > t - std::chrono::minutes(minutes + 1)) continue;
      std::shared_lock sl(sh->mu);
      bool all_hot = true;
      for (std::int64_t m = this_minute - minutes; m < this_minute && all_hot; ++m) {
        auto [bytes, records] = sh->written_in(m);
        all_hot = static_cast<double>(bytes) > bytes_cap || static_cast<double>(records) > records_cap;
      }
      if (all_hot) hot.push_back(sh);
    }
    for (auto* sh : hot) {
      if (static_cast<std::int32_t>(s->open.size()) >= od.max_shards) break;
      const auto lo = sh->start.value();
      const auto hi = sh->end.value();
      if (hi - lo < 3) continue;
      const hash_key at(lo + (hi - lo) / 2 + 1);
      logger()->info("on-demand stream {}: splitting hot shard {} at {}", s->name, sh->id.to_string(), at.to_string());
      split(*s, *sh, at, t);
    }
  }
}

void engine::impl::schedule_on_demand() {
  if (!opt.on_demand.enabled || opt.on_demand.evaluation_interval <= duration::zero()) return;
  sched->call_at(now() + opt.on_demand.evaluation_interval, [this] {
    scale_on_demand();
    schedule_on_demand();
  });
}

// --- extensions --------------------------------------------------------------

result<void> engine::set_stream_throughput(const std::string& stream_name, const throughput_limits& limits) {
  auto& d = *impl_;
  validation v;
  auto check = [&](std::int64_t value, std::string_view member) {
    if (value < 1) v.value_at_least(value, member, 1);
  };
  check(limits.write_bytes_per_second, "writeBytesPerSecond");
  check(limits.write_records_per_second, "writeRecordsPerSecond");
  check(limits.read_calls_per_second, "readCallsPerSecond");
  check(limits.read_bytes_per_second, "readBytesPerSecond");
  check(limits.large_read_bytes, "largeReadBytes");
  check(limits.get_shard_iterator_per_second, "getShardIteratorPerSecond");
  if (!v.ok()) return v.error();
  std::lock_guard control(d.control_mu);
  auto s = d.find(stream_name);
  if (!s) return s.error();
  auto& st = **s;
  std::unique_lock lock(st.mu);
  st.limits = limits;
  const timestamp t = d.now();
  for (auto& sh : st.shards) {
    if (!sh) continue;
    std::unique_lock sl(sh->mu);
    sh->arm(limits, t);
  }
  return {};
}

void engine::set_fault_plan(fault_plan plan) { impl_->faults.install(std::move(plan)); }

result<get_metric_statistics_result> engine::get_metric_statistics(const get_metric_statistics_request& req) const {
  auto& d = *impl_;
  auto s = d.find(req.stream_name);
  if (!s) return s.error();
  const stream_state& st = **s;
  get_metric_statistics_result out;
  out.label = req.metric_name;
  if (req.shard_id) {
    auto m = detail::shard_metric_named(req.metric_name);
    if (!m) {
      return detail::invalid_argument(fmt::format("{} is not a shard-level Kinesis metric.", req.metric_name));
    }
    auto id = shard_id::parse(*req.shard_id);
    if (!id) return detail::shard_not_found(d.at(st.name), *req.shard_id);
    out.unit = std::string(detail::info(*m).unit);
    std::lock_guard lock(st.metrics.mu);
    auto it = st.metrics.shards.find(id->index());
    if (it != st.metrics.shards.end()) {
      it->second.collect(static_cast<std::size_t>(*m), req.start_time, req.end_time, out.datapoints);
    }
    return out;
  }
  auto m = detail::stream_metric_named(req.metric_name);
  if (!m) return detail::invalid_argument(fmt::format("{} is not a stream-level Kinesis metric.", req.metric_name));
  out.unit = std::string(detail::info(*m).unit);
  std::lock_guard lock(st.metrics.mu);
  st.metrics.stream.collect(static_cast<std::size_t>(*m), req.start_time, req.end_time, out.datapoints);
  return out;
}

namespace {

nlohmann::json datapoints_json(const std::vector<metric_datapoint>& points) {
  auto arr = nlohmann::json::array();
  for (const auto& p : points) {
    arr.push_back({{"Timestamp", detail::iso8601(p.timestamp)},
                   {"Sum", p.sum},
                   {"Minimum", p.minimum},
                   {"Maximum", p.maximum},
                   {"SampleCount", p.sample_count},
                   {"Average", p.average()}});
  }
  return arr;
}

}  // namespace

std::string engine::metrics_json() const {
  auto& d = *impl_;
  nlohmann::json metrics = nlohmann::json::array();
  std::vector<std::shared_ptr<stream_state>> all;
  {
    std::shared_lock lock(d.streams_mu);
    for (auto& [n, s] : d.streams) all.push_back(s);
  }
  const timestamp from = timestamp::min();
  const timestamp to = timestamp::max();
  for (const auto& s : all) {
    std::lock_guard lock(s->metrics.mu);
    for (std::size_t m = 0; m < detail::kStreamMetrics; ++m) {
      std::vector<metric_datapoint> points;
      s->metrics.stream.collect(m, from, to, points);
      if (points.empty()) continue;
      const auto& inf = detail::info(static_cast<detail::stream_metric>(m));
      metrics.push_back({{"MetricName", inf.name},
                         {"Dimensions", {{{"Name", "StreamName"}, {"Value", s->name}}}},
                         {"Unit", inf.unit},
                         {"Datapoints", datapoints_json(points)}});
    }
    std::vector<std::uint32_t> shard_ids;
    for (const auto& [id, series] : s->metrics.shards) shard_ids.push_back(id);
    std::sort(shard_ids.begin(), shard_ids.end());
    for (auto id : shard_ids) {
      const auto& series = s->metrics.shards.at(id);
      for (std::size_t m = 0; m < detail::kShardMetrics; ++m) {
        std::vector<metric_datapoint> points;
        series.collect(m, from, to, points);
        if (points.empty()) continue;
        const auto& inf = detail::info(static_cast<detail::shard_metric>(m));
        metrics.push_back({{"MetricName", inf.name},
                           {"Dimensions",
                            {{{"Name", "StreamName"}, {"Value", s->name}},
                             {{"Name", "ShardId"}, {"Value", shard_id(id).to_string()}}}},
                           {"Unit", inf.unit},
                           {"Datapoints", datapoints_json(points)}});
      }
    }
  }
  // The components' metrics (producer, consumer, delivery, server), each with its namespace.
  return nlohmann::json{{"Namespace", "AWS/Kinesis"},
                        {"Metrics", metrics},
                        {"Components", nlohmann::json::parse(d.registry->to_json())}}
      .dump(2);
}

}  // namespace rill
