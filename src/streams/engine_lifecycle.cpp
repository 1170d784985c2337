// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Stream lifecycle: create, delete, activate and remove streams; list and
// describe streams and shards.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "rill/logging.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::kMaxTagsPerStream;
using detail::map_repr;
using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::too_many_tags;
using detail::uniform_starts;
using detail::validate_shard_id_input;
using detail::validate_stream_name;
using detail::validate_tag_map;
using detail::validation;

namespace {

constexpr std::int32_t kOnDemandInitialShards = 4;
constexpr duration kNextTokenLifetime = std::chrono::seconds(300);

constexpr std::uint8_t kListShardsToken = 2;
constexpr std::uint8_t kListStreamsToken = 3;

// Shard ids after which a listing starts: an input that parses names an index;
// one that does not is compared as text with the canonical ids.
struct start_after {
  std::optional<std::string> text;
  [[nodiscard]] bool admits(shard_id id) const {
    if (!text) return true;
    if (auto parsed = shard_id::parse(*text)) return id.index() > parsed->index();
    return id.to_string() > *text;
  }
  /// The first index among [0, size) that admits() admits (size if none):
  /// admits() is monotone in the index, since canonical ids have a fixed width.
  [[nodiscard]] std::size_t first_index(std::size_t size) const {
    if (!text) return 0;
    if (auto parsed = shard_id::parse(*text)) return std::min<std::size_t>(size, std::size_t{parsed->index()} + 1);
    std::size_t lo = 0;
    std::size_t hi = size;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (admits(shard_id(static_cast<std::uint32_t>(mid)))) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
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
  out.max_record_size_in_kib = st.max_record_kib.load();
}

}  // namespace

void engine::impl::activate(stream_state& s) {
  const timestamp t = now();
  const auto starts = uniform_starts(static_cast<std::uint32_t>(s.initial_shards));
  const std::uint64_t create_s = claim_create_seconds(seconds_of(t));
  for (std::size_t i = 0; i < starts.size(); ++i) {
    hash_key end = i + 1 < starts.size() ? hash_key(starts[i + 1].value() - 1) : hash_key::max();
    s.open.push_back(add_shard(s, starts[i], end, std::nullopt, std::nullopt, create_s, t));
  }
  s.index_open();
  s.status = stream_status::active;
  s.activated_at = t;
}

result<void> engine::impl::remove_stream(const std::shared_ptr<stream_state>& s, bool durable) {
  if (durable) {
    std::shared_lock lock(s->mu);
    if (auto r = persist_erase(*s); !r) return r;  // the manifest forgets it before its files go
  }
  {
    std::unique_lock streams_lock(streams_mu);
    auto it = streams.find(s->name);
    if (it == streams.end() || it->second != s) return {};
    streams.erase(it);
    by_name.erase(s->name);
  }
  std::vector<std::shared_ptr<shard_state>> shards;
  {
    std::unique_lock lock(s->mu);  // waits for in-flight puts and reads
    // The shards leave the stream before their logs are removed: a read that
    // still holds the stream finds no shard rather than a removed log, and the
    // trimmer finds nothing to trim or remove again.
    shards.swap(s->shards);
    s->open.clear();
    s->open_starts.clear();
    s->released_prefix = 0;
    s->status = stream_status::deleting;
    s->removed = true;
  }
  recount(s);
  for (auto& sh : shards) {
    if (sh) storage->remove_log({s->name, s->uid, sh->id});
  }
  return {};
}

// --- control plane -----------------------------------------------------------

result<void> engine::create_stream(const create_stream_request& req) {
  auto& d = *impl_;
  validation v;
  const stream_mode mode = req.stream_mode_details ? req.stream_mode_details->stream_mode : stream_mode::provisioned;
  // ShardCount's model range applies in every mode (ON_DEMAND ignores a valid one).
  if (req.shard_count && *req.shard_count < 1) {
    v.value_at_least(*req.shard_count, "shardCount", 1);
  } else if (req.shard_count && *req.shard_count > 100000) {
    v.value_at_most(*req.shard_count, "shardCount", 100000);
  } else if (!req.shard_count && mode == stream_mode::provisioned) {
    v.fail_null("shardCount");
  }
  if (mode != stream_mode::provisioned && mode != stream_mode::on_demand) {
    v.enum_value(static_cast<unsigned>(mode), "streamModeDetails.streamMode", detail::kStreamModeSet);
  }
  if (req.tags.size() > 200) v.length_at_most(map_repr(req.tags), "tags", 200);
  if (req.max_record_size_in_kib) validate_max_record_kib(v, *req.max_record_size_in_kib);
  validate_stream_name(v, req.stream_name, "streamName");  // last, as AWS lists it
  if (!v.ok()) return v.error();
  const auto w = d.at(req.stream_name);
  if (auto e = validate_tag_map(req.tags, "add", w)) return *e;
  if (req.tags.size() > kMaxTagsPerStream) return too_many_tags(w);

  const std::int32_t shards = mode == stream_mode::on_demand ? kOnDemandInitialShards : *req.shard_count;
  if (auto range = d.check_clock_range(d.now()); !range) return range.error();
  if (auto admitted = d.enter("CreateStream", req.stream_name); !admitted) return admitted.error();
  std::lock_guard control(d.control_mu);
  if (d.find(req.stream_name)) return detail::stream_in_use_exists(w);
  const std::int64_t current = d.open_shard_total();
  if (mode == stream_mode::provisioned && d.committed_shard_total() + shards > d.opt.shard_limit) {
    return detail::shard_limit_exceeded(d.opt.account_id, d.opt.region, current, d.opt.shard_limit, shards);
  }
  if (d.opt.control_plane.enabled) {
    if (d.creating_streams >= d.opt.control_plane.max_creating_streams &&
        d.enforce("CREATING streams", req.stream_name)) {
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
  s->max_record_kib = req.max_record_size_in_kib.value_or(detail::kDefaultMaxRecordKiB);
  s->initial_shards = shards;
  s->limits = d.opt.throughput;
  {
    std::unique_lock lock(d.streams_mu);
    d.streams.emplace(s->name, s);
    d.by_name.emplace(s->name, s);
  }
  d.recount(s);
  logger()->debug("created stream {} ({} shards, {})", s->name, shards, to_string(mode));
  if (d.opt.create_stream_delay <= duration::zero()) {
    result<void> saved;
    {
      std::unique_lock lock(s->mu);
      d.activate(*s);
      saved = d.persist_locked(*s);
    }
    if (!saved) {  // not durable: the stream is not created
      (void)d.remove_stream(s, false);
      return saved.error();
    }
    d.recount(s);
    return {};
  }
  result<void> saved;
  {
    std::shared_lock lock(s->mu);
    saved = d.persist_locked(*s);
  }
  if (!saved) {
    (void)d.remove_stream(s, false);
    return saved.error();
  }
  std::weak_ptr<stream_state> weak = s;
  d.sched->call_at(d.now() + d.opt.create_stream_delay, [&d, weak] {
    auto st = weak.lock();
    if (!st) return;
    std::lock_guard stream_control(st->control_mu);
    std::lock_guard control(d.control_mu);
    {
      std::unique_lock lock(st->mu);
      if (st->status == stream_status::creating) d.activate(*st);
      (void)d.persist_locked(*st);  // logged; retried by the stream's next change
    }
    d.recount(st);
  });
  return {};
}

result<void> engine::delete_stream(const delete_stream_request& req) {
  auto& d = *impl_;
  auto call = d.begin_control("DeleteStream", req.stream_name, req.stream_arn);
  if (!call) return call.error();
  auto stream = call->stream;  // a copy: the call keeps the stream alive until its locks are released
  if (auto consumers = d.fanout.on_delete_stream(*stream, req.enforce_consumer_deletion); !consumers) return consumers;
  logger()->debug("deleting stream {}", stream->name);
  if (d.opt.delete_stream_delay <= duration::zero()) {
    call->persisted.d = nullptr;
    return d.remove_stream(stream);
  }
  {
    std::unique_lock lock(stream->mu);
    if (stream->status == stream_status::deleting) return {};
    stream->status = stream_status::deleting;
    stream->on_updated = nullptr;
  }
  d.recount(stream);
  if (auto r = d.finish(*call, stream); !r) return r;
  std::weak_ptr<stream_state> weak = stream;
  d.sched->call_at(d.now() + d.opt.delete_stream_delay, [&d, weak] {
    auto st = weak.lock();
    if (!st) return;
    std::lock_guard stream_control(st->control_mu);
    std::lock_guard control(d.control_mu);
    (void)d.remove_stream(st);  // on failure it stays DELETING (logged)
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
    if (detail::token_expired(issued, t, kNextTokenLifetime)) {
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
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
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
  const timestamp horizon = st.horizon(t);
  for (std::size_t i = std::max(st.released_prefix, after.first_index(st.shards.size())); i < st.shards.size(); ++i) {
    const auto& sh = st.shards[i];
    if (!sh || sh->expired(horizon)) continue;
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
  validation v;
  detail::validate_stream_id(v, req.stream_id);
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter("DescribeStreamSummary", (*s)->name); !admitted) return admitted.error();
  const stream_state& st = **s;
  describe_stream_summary_result out;
  auto& sum = out.stream_description_summary;
  std::shared_lock lock(st.mu);
  describe_common(sum, st);
  sum.open_shard_count = static_cast<std::int32_t>(st.open.size());
  sum.consumer_count = d.fanout.consumer_count(st.uid);
  return out;
}

result<list_shards_result> engine::list_shards(const list_shards_request& req) {
  auto& d = *impl_;
  const timestamp t = d.now();
  validation v;
  if (req.max_results && *req.max_results < 1) v.value_at_least(*req.max_results, "maxResults", 1);
  if (req.max_results && *req.max_results > 10000) v.value_at_most(*req.max_results, "maxResults", 10000);
  if (req.exclusive_start_shard_id) validate_shard_id_input(v, *req.exclusive_start_shard_id, "exclusiveStartShardId");
  if (req.shard_filter && req.shard_filter->type > shard_filter_type::from_timestamp) {
    v.enum_value(static_cast<unsigned>(req.shard_filter->type), "shardFilter.type", detail::kShardFilterTypeSet);
  }
  if (req.shard_filter && req.shard_filter->shard_id) {
    validate_shard_id_input(v, *req.shard_filter->shard_id, "shardFilter.shardId");
  }
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
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
    if (detail::token_expired(issued, t, kNextTokenLifetime)) {
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
  const timestamp expiry = st.horizon(t);
  // The trim horizon as a time: records before it are gone. A younger stream's
  // horizon is when its first shards opened.
  const timestamp horizon = std::max(expiry, st.activated_at.value_or(st.created));
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
  std::size_t first = std::max(st.released_prefix, after.first_index(st.shards.size()));
  if (resume_after) first = std::max<std::size_t>(first, std::size_t{*resume_after} + 1);
  for (std::size_t i = first; i < st.shards.size(); ++i) {
    const auto& sh = st.shards[i];
    if (!sh || sh->expired(expiry)) continue;
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

// --- large records ----------------------------------------------------------------

result<void> engine::update_max_record_size(const update_max_record_size_request& req) {
  auto& d = *impl_;
  validation v;
  validate_max_record_kib(v, req.max_record_size_in_kib);
  detail::validate_stream_id(v, req.stream_id);
  engine::impl::validate_ref(v, std::nullopt, req.stream_arn);
  if (!v.ok()) return v.error();
  auto call = d.begin_control("UpdateMaxRecordSize", std::nullopt, req.stream_arn);
  if (!call) return call.error();
  auto& st = *call->stream;
  std::unique_lock lock(st.mu);
  if (st.status != stream_status::active) return detail::stream_not_active(d.at(st.name), st.status);
  st.max_record_kib = req.max_record_size_in_kib;
  logger()->info("stream {}: MaxRecordSizeInKiB {}", st.name, req.max_record_size_in_kib);
  lock.unlock();
  return d.finish(*call, call->stream);  // InternalFailure if not durable (then not made)
}

}  // namespace rill
