// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The data plane: put_record, put_records, get_shard_iterator, get_records.
//
// A put validates everything first (a request that fails as a whole appends
// nothing), hashes the partition keys with no lock held, then takes the stream
// lock shared (so a reshard waits for it), routes each entry to the open shard
// whose range holds its hash, and appends each shard's entries in one batch
// under that shard's own lock. Sequence numbers come from log offsets.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "common/md5.hpp"
#include "common/md5_batch.hpp"
#include "common/record_buffer.hpp"
#include "streams/engine_impl.hpp"
#include "streams/engine_shared.hpp"

namespace rill {

using detail::seconds_of;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

namespace {

// Data plus partition key: the model's bound (MaxRecordSizeInKiB at most
// 10240) before the stream is known; the stream's own bound after.
constexpr std::size_t kModelMaxRecordBytes = 10 << 20;
constexpr std::size_t kMaxPutRecordsBytes = 5 << 20;        // whole request
constexpr std::size_t kMaxLargePutRecordsBytes = 10 << 20;  // whole request, streams of large records
constexpr std::size_t kMaxPutRecordsEntries = 500;
constexpr std::size_t kMaxGetRecordsBytes = 10 << 20;
constexpr std::int32_t kMaxGetRecordsLimit = 10000;
constexpr std::size_t kMaxIteratorLength = 512;
constexpr duration kIteratorLifetime = std::chrono::seconds(300);
constexpr std::uint8_t kIteratorToken = 1;

// Model constraints on one record; `prefix` is "" (PutRecord) or
// "records.N.member." (PutRecords).
void validate_record(validation& v, std::string_view key, std::string_view data,
                     const std::optional<borrowed_string>& explicit_hash_key, std::string_view prefix,
                     std::size_t max_bytes = kModelMaxRecordBytes) {
  const std::string key_member = fmt::format("{}partitionKey", prefix);
  if (key.empty()) {
    v.length_at_least(key, key_member, 1);
  } else {
    const long long units = detail::utf16_length(key);
    if (units < 0) {
      v.fail(key, key_member, "Member must be valid UTF-8 text");
    } else if (units > 256) {
      v.length_at_most(key, key_member, 256);
    }
  }
  if (data.size() > max_bytes) {
    v.fail_blob(data.size(), fmt::format("{}data", prefix),
                fmt::format("Member must have length less than or equal to {}", max_bytes));
  } else if (data.size() + key.size() > max_bytes) {
    v.fail_blob(data.size(), fmt::format("{}data", prefix),
                fmt::format("Member must have length less than or equal to {} (the {}-byte record limit less "
                            "the {}-byte partition key)",
                            max_bytes - key.size(), max_bytes, key.size()));
  }
  if (explicit_hash_key && !detail::is_decimal(*explicit_hash_key, 39)) {
    v.pattern(*explicit_hash_key, fmt::format("{}explicitHashKey", prefix), detail::kHashKeyPattern);
  }
}

// SequenceNumberForOrdering as AWS checks it (kinesalite pinned the rules
// against the service). The decimal value is read as hex digits; it must have
// the 47-digit layout of a sequence number: first digit 2, last digit (the
// layout version) 1, 2 or 3, the top digits of the sequence index (position
// 11) and of the shard index (position 38) at most 7, "000" at positions
// 27..29, and a time (positions 30..37, seconds) not in the future. Both
// layout versions 1 and 2 pass, and so do edge values such as all fields
// zero. Version 3, or a sequence index with its position-19 digit above 7 and
// a nonzero time, makes AWS fail with InternalFailure.
enum class ordering_check { ok, invalid, internal_failure };
ordering_check check_ordering_number(std::string_view decimal, std::uint64_t now_seconds) {
  // Decimal to hex by repeated division of the decimal digits by 16.
  std::string digits(decimal);
  std::string hex;
  while (!(digits.empty() || (digits.size() == 1 && digits[0] == '0'))) {
    std::string quotient;
    unsigned rem = 0;
    for (char c : digits) {
      rem = rem * 10 + static_cast<unsigned>(c - '0');
      const unsigned q = rem / 16;
      rem %= 16;
      if (!quotient.empty() || q != 0) quotient.push_back(static_cast<char>('0' + q));
    }
    hex.push_back("0123456789abcdef"[rem]);
    if (hex.size() > 47) return ordering_check::invalid;
    digits = std::move(quotient);
  }
  std::reverse(hex.begin(), hex.end());
  if (hex.size() != 47) return ordering_check::invalid;
  auto digit = [&](std::size_t i) { return static_cast<unsigned>(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10); };
  std::uint64_t seq_time = 0;
  for (std::size_t i = 30; i < 38; ++i) seq_time = seq_time * 16 + digit(i);
  const char version = hex[46];
  if (hex[0] != '2' || digit(11) > 7 || hex.compare(27, 3, "000") != 0 || digit(38) > 7 || seq_time > now_seconds ||
      (version != '1' && version != '2' && version != '3')) {
    return ordering_check::invalid;
  }
  if (version == '3' || (digit(19) > 7 && seq_time > 0)) return ordering_check::internal_failure;
  return ordering_check::ok;
}

// True if `s` is all ASCII (checked eight bytes at a time).
bool is_ascii(std::string_view s) {
  std::uint64_t bits = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    bits |= w;
  }
  for (; i < s.size(); ++i) bits |= static_cast<unsigned char>(s[i]);
  return (bits & 0x8080808080808080ULL) == 0;
}

// The fast check of validate_record(): no message is built unless it fails.
bool record_valid(std::string_view key, std::string_view data, const std::optional<borrowed_string>& explicit_hash_key,
                  std::size_t max_bytes = kModelMaxRecordBytes) {
  if (key.empty() || key.size() + data.size() > max_bytes) return false;
  if (!is_ascii(key) || key.size() > 256) {
    const long long units = detail::utf16_length(key);
    if (units < 0 || units > 256) return false;
  }
  return !explicit_hash_key || detail::is_decimal(*explicit_hash_key, 39);
}

// The largest record (data plus partition key) `st` takes.
std::size_t record_limit(const stream_state& st) {
  return static_cast<std::size_t>(st.max_record_kib.load(std::memory_order_relaxed)) * 1024;
}

// The hash a record routes by: its ExplicitHashKey, or the MD5 of its key.
result<hash_key> routing_hash(std::string_view key, const std::optional<borrowed_string>& explicit_hash_key) {
  if (!explicit_hash_key) return detail::md5_hash_key(key);
  auto h = hash_key::parse(*explicit_hash_key);
  if (!h) {
    return detail::invalid_argument(fmt::format(
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {}",
        explicit_hash_key->view()));
  }
  return *h;
}

bool accepts_writes(stream_status s) { return s == stream_status::active || s == stream_status::updating; }

// Scratch space reused by the puts of one thread: no allocation per record.
struct put_scratch {
  std::vector<hash_key> hashes;
  std::vector<std::uint64_t> keys;  // (shard position << 32) | entry
  std::vector<log_entry> entries;
  std::vector<std::uint32_t> accepted;
  std::vector<std::uint8_t> injected;  // error_code + 1 of an injected fault, or 0
  struct tally {
    std::uint32_t shard;
    std::int64_t bytes;
    std::int64_t records;
    std::int64_t throttled;
  };
  std::vector<tally> tallies;
};

put_scratch& scratch() {
  thread_local put_scratch s;
  return s;
}

}  // namespace

std::string engine::impl::make_iterator(const stream_state& s, shard_id shard, std::uint64_t position,
                                        timestamp t) const {
  return tokens.seal(detail::payload_writer()
                         .u8(kIteratorToken)
                         .u64(s.uid)
                         .str(s.name)
                         .u32(shard.index())
                         .u64(position)
                         .i64(t.time_since_epoch().count())
                         .take());
}

// --- puts ---------------------------------------------------------------------

namespace {

using detail::shard_metric;
using detail::stream_metric;

std::string rate_exceeded(const shard_state& sh, const stream_state& st, std::string_view account) {
  return fmt::format("Rate exceeded for shard {} in stream {} under account {}.", sh.id.to_string(), st.name, account);
}

// Charges one record of `bytes` to the shard's write buckets if both hold
// enough. Caller holds sh.mu exclusive.
bool admit_write(shard_state& sh, const throughput_limits& l, std::int64_t bytes, timestamp now) {
  if (!l.enabled) return true;
  // A record larger than the whole byte bucket (a limit set below one record's
  // size) is admitted when the bucket is full and leaves it in debt: refused
  // forever otherwise, however long the producer waited.
  const bool bytes_ok =
      sh.write_bytes.has(bytes, now) || (bytes > sh.write_bytes.capacity() && sh.write_bytes.full(now));
  if (!bytes_ok || !sh.write_records.has(1, now)) return false;
  sh.write_bytes.take(bytes, now);
  sh.write_records.take(1, now);
  return true;
}

bool shard_metric_on(const stream_state& st, shard_metric m) {
  return (st.shard_metric_mask >> static_cast<unsigned>(m)) & 1U;
}

void add(std::array<detail::stat, detail::kStreamMetrics>& s, stream_metric m, double v) {
  s[static_cast<std::size_t>(m)].add(v);
}

void add(std::array<detail::stat, detail::kShardMetrics>& s, shard_metric m, double v) {
  s[static_cast<std::size_t>(m)].add(v);
}

double ms_between(timestamp a, timestamp b) { return static_cast<double>((b - a).count()); }

}  // namespace

void engine::impl::record_failure(const stream_state& st, timestamp start, detail::stream_metric success,
                                  detail::stream_metric latency) const {
  record(st, start, [&](detail::stream_metrics& m, std::int64_t minute, std::int64_t keep) {
    auto& stats = m.stream.at(minute, keep);
    add(stats, success, 0);
    add(stats, latency, ms_between(start, now()));
  });
}

result<put_record_result> engine::put_record(const put_record_request& req) {
  auto& d = *impl_;
  const timestamp start = d.now();
  validation v;
  if (!record_valid(req.partition_key, req.data, req.explicit_hash_key)) {
    validate_record(v, req.partition_key, req.data, req.explicit_hash_key, "");
  }
  if (req.sequence_number_for_ordering && !detail::is_decimal(*req.sequence_number_for_ordering, 129)) {
    v.pattern(*req.sequence_number_for_ordering, "sequenceNumberForOrdering", detail::kSequenceNumberPattern);
  }
  if (req.stream_id) detail::validate_stream_id(v, req.stream_id);
  if (!v.ok()) {
    // Off the fast path: a valid name is checked by lookup(), alone.
    engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
    return v.error();
  }
  auto hash = routing_hash(req.partition_key, req.explicit_hash_key);
  if (!hash) return hash.error();
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  stream_state& st = **s;
  if (const std::size_t max = record_limit(st); req.partition_key.size() + req.data.size() > max) {
    validate_record(v, req.partition_key, req.data, req.explicit_hash_key, "", max);
    return v.error();
  }
  if (auto range = d.check_clock_range(start); !range) return range.error();
  if (auto admitted = d.enter("PutRecord", st.name); !admitted) {
    d.record_failure(st, start, stream_metric::put_record_success, stream_metric::put_record_latency);
    return admitted.error();
  }
  const timestamp now = d.now();
  if (req.sequence_number_for_ordering) {
    const auto check = check_ordering_number(*req.sequence_number_for_ordering, seconds_of(now));
    if (check == ordering_check::internal_failure) return detail::internal_failure("");
    if (check == ordering_check::invalid) {
      return detail::invalid_argument(
          fmt::format("ExclusiveMinimumSequenceNumber {} used in PutRecord on stream {} under account {} is invalid.",
                      req.sequence_number_for_ordering->view(), st.name, d.opt.account_id));
    }
    // Numbers already increase strictly within a shard, so a valid one needs no further action.
  }

  std::shared_lock stream_lock(st.mu);
  if (!accepts_writes(st.status)) return detail::stream_not_found(d.at(st.name));
  shard_state& sh = *st.open[st.route(*hash)];
  const log_entry entry{req.partition_key, req.data};
  const auto bytes = static_cast<std::int64_t>(req.partition_key.size() + req.data.size());
  std::unique_lock lock(sh.mu);
  const bool admitted =
      (admit_write(sh, st.limits, bytes, now) || !d.enforce("WriteProvisionedThroughputExceeded", st.name));
  const timestamp arrival = std::max(now, sh.last_arrival);
  std::optional<result<std::uint64_t>> offset;  // built only if admitted: no error text on the fast path
  if (admitted) {
    offset.emplace(sh.log->append({&entry, 1}, arrival));
    if (offset->ok()) {
      sh.last_arrival = arrival;
      sh.count_write(arrival, bytes, 1);
    }
  }
  lock.unlock();
  if (admitted && offset->ok()) {
    // The sync point: under every_batch the record is on disk before we answer.
    if (auto synced = sh.log->sync(**offset + 1); !synced) offset.emplace(synced.error());
  }
  const bool stored = admitted && offset->ok();
  if (stored && sh.fanout.armed()) detail::fanout_hub::notify(sh);
  d.record(st, now, [&](detail::stream_metrics& m, std::int64_t minute, std::int64_t keep) {
    auto& stats = m.stream.at(minute, keep);
    add(stats, stream_metric::put_record_success, stored ? 1 : 0);
    add(stats, stream_metric::put_record_latency, ms_between(start, d.now()));
    add(stats, stream_metric::write_throttled, admitted ? 0 : 1);
    if (stored) {
      add(stats, stream_metric::put_record_bytes, static_cast<double>(bytes));
      add(stats, stream_metric::incoming_bytes, static_cast<double>(bytes));
      add(stats, stream_metric::incoming_records, 1);
    }
    if (st.shard_metric_mask != 0) {
      auto& sm = m.shards[sh.id.index()].at(minute, keep);
      if (stored && shard_metric_on(st, shard_metric::incoming_bytes))
        add(sm, shard_metric::incoming_bytes, static_cast<double>(bytes));
      if (stored && shard_metric_on(st, shard_metric::incoming_records)) add(sm, shard_metric::incoming_records, 1);
      if (shard_metric_on(st, shard_metric::write_throttled)) add(sm, shard_metric::write_throttled, admitted ? 0 : 1);
    }
  });
  if (!admitted) {
    return error(error_code::provisioned_throughput_exceeded_exception, rate_exceeded(sh, st, d.opt.account_id));
  }
  if (!offset->ok()) return offset->error();
  return put_record_result{sh.id, sh.record_sequence_number(**offset, arrival), st.encryption};
}

result<put_records_result> engine::put_records(const put_records_request& req) {
  auto& d = *impl_;
  const timestamp start = d.now();
  const auto& records = req.records;
  validation v;
  if (records.empty()) {
    v.length_at_least("[]", "records", 1);
  } else {
    if (records.size() > kMaxPutRecordsEntries) {
      // AWS prints the list as Java does: every entry as its class name and
      // identity hash. The hash is Java's; rill prints one derived from the
      // entry's position (documented in docs/semantics.md).
      std::string listed = "[";
      for (std::size_t i = 0; i < records.size(); ++i) {
        if (i) listed += ", ";
        fmt::format_to(std::back_inserter(listed), "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@{:08x}",
                       static_cast<std::uint32_t>((i + 1) * 0x9E3779B1u));
      }
      listed += ']';
      v.fail(listed, "records", fmt::format("Member must have length less than or equal to {}", kMaxPutRecordsEntries));
    }
    // Every entry's own constraints follow, as AWS lists them (at most 10 in all).
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      if (!record_valid(r.partition_key, r.data, r.explicit_hash_key)) {
        validate_record(v, r.partition_key, r.data, r.explicit_hash_key, fmt::format("records.{}.member.", i + 1));
      }
    }
  }
  if (req.stream_id) detail::validate_stream_id(v, req.stream_id);
  if (!v.ok()) {
    engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
    return v.error();
  }
  std::size_t total = 0;
  for (const auto& r : records) total += r.data.size() + r.partition_key.size();

  auto& sc = scratch();
  const std::size_t n = records.size();
  sc.hashes.resize(n);
  // Every key's MD5 at once, side by side in SIMD lanes; ExplicitHashKeys then replace theirs.
  detail::md5_hash_keys_of(
      n, [&](std::size_t i) { return std::string_view(records[i].partition_key); }, sc.hashes.data());
  for (std::size_t i = 0; i < n; ++i) {
    if (!records[i].explicit_hash_key) continue;
    auto h = routing_hash(records[i].partition_key, records[i].explicit_hash_key);
    if (!h) return h.error();
    sc.hashes[i] = *h;
  }
  auto s = d.lookup(req.stream_name, req.stream_arn);
  if (!s) return s.error();
  stream_state& st = **s;
  // The stream's bounds: its record size, and 5 MiB a request (10 MiB for
  // streams of large records).
  if (const std::size_t max = record_limit(st); max < kModelMaxRecordBytes) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      if (r.partition_key.size() + r.data.size() > max) {
        validate_record(v, r.partition_key, r.data, r.explicit_hash_key, fmt::format("records.{}.member.", i + 1), max);
      }
    }
    if (!v.ok()) return v.error();
    if (max <= (1U << 20) && total > kMaxPutRecordsBytes) {
      return detail::invalid_argument("Records size exceeds 5 MB limit");
    }
  }
  if (total > kMaxLargePutRecordsBytes) return detail::invalid_argument("Records size exceeds 10 MB limit");
  if (auto range = d.check_clock_range(start); !range) return range.error();
  if (auto admitted = d.enter("PutRecords", st.name); !admitted) {
    d.record_failure(st, start, stream_metric::put_records_success, stream_metric::put_records_latency);
    return admitted.error();
  }
  // Entries that injected faults fail: decided in request order, before any lock.
  sc.injected.assign(n, 0);
  if (d.faults.active()) {
    for (std::size_t i = 0; i < n; ++i) {
      if (auto code = d.faults.on_entry(st.name, start)) sc.injected[i] = static_cast<std::uint8_t>(*code) + 1;
    }
  }
  const timestamp now = d.now();

  put_records_result out;
  out.records.resize(n);
  std::shared_lock stream_lock(st.mu);
  if (!accepts_writes(st.status)) return detail::stream_not_found(d.at(st.name));
  out.encryption_type = st.encryption;

  // Group entries by shard, keeping request order within each shard: a sort
  // of the entries by (shard position, entry), so the cost depends on the
  // entries, not on how many shards the stream has.
  sc.keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    sc.keys[i] = (static_cast<std::uint64_t>(st.route(sc.hashes[i])) << 32) | i;
  }
  std::sort(sc.keys.begin(), sc.keys.end());

  sc.tallies.clear();
  std::int64_t ok_bytes = 0;
  std::int64_t ok_records = 0;
  std::int64_t throttled = 0;
  std::int64_t failed = 0;
  for (std::size_t begin = 0; begin < n;) {
    const std::size_t k = static_cast<std::size_t>(sc.keys[begin] >> 32);
    std::size_t end = begin + 1;
    while (end < n && (sc.keys[end] >> 32) == k) ++end;
    const std::size_t group_begin = begin;
    begin = end;
    shard_state& sh = *st.open[k];
    std::unique_lock lock(sh.mu);
    // Admit entries in request order. Once one is throttled, the rest of this
    // shard's entries are too, so accepted entries never overtake a refused one.
    sc.entries.clear();
    sc.accepted.clear();
    bool throttling = false;
    put_scratch::tally t{sh.id.index(), 0, 0, 0};
    for (std::size_t j = group_begin; j < end; ++j) {
      const auto i = static_cast<std::uint32_t>(sc.keys[j] & 0xFFFFFFFFU);
      const auto& r = records[i];
      const auto size = static_cast<std::int64_t>(r.partition_key.size() + r.data.size());
      if (sc.injected[i] != 0 && !throttling) {
        auto& e = out.records[i];
        e.error_code = static_cast<error_code>(sc.injected[i] - 1);
        const bool rate = *e.error_code == error_code::provisioned_throughput_exceeded_exception;
        e.error_message = rate ? rate_exceeded(sh, st, d.opt.account_id) : std::string("Internal Service Failure");
        ++(rate ? t.throttled : failed);
        // An injected throughput refusal behaves as a real one: the shard's
        // later entries in this request are refused too, so a retrying
        // producer never sees a later record of a key accepted before an
        // earlier one.
        throttling = rate;
        continue;
      }
      throttling = throttling || !(admit_write(sh, st.limits, size, now) ||
                                   !d.enforce("WriteProvisionedThroughputExceeded", st.name));
      if (throttling) {
        auto& e = out.records[i];
        e.error_code = error_code::provisioned_throughput_exceeded_exception;
        e.error_message = rate_exceeded(sh, st, d.opt.account_id);
        ++t.throttled;
        continue;
      }
      sc.entries.push_back({r.partition_key, r.data});
      sc.accepted.push_back(i);
      t.bytes += size;
    }
    const timestamp arrival = std::max(now, sh.last_arrival);
    result<std::uint64_t> first = std::uint64_t{0};
    if (!sc.entries.empty()) {
      first = sh.log->append(sc.entries, arrival);
      if (first) {
        sh.last_arrival = arrival;
        sh.count_write(arrival, t.bytes, static_cast<std::int64_t>(sc.entries.size()));
      }
    }
    lock.unlock();
    if (first) {  // the sync point: under every_batch the batch is on disk before we answer
      if (auto synced = sh.log->sync(*first + sc.entries.size()); !synced) first = synced.error();
    }
    if (first && !sc.entries.empty() && sh.fanout.armed()) detail::fanout_hub::notify(sh);
    if (first) {
      t.records = static_cast<std::int64_t>(sc.accepted.size());
      const sequence_number base = sh.record_sequence_number(*first, arrival);
      for (std::size_t a = 0; a < sc.accepted.size(); ++a) {
        auto& e = out.records[sc.accepted[a]];
        e.shard_id = sh.id;
        e.sequence_number =
            sequence_number(base.shard_create_seconds(), sh.id.index(), base.seq_index() + a, base.seq_time_seconds());
      }
    } else {
      // Storage failures are InternalFailure; a key the key provider refused keeps its KMS name.
      const error_code code = first.error().code();
      for (auto i : sc.accepted) {
        out.records[i].error_code = code;
        out.records[i].error_message =
            code == error_code::internal_failure ? std::string("Internal Service Failure") : first.error().message();
      }
      failed += static_cast<std::int64_t>(sc.accepted.size());
      t.bytes = 0;
    }
    ok_bytes += t.bytes;
    ok_records += t.records;
    throttled += t.throttled;
    sc.tallies.push_back(t);
  }
  out.failed_record_count = static_cast<std::int32_t>(failed + throttled);
  d.record(st, now, [&](detail::stream_metrics& m, std::int64_t minute, std::int64_t keep) {
    auto& stats = m.stream.at(minute, keep);
    add(stats, stream_metric::put_records_success, ok_records > 0 ? 1 : 0);
    add(stats, stream_metric::put_records_latency, ms_between(start, d.now()));
    add(stats, stream_metric::put_records_total_records, static_cast<double>(n));
    add(stats, stream_metric::put_records_successful_records, static_cast<double>(ok_records));
    add(stats, stream_metric::put_records_failed_records, static_cast<double>(failed));
    add(stats, stream_metric::put_records_throttled_records, static_cast<double>(throttled));
    add(stats, stream_metric::write_throttled, static_cast<double>(throttled));
    if (ok_records > 0) {
      add(stats, stream_metric::put_records_bytes, static_cast<double>(ok_bytes));
      add(stats, stream_metric::put_records_records, static_cast<double>(ok_records));
      add(stats, stream_metric::incoming_bytes, static_cast<double>(ok_bytes));
      add(stats, stream_metric::incoming_records, static_cast<double>(ok_records));
    }
    if (st.shard_metric_mask == 0) return;
    for (const auto& t : sc.tallies) {
      auto& sm = m.shards[t.shard].at(minute, keep);
      if (t.records > 0 && shard_metric_on(st, shard_metric::incoming_bytes))
        add(sm, shard_metric::incoming_bytes, static_cast<double>(t.bytes));
      if (t.records > 0 && shard_metric_on(st, shard_metric::incoming_records))
        add(sm, shard_metric::incoming_records, static_cast<double>(t.records));
      if (shard_metric_on(st, shard_metric::write_throttled))
        add(sm, shard_metric::write_throttled, static_cast<double>(t.throttled));
    }
  });
  return out;
}

// --- iterators ------------------------------------------------------------------

result<get_shard_iterator_result> engine::get_shard_iterator(const get_shard_iterator_request& req) {
  auto& d = *impl_;
  validation v;
  detail::validate_shard_id_input(v, req.shard_id, "shardId");
  if (req.shard_iterator_type > shard_iterator_type::at_timestamp) {
    v.enum_value(static_cast<unsigned>(req.shard_iterator_type), "shardIteratorType", detail::kShardIteratorTypeSet);
  }
  if (req.starting_sequence_number && !detail::is_decimal(*req.starting_sequence_number, 129)) {
    v.pattern(*req.starting_sequence_number, "startingSequenceNumber", detail::kSequenceNumberPattern);
  }
  detail::validate_stream_id(v, req.stream_id);
  engine::impl::validate_ref(v, req.stream_name, req.stream_arn);
  if (!v.ok()) return v.error();
  // As AWS: the shard id is resolved first ("shardId-5", "5" and "x-5" name
  // shard 5), then the stream; a missing stream is reported as a missing shard.
  auto name = d.resolve(req.stream_name, req.stream_arn);
  if (!name) return name.error();
  auto id = shard_id::parse(req.shard_id);
  if (!id) return detail::shard_not_found(d.at(*name), req.shard_id);
  auto s = d.find(*name);
  if (!s) {
    if (s.error().code() == error_code::resource_not_found_exception)
      return detail::shard_does_not_exist(d.at(*name), *id);
    return s.error();
  }
  stream_state& st = **s;
  if (auto admitted = d.enter("GetShardIterator", st.name); !admitted) return admitted.error();
  const auto w = d.at(st.name);
  const timestamp now = d.now();

  std::shared_lock stream_lock(st.mu);
  const shard_state* found = st.status == stream_status::creating ? nullptr : st.live_shard(id, now);
  if (!found) return detail::shard_does_not_exist(w, *id);
  const shard_state& sh = *found;

  // A StartingSequenceNumber belongs with AT_ and AFTER_SEQUENCE_NUMBER only:
  // TRIM_HORIZON, LATEST and AT_TIMESTAMP with one are refused (AWS's rule:
  // "TRIM_HORIZON or LATEST and no StartingSequenceNumber").
  const auto type = req.shard_iterator_type;
  const bool by_number =
      type == shard_iterator_type::at_sequence_number || type == shard_iterator_type::after_sequence_number;
  if (by_number != req.starting_sequence_number.has_value()) {
    return detail::invalid_argument(fmt::format(
        "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
        "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {} and {}.",
        to_string(type), by_number ? "no StartingSequenceNumber" : "also a StartingSequenceNumber"));
  }
  if (type == shard_iterator_type::at_timestamp) {
    if (!req.timestamp) {
      return detail::invalid_argument(
          "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no "
          "timestamp parameter.");
    }
    if (*req.timestamp > now) {
      return detail::invalid_argument(
          fmt::format("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. "
                      "timestampInMillis: {}, currentTimestampInMillis: {}",
                      req.timestamp->time_since_epoch().count(), now.time_since_epoch().count()));
    }
  }
  if (st.limits.enabled) {
    std::lock_guard rl(sh.reads.mu);
    if (!sh.reads.iterators.try_take(1, now) && d.enforce("GetShardIterator rate", st.name)) {
      return error(error_code::provisioned_throughput_exceeded_exception,
                   fmt::format("Rate exceeded for shard {} in stream {} under account {}.", sh.id.to_string(), st.name,
                               d.opt.account_id));
    }
  }
  std::shared_lock lock(sh.mu);
  std::uint64_t position = 0;
  switch (type) {
    case shard_iterator_type::trim_horizon:
      position = 0;  // clamped to the oldest readable record at each read
      break;
    case shard_iterator_type::latest: position = sh.log->end_offset(); break;
    case shard_iterator_type::at_timestamp: position = sh.log->offset_at_or_after(*req.timestamp); break;
    case shard_iterator_type::at_sequence_number:
    case shard_iterator_type::after_sequence_number: {
      const std::string& text = *req.starting_sequence_number;
      auto seq = sequence_number::parse(text);
      if (!seq) {
        return detail::invalid_argument(
            fmt::format("StartingSequenceNumber {} used in GetShardIterator on shard {} in stream {} under account {} "
                        "is invalid.",
                        text, sh.id.to_string(), st.name, d.opt.account_id));
      }
      if (seq->shard() != sh.id) {
        return detail::invalid_argument(
            fmt::format("Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {}",
                        seq->shard().to_string(), sh.id.to_string()));
      }
      if (seq->shard_create_seconds() != sh.create_s) {
        return detail::invalid_argument(
            fmt::format("StartingSequenceNumber {} used in GetShardIterator on shard {} in stream {} under account {} "
                        "is invalid because it did not come from this stream.",
                        text, sh.id.to_string(), st.name, d.opt.account_id));
      }
      // Record at offset o has seq index o + 1; numbers order by (index, time).
      const bool after = type == shard_iterator_type::after_sequence_number;
      if (seq->seq_index() == 0) {
        position = 0;  // the shard's StartingSequenceNumber precedes every record
      } else {
        const std::uint64_t o = seq->seq_index() - 1;
        position = after ? o + 1 : o;
        if (o >= sh.log->start_offset() && o < sh.log->end_offset()) {
          const std::uint64_t t = seconds_of(sh.log->arrival_time(o));
          const bool record_at_or_after = after ? t > seq->seq_time_seconds() : t >= seq->seq_time_seconds();
          position = record_at_or_after ? o : o + 1;
        }
      }
      break;
    }
  }
  return get_shard_iterator_result{d.make_iterator(st, sh.id, position, now)};
}

result<get_records_result> engine::get_records(const get_records_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.limit && *req.limit < 1) v.value_at_least(*req.limit, "limit", 1);
  if (req.limit && *req.limit > kMaxGetRecordsLimit) v.value_at_most(*req.limit, "limit", kMaxGetRecordsLimit);
  if (req.shard_iterator.empty()) v.length_at_least(req.shard_iterator, "shardIterator", 1);
  if (req.shard_iterator.size() > kMaxIteratorLength) {
    v.length_at_most(req.shard_iterator, "shardIterator", kMaxIteratorLength);
  }
  detail::validate_stream_id(v, req.stream_id);
  if (!v.ok()) return v.error();

  const timestamp start = d.now();
  auto payload = d.tokens.open(req.shard_iterator);
  detail::payload_reader r(payload ? *payload : std::string_view());
  std::uint8_t kind = 0;
  std::uint64_t uid = 0;
  std::string name;
  std::uint32_t index = 0;
  std::uint64_t position = 0;
  std::int64_t issued_ms = 0;
  if (!payload || !r.u8(kind) || kind != kIteratorToken || !r.u64(uid) || !r.str(name) || !r.u32(index) ||
      !r.u64(position) || !r.i64(issued_ms) || !r.done()) {
    return detail::invalid_argument("Invalid ShardIterator.");
  }
  const timestamp now = d.now();
  const timestamp issued{duration(issued_ms)};
  if (detail::token_expired(issued_ms, now, kIteratorLifetime)) {
    return error(error_code::expired_iterator_exception,
                 fmt::format("Iterator expired. The iterator was created at time {} while right now it is {} which is "
                             "further in the future than the tolerated delay of {} milliseconds.",
                             detail::java_date(issued), detail::java_date(now), kIteratorLifetime.count()));
  }
  const shard_id id(index);
  if (req.stream_arn) {
    auto n = d.resolve(std::nullopt, req.stream_arn);
    if (!n) return n.error();
    if (*n != name) return detail::invalid_argument("Invalid ShardIterator.");
  }
  auto s = d.find(name);
  if (!s || (*s)->uid != uid) return detail::shard_does_not_exist(d.at(name), id);
  const stream_state& st = **s;
  if (auto admitted = d.enter("GetRecords", st.name); !admitted) {
    d.record_failure(st, start, stream_metric::get_records_success, stream_metric::get_records_latency);
    return admitted.error();
  }
  if (d.faults.active() && d.faults.expire_iterator(st.name, issued, now)) {
    // AWS FIS's expired-iterator action: the iterator is treated as expired.
    d.record_failure(st, start, stream_metric::get_records_success, stream_metric::get_records_latency);
    return error(error_code::expired_iterator_exception,
                 fmt::format("Iterator expired. The iterator was created at time {} while right now it is {} which is "
                             "further in the future than the tolerated delay of {} milliseconds.",
                             detail::java_date(issued), detail::java_date(now), kIteratorLifetime.count()));
  }

  std::shared_lock stream_lock(st.mu);
  const shard_state* found = st.status == stream_status::creating ? nullptr : st.live_shard(id, now);
  if (!found) return detail::shard_does_not_exist(d.at(name), id);
  const shard_state& sh = *found;
  const std::size_t limit = static_cast<std::size_t>(req.limit.value_or(kMaxGetRecordsLimit));
  const auto& limits = st.limits;
  if (limits.enabled) {
    std::lock_guard rl(sh.reads.mu);
    // A refused call returns nothing and costs nothing.
    bool allowed = now >= sh.reads.blocked_until && sh.reads.bytes.positive(now) && sh.reads.calls.has(1, now);
    if (!allowed && !d.enforce("ReadProvisionedThroughputExceeded", st.name)) allowed = true;
    if (allowed) sh.reads.calls.take(1, now);
    if (!allowed) {
      d.record(st, now, [&](detail::stream_metrics& m, std::int64_t minute, std::int64_t keep) {
        auto& stats = m.stream.at(minute, keep);
        add(stats, stream_metric::read_throttled, 1);
        add(stats, stream_metric::get_records_success, 0);
        add(stats, stream_metric::get_records_latency, ms_between(start, d.now()));
        if (shard_metric_on(st, shard_metric::read_throttled)) {
          add(m.shards[index].at(minute, keep), shard_metric::read_throttled, 1);
        }
      });
      return error(error_code::provisioned_throughput_exceeded_exception,
                   fmt::format("Rate exceeded for Shard - {}/{}/{}", d.opt.account_id, st.name, sh.id.to_string()));
    }
  }

  get_records_result out;
  std::shared_lock lock(sh.mu);
  const shard_log& log = *sh.log;
  // Records that have outlived the retention period are unreadable at once,
  // whether or not the trimmer has released them yet.
  const std::uint64_t readable = log.offset_at_or_after(st.horizon(now) + duration(1));
  const std::uint64_t from = std::max(position, readable);

  // One pass: keys and data are copied into chunks the result owns, and the
  // records view them. The first chunk is sized for the records the call can
  // return at a generous size each, so a typical read needs one allocation.
  const std::uint64_t available = from < log.end_offset() ? log.end_offset() - from : 0;
  const std::size_t expected = static_cast<std::size_t>(std::min<std::uint64_t>(limit, available));
  struct copy_state {
    std::shared_ptr<detail::record_buffer> owner;
    char* at = nullptr;
    char* end = nullptr;
    std::size_t next_chunk;
    const shard_state* shard;
    std::vector<record>* records;
    encryption_type enc;
    char* room(std::size_t n) {
      if (static_cast<std::size_t>(end - at) < n) {
        const std::size_t size = std::max(n, next_chunk);
        at = owner->allocate(size);
        end = at + size;
        next_chunk = std::min<std::size_t>(next_chunk * 2, kMaxGetRecordsBytes);
      }
      char* p = at;
      at += n;
      return p;
    }
  } cs{std::make_shared<detail::record_buffer>(),
       nullptr,
       nullptr,
       std::clamp<std::size_t>(expected * 192, 4096, kMaxGetRecordsBytes),
       &sh,
       &out.records,
       st.encryption};
  out.records.reserve(expected);
  const auto read = log.read(from, limit, kMaxGetRecordsBytes, [&cs](std::span<const log_record> batch) {
    std::int64_t last_ms = -1;
    std::uint64_t seconds = 0;
    for (const log_record& rec : batch) {
      const std::size_t k = rec.partition_key.size();
      const std::size_t n = k + rec.data.size();
      char* key = cs.room(n == 0 ? 1 : n);
      if (rec.partition_key.data() + k == rec.data.data()) {
        std::memcpy(key, rec.partition_key.data(), n);  // stored side by side: one copy
      } else {
        std::memcpy(key, rec.partition_key.data(), k);
        if (!rec.data.empty()) std::memcpy(key + k, rec.data.data(), rec.data.size());
      }
      // Records of one put share an arrival: convert it to seconds once.
      const std::int64_t ms = rec.arrival.time_since_epoch().count();
      if (ms != last_ms) {
        last_ms = ms;
        seconds = static_cast<std::uint64_t>(
            std::chrono::floor<std::chrono::seconds>(rec.arrival).time_since_epoch().count());
      }
      cs.records->push_back(record{sequence_number(cs.shard->create_s, cs.shard->id.index(), rec.offset + 1, seconds),
                                   rec.arrival, std::string_view(key + k, rec.data.size()), std::string_view(key, k),
                                   rec.encrypted ? encryption_type::kms : encryption_type::none});
    }
  });
  if (read.records == 0 && read.failure) return *read.failure;  // never garbage: an I/O, checksum or key error
  if (read.records > 0) out.buffer = std::move(cs.owner);
  const std::uint64_t next = read.records > 0 ? read.next_offset : from;
  const std::uint64_t end = log.end_offset();
  out.millis_behind_latest = next >= end ? 0 : std::max<std::int64_t>(0, (now - log.arrival_time(next)).count());
  if (limits.enabled) {
    std::lock_guard rl(sh.reads.mu);
    sh.reads.bytes.take(static_cast<std::int64_t>(read.bytes), now);
    if (static_cast<std::int64_t>(read.bytes) >= limits.large_read_bytes) {
      sh.reads.blocked_until = now + limits.large_read_penalty;
    }
  }
  const double age = out.records.empty() ? static_cast<double>(out.millis_behind_latest)
                                         : ms_between(out.records.back().approximate_arrival_timestamp, now);
  d.record(st, now, [&](detail::stream_metrics& m, std::int64_t minute, std::int64_t keep) {
    auto& stats = m.stream.at(minute, keep);
    add(stats, stream_metric::read_throttled, 0);
    add(stats, stream_metric::get_records_success, 1);
    add(stats, stream_metric::get_records_latency, ms_between(start, d.now()));
    add(stats, stream_metric::get_records_bytes, static_cast<double>(read.bytes));
    add(stats, stream_metric::get_records_records, static_cast<double>(read.records));
    add(stats, stream_metric::get_records_iterator_age, age);
    if (st.shard_metric_mask == 0) return;
    auto& sm = m.shards[index].at(minute, keep);
    if (shard_metric_on(st, shard_metric::outgoing_bytes))
      add(sm, shard_metric::outgoing_bytes, static_cast<double>(read.bytes));
    if (shard_metric_on(st, shard_metric::outgoing_records))
      add(sm, shard_metric::outgoing_records, static_cast<double>(read.records));
    if (shard_metric_on(st, shard_metric::iterator_age)) add(sm, shard_metric::iterator_age, age);
    if (shard_metric_on(st, shard_metric::read_throttled)) add(sm, shard_metric::read_throttled, 0);
  });

  if (sh.closed && next >= sh.close_offset) {
    // The end of a closed shard: no next iterator; the children to read next.
    for (const auto& child_id : sh.children) {
      const auto& child = st.shards[child_id.index()];
      if (!child) continue;
      child_shard c;
      c.shard_id = child->id;
      if (child->parent) c.parent_shards.push_back(*child->parent);
      if (child->adjacent_parent) c.parent_shards.push_back(*child->adjacent_parent);
      c.hash_key_range = child->range();
      out.child_shards.push_back(std::move(c));
    }
  } else {
    out.next_shard_iterator = d.make_iterator(st, sh.id, next, now);
  }
  return out;
}

}  // namespace rill
