// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The Lambda-style event source mapping (rill/lambda.hpp). Written against
// rill::kinesis only.
#include "rill/lambda.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "rill/kpl.hpp"
#include "rill/reader.hpp"

namespace rill::lambda {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

error invalid(std::string message) { return error(error_code::invalid_argument_exception, std::move(message)); }

}  // namespace

std::string kinesis_data::data_base64() const {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < data.size()) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

struct event_source_mapping::item {
  owned_record record;
  std::optional<std::uint64_t> sub_sequence_number;
  std::string sequence_number;  // record.sequence_number as text, made once
};

struct event_source_mapping::pending_shard {
  std::string shard_id;
  std::deque<item> records;
  timestamp first_buffered{};
};

event_source_mapping::event_source_mapping(kinesis& client, rill::clock& clock, event_source_mapping_options options,
                                           function fn)
    : client_(client), clock_(clock), opt_(std::move(options)), fn_(std::move(fn)) {
  checkpoints_ = opt_.initial_checkpoints;
  stream_reader_options ro;
  ro.stream_name = opt_.stream_name;
  ro.stream_arn = opt_.stream_arn;
  ro.starting_position = opt_.starting_position;
  ro.timestamp = opt_.starting_position_timestamp;
  ro.read_mode = stream_reader_options::mode::tail;
  ro.limit = std::clamp(opt_.batch_size, 1, 10000);
  reader_ = std::make_unique<stream_reader>(client_, ro);
}

event_source_mapping::~event_source_mapping() = default;

result<void> event_source_mapping::validate() const {
  if (opt_.batch_size < 1 || opt_.batch_size > 10000) return invalid("BatchSize must be between 1 and 10000.");
  if (opt_.maximum_batching_window < duration::zero() || opt_.maximum_batching_window > std::chrono::seconds(300)) {
    return invalid("MaximumBatchingWindowInSeconds must be between 0 and 300.");
  }
  if (opt_.parallelization_factor < 1 || opt_.parallelization_factor > 10) {
    return invalid("ParallelizationFactor must be between 1 and 10.");
  }
  if (opt_.maximum_retry_attempts < -1 || opt_.maximum_retry_attempts > 10000) {
    return invalid("MaximumRetryAttempts must be -1 or between 0 and 10000.");
  }
  if (opt_.maximum_record_age_in_seconds != -1 &&
      (opt_.maximum_record_age_in_seconds < 60 || opt_.maximum_record_age_in_seconds > 604800)) {
    return invalid("MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.");
  }
  if (opt_.starting_position != shard_iterator_type::trim_horizon &&
      opt_.starting_position != shard_iterator_type::latest &&
      opt_.starting_position != shard_iterator_type::at_timestamp) {
    return invalid("StartingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP.");
  }
  if ((opt_.starting_position == shard_iterator_type::at_timestamp) != opt_.starting_position_timestamp.has_value()) {
    return invalid("StartingPositionTimestamp is required with AT_TIMESTAMP and only allowed with it.");
  }
  return {};
}

result<void> event_source_mapping::poll() {
  if (auto v = validate(); !v) return v;
  if (stream_arn_.empty()) {
    auto d = client_.describe_stream_summary({.stream_name = opt_.stream_name, .stream_arn = opt_.stream_arn});
    if (!d) return d.error();
    stream_arn_ = d->stream_description_summary.stream_arn;
  }
  auto batch = reader_->next();
  if (!batch) return batch.error();
  const std::string shard = batch->shard_id.to_string();
  auto& slot = pending_[shard];
  if (!slot) {
    slot = std::make_unique<pending_shard>();
    slot->shard_id = shard;
  }
  const timestamp now = clock_.now();
  const auto done_seq = checkpoints_.find(shard);
  const std::optional<sequence_number> done =
      done_seq == checkpoints_.end() ? std::nullopt : sequence_number::parse(done_seq->second);
  const auto skip = [&](const sequence_number& s) { return done && s <= *done; };
  for (auto& r : batch->records) {
    if (skip(r.sequence_number)) continue;
    if (slot->records.empty()) slot->first_buffered = now;
    if (opt_.deaggregate && kpl::has_magic(r.data)) {
      auto d = kpl::deaggregate(r.data, r.partition_key);
      for (const auto& u : d.records) {
        owned_record o{r.sequence_number, r.approximate_arrival_timestamp, std::string(u.data),
                       std::string(u.partition_key), r.encryption_type};
        slot->records.push_back({std::move(o), u.sub_sequence_number, r.sequence_number.to_string()});
      }
      continue;
    }
    std::string seq = r.sequence_number.to_string();
    slot->records.push_back({std::move(r), std::nullopt, std::move(seq)});
  }
  for (auto& [id, p] : pending_) flush(*p, now, batch->shard_done && id == shard);
  return {};
}

result<void> event_source_mapping::run_until_caught_up() {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    // One pass over the shards: every shard answers once with nothing new.
    bool any = false;
    for (int i = 0; i < 64; ++i) {
      const auto before = stats_.records_processed + stats_.records_failed;
      std::size_t buffered_before = 0;
      for (auto& [id, p] : pending_) buffered_before += p->records.size();
      if (auto r = poll(); !r) return r;
      std::size_t buffered = 0;
      for (auto& [id, p] : pending_) buffered += p->records.size();
      if (buffered != buffered_before || stats_.records_processed + stats_.records_failed != before) any = true;
    }
    std::size_t buffered = 0;
    for (auto& [id, p] : pending_) buffered += p->records.size();
    if (!any && buffered == 0) return {};
    if (!any && buffered > 0) {
      // Wait out the batching window on the clock.
      clock_.sleep_for(std::max<duration>(opt_.maximum_batching_window, std::chrono::milliseconds(1)));
      const timestamp now = clock_.now();
      for (auto& [id, p] : pending_) flush(*p, now, false);
    }
  }
  return error(error_code::internal_failure, "run_until_caught_up did not converge");
}

void event_source_mapping::flush(pending_shard& p, timestamp now, bool force) {
  const auto size = static_cast<std::size_t>(opt_.batch_size);
  while (!p.records.empty()) {
    const bool full = p.records.size() >= size;
    const bool window_over = now - p.first_buffered >= opt_.maximum_batching_window;
    if (!full && !window_over && !force) return;
    const std::size_t n = std::min(size, p.records.size());
    std::vector<item> batch(std::make_move_iterator(p.records.begin()),
                            std::make_move_iterator(p.records.begin() + static_cast<std::ptrdiff_t>(n)));
    p.records.erase(p.records.begin(), p.records.begin() + static_cast<std::ptrdiff_t>(n));
    p.first_buffered = now;
    const std::string last = batch.back().sequence_number;
    if (opt_.parallelization_factor == 1) {
      process(p.shard_id, std::move(batch));
    } else {
      std::vector<std::vector<item>> parts(static_cast<std::size_t>(opt_.parallelization_factor));
      for (auto& it : batch) {
        const auto h = hash_key::of_partition_key(it.record.partition_key).value();
        parts[static_cast<std::size_t>(h % static_cast<unsigned>(opt_.parallelization_factor))].push_back(
            std::move(it));
      }
      for (auto& part : parts) {
        if (!part.empty()) process(p.shard_id, std::move(part));
      }
    }
    checkpoints_[p.shard_id] = last;
  }
}

kinesis_event event_source_mapping::make_event(const std::string& shard, const std::vector<item>& batch,
                                               std::int32_t attempt) const {
  kinesis_event ev;
  ev.shard_id = shard;
  ev.attempt = attempt;
  ev.records.reserve(batch.size());
  for (const auto& it : batch) {
    const auto& r = it.record;
    kinesis_event_record e;
    e.kinesis.partition_key = r.partition_key;
    e.kinesis.sequence_number = it.sequence_number;
    e.kinesis.data = r.data;
    e.kinesis.approximate_arrival_timestamp =
        static_cast<double>(r.approximate_arrival_timestamp.time_since_epoch().count()) / 1000.0;
    e.kinesis.sub_sequence_number = it.sub_sequence_number;
    e.event_id.reserve(shard.size() + 1 + e.kinesis.sequence_number.size());
    e.event_id.append(shard).append(1, ':').append(e.kinesis.sequence_number);
    e.aws_region = opt_.aws_region;
    e.event_source_arn = stream_arn_;
    ev.records.push_back(std::move(e));
  }
  return ev;
}

void event_source_mapping::fail(const std::string& shard, const std::vector<item>& batch, const char* condition,
                                std::int32_t invokes) {
  stats_.records_failed += static_cast<std::int64_t>(batch.size());
  if (!opt_.on_failure || batch.empty()) return;
  failure_record f;
  f.condition = condition;
  f.shard_id = shard;
  f.start_sequence_number = batch.front().record.sequence_number.to_string();
  f.end_sequence_number = batch.back().record.sequence_number.to_string();
  f.approximate_arrival_of_first_record = batch.front().record.approximate_arrival_timestamp;
  f.approximate_arrival_of_last_record = batch.back().record.approximate_arrival_timestamp;
  f.batch_size = static_cast<std::int32_t>(batch.size());
  f.stream_arn = stream_arn_;
  f.approximate_invoke_count = invokes;
  opt_.on_failure(f);
}

void event_source_mapping::process(const std::string& shard, std::vector<item> batch) {
  // Work list of (batch, attempts made so far); halves of a bisected batch go
  // to the front, first half first, so order within the shard is kept.
  std::deque<std::pair<std::vector<item>, std::int32_t>> work;
  work.emplace_back(std::move(batch), 0);
  while (!work.empty()) {
    auto [records, attempts] = std::move(work.front());
    work.pop_front();
    while (!records.empty()) {
      if (opt_.maximum_record_age_in_seconds >= 0) {
        const timestamp oldest_allowed = clock_.now() - std::chrono::seconds(opt_.maximum_record_age_in_seconds);
        // Records past the age are dropped to the destination; the rest go on.
        std::size_t expired = 0;
        while (expired < records.size() && records[expired].record.approximate_arrival_timestamp < oldest_allowed) {
          ++expired;
        }
        if (expired > 0) {
          std::vector<item> old(std::make_move_iterator(records.begin()),
                                std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(expired)));
          records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(expired));
          fail(shard, old, "RecordAgeExceeded", attempts);
          if (records.empty()) break;
        }
      }
      const kinesis_event ev = make_event(shard, records, attempts);
      const function_response resp = fn_(ev);
      ++attempts;
      ++stats_.invocations;
      std::size_t ok_prefix = records.size();
      if (resp.function_error) {
        ok_prefix = 0;
      } else if (opt_.report_batch_item_failures && !resp.batch_item_failures.empty()) {
        // The checkpoint lands just before the lowest failed record.
        for (std::size_t i = 0; i < records.size(); ++i) {
          const std::string& seq = records[i].sequence_number;
          if (std::find(resp.batch_item_failures.begin(), resp.batch_item_failures.end(), seq) !=
              resp.batch_item_failures.end()) {
            ok_prefix = i;
            break;
          }
        }
      }
      stats_.records_processed += static_cast<std::int64_t>(ok_prefix);
      if (ok_prefix > 0 && ok_prefix < records.size() && opt_.parallelization_factor == 1) {
        // ReportBatchItemFailures: the checkpoint lands just before the lowest failure.
        checkpoints_[shard] = records[ok_prefix - 1].sequence_number;
      }
      records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(ok_prefix));
      if (records.empty()) break;
      const bool exhausted = opt_.maximum_retry_attempts >= 0 && attempts > opt_.maximum_retry_attempts;
      if (resp.function_error && opt_.bisect_batch_on_function_error && records.size() > 1 && !exhausted) {
        const std::size_t half = records.size() / 2;
        std::vector<item> second(std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(half)),
                                 std::make_move_iterator(records.end()));
        records.resize(half);
        work.emplace_front(std::move(second), attempts);
        work.emplace_front(std::move(records), attempts);
        records.clear();
        break;
      }
      if (exhausted) {
        fail(shard, records, "RetryAttemptsExhausted", attempts);
        break;
      }
    }
  }
}

}  // namespace rill::lambda
