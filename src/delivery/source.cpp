// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "delivery/source.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <nlohmann/json.hpp>

#include "rill/logging.hpp"

namespace rill::delivery {
namespace {

class kinesis_reader final : public record_source {
 public:
  kinesis_reader(std::shared_ptr<kinesis> k, std::string arn, timestamp now, std::shared_ptr<file_system> fs,
                 std::filesystem::path file)
      : kinesis_(std::move(k)), arn_(std::move(arn)), start_(now), fs_(std::move(fs)), file_(std::move(file)) {
    if (!file_.empty() && fs_) {
      auto text = read_whole_file(*fs_, file_.string());
      if (text) {
        auto doc = nlohmann::json::parse(*text, nullptr, false);
        if (doc.is_object() && doc.contains("shards") && doc["shards"].is_object()) {
          for (const auto& [shard, seq] : doc["shards"].items())
            if (seq.is_string()) checkpoints_[shard] = seq.get<std::string>();
          if (doc.contains("start") && doc["start"].is_number_integer()) {
            start_ = timestamp(duration(doc["start"].get<std::int64_t>()));
            resumed_ = true;
          }
        } else {
          rill::logger()->warn("delivery: ignoring a malformed checkpoint file {}", file_.string());
        }
      }
    }
    resumed_ = resumed_ || !checkpoints_.empty();
    // The start is kept too: a restart reads shards without a checkpoint from it.
    if (!resumed_) persist();
  }

  poll_result poll() override {
    poll_result out;
    discover();
    for (auto& [id, s] : shards_) {
      if (s.read_done) continue;
      if (!parents_done(s)) continue;
      if (!s.iterator) {
        get_shard_iterator_request req{.stream_arn = arn_, .shard_id = id};
        if (s.last_read) {
          req.shard_iterator_type = shard_iterator_type::after_sequence_number;
          req.starting_sequence_number = *s.last_read;
        } else {
          req.shard_iterator_type = s.start_type;
          if (s.start_after) req.starting_sequence_number = *s.start_after;
          if (s.start_type == shard_iterator_type::at_timestamp) req.timestamp = start_;
        }
        auto it = kinesis_->get_shard_iterator(req);
        if (!it) {
          log_error("GetShardIterator", it.error());
          continue;
        }
        s.iterator = it->shard_iterator;
      }
      auto got = kinesis_->get_records({.shard_iterator = *s.iterator, .limit = 10000});
      if (!got) {
        if (got.error().code() == error_code::provisioned_throughput_exceeded_exception) {
          ++out.throttled_get_records;
        } else {
          // Expired or invalid iterators are re-made from the last record read.
          s.iterator.reset();
          log_error("GetRecords", got.error());
        }
        continue;
      }
      for (const auto& r : got->records) {
        out.records.push_back({std::string(r.data), r.approximate_arrival_timestamp, id, std::string(r.partition_key),
                               r.sequence_number.to_string()});
        s.last_read = out.records.back().sequence_number;
      }
      out.millis_behind_latest = std::max(out.millis_behind_latest, got->millis_behind_latest);
      if (got->next_shard_iterator) {
        s.iterator = *got->next_shard_iterator;
      } else {
        s.iterator.reset();
        s.read_done = true;
        if (!s.last_read || (s.acked && *s.acked == *s.last_read)) mark_end(id);
      }
    }
    return out;
  }

  void checkpoint(const std::string& shard_id, const std::string& sequence_number) override {
    auto it = shards_.find(shard_id);
    if (it != shards_.end()) {
      it->second.acked = sequence_number;
      if (it->second.read_done && it->second.last_read == sequence_number) {
        mark_end(shard_id);
        return;
      }
    }
    checkpoints_[shard_id] = sequence_number;
    persist();
  }

  [[nodiscard]] timestamp start_timestamp() const override { return start_; }

 private:
  struct shard_state {
    std::optional<std::string> parent{};
    std::optional<std::string> adjacent_parent{};
    shard_iterator_type start_type = shard_iterator_type::trim_horizon;
    std::optional<std::string> start_after{};
    std::optional<std::string> iterator{};
    std::optional<std::string> last_read{};
    std::optional<std::string> acked{};
    bool read_done = false;
  };

  void discover() {
    std::optional<std::string> token;
    bool initial = !listed_;
    do {
      list_shards_request req;
      if (token)
        req.next_token = token;
      else
        req.stream_arn = arn_;
      auto page = kinesis_->list_shards(req);
      if (!page) {
        log_error("ListShards", page.error());
        return;
      }
      for (const auto& sh : page->shards) {
        auto id = sh.shard_id.to_string();
        if (shards_.count(id)) continue;
        shard_state s;
        if (sh.parent_shard_id) s.parent = sh.parent_shard_id->to_string();
        if (sh.adjacent_parent_shard_id) s.adjacent_parent = sh.adjacent_parent_shard_id->to_string();
        auto cp = checkpoints_.find(id);
        if (cp != checkpoints_.end()) {
          if (cp->second == "SHARD_END") {
            s.read_done = true;
          } else {
            s.start_type = shard_iterator_type::after_sequence_number;
            s.start_after = cp->second;
          }
        } else if (initial && !resumed_) {
          // Firehose starts at LATEST; shards already closed have nothing after it.
          if (sh.sequence_number_range.ending_sequence_number)
            s.read_done = true;
          else
            s.start_type = shard_iterator_type::latest;
        } else if (resumed_) {
          s.start_type = shard_iterator_type::at_timestamp;
        }
        shards_.emplace(std::move(id), std::move(s));
      }
      token = page->next_token;
    } while (token);
    listed_ = true;
  }

  bool parents_done(const shard_state& s) const {
    for (const auto* p : {&s.parent, &s.adjacent_parent}) {
      if (!*p) continue;
      auto it = shards_.find(**p);
      if (it != shards_.end() && !it->second.read_done) return false;
    }
    return true;
  }

  void mark_end(const std::string& id) {
    checkpoints_[id] = "SHARD_END";
    persist();
  }

  void persist() {
    if (file_.empty() || !fs_) return;
    nlohmann::json doc;
    doc["start"] = start_.time_since_epoch().count();
    doc["shards"] = nlohmann::json::object();
    for (const auto& [shard, seq] : checkpoints_) doc["shards"][shard] = seq;
    if (auto r = delivery::write_file_atomically(*fs_, file_.string(), doc.dump()); !r)
      rill::logger()->warn("delivery: checkpoint not written: {}", r.error().to_string());
  }

  void log_error(std::string_view op, const error& e) {
    // Rate-limited: at most one line per 100 failures.
    if (errors_++ % 100 == 0) rill::logger()->warn("delivery: {} on {} failed: {}", op, arn_, e.to_string());
  }

  std::shared_ptr<kinesis> kinesis_;
  std::string arn_;
  timestamp start_;
  std::shared_ptr<file_system> fs_;
  std::filesystem::path file_;
  std::map<std::string, std::string> checkpoints_;
  std::map<std::string, shard_state> shards_;
  bool listed_ = false;
  bool resumed_ = false;
  std::uint64_t errors_ = 0;
};

}  // namespace

std::unique_ptr<record_source> make_kinesis_reader(std::shared_ptr<kinesis> kinesis, std::string stream_arn,
                                                   timestamp now, std::shared_ptr<file_system> fs,
                                                   std::filesystem::path checkpoint_file) {
  return std::make_unique<kinesis_reader>(std::move(kinesis), std::move(stream_arn), now, std::move(fs),
                                          std::move(checkpoint_file));
}

}  // namespace rill::delivery
