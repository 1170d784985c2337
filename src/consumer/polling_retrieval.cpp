// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Polling retrieval: GetShardIterator once, then GetRecords; an iterator that
// fails (expired, or any error) is re-created after the last record returned.
#include "rill/kcl.hpp"

namespace rill::kcl {
namespace {

class polling_retrieval final : public record_retrieval {
 public:
  polling_retrieval(rill::kinesis& kinesis, retrieval_start start) : kinesis_(kinesis), start_(std::move(start)) {}

  result<get_records_result> get_next_batch() override {
    if (!iterator_) {
      get_shard_iterator_request req;
      req.stream_name = start_.stream_name;
      req.shard_id = start_.shard_id;
      if (last_sequence_number_) {
        req.shard_iterator_type = shard_iterator_type::after_sequence_number;
        req.starting_sequence_number = *last_sequence_number_;
      } else if (start_.position == extended_sequence_number::trim_horizon()) {
        req.shard_iterator_type = shard_iterator_type::trim_horizon;
      } else if (start_.position == extended_sequence_number::latest()) {
        req.shard_iterator_type = shard_iterator_type::latest;
      } else if (start_.position == extended_sequence_number::at_timestamp()) {
        req.shard_iterator_type = shard_iterator_type::at_timestamp;
        req.timestamp = start_.timestamp;
      } else {
        // The aggregate holding the checkpointed sub-record is read again; the
        // scheduler drops what is at or before the checkpoint.
        req.shard_iterator_type = shard_iterator_type::at_sequence_number;
        req.starting_sequence_number = start_.position.sequence_number;
      }
      auto it = kinesis_.get_shard_iterator(req);
      if (!it) return it.error();
      iterator_ = std::move(it->shard_iterator);
    }
    auto got = kinesis_.get_records({.shard_iterator = *iterator_, .limit = start_.max_records});
    if (!got) {
      iterator_.reset();
      return got.error();
    }
    if (!got->records.empty()) last_sequence_number_ = got->records.back().sequence_number.to_string();
    iterator_ = got->next_shard_iterator;
    return got;
  }

 private:
  rill::kinesis& kinesis_;
  retrieval_start start_;
  std::optional<std::string> iterator_;
  std::optional<std::string> last_sequence_number_;
};

class polling_factory final : public retrieval_factory {
 public:
  std::unique_ptr<record_retrieval> create(rill::kinesis& kinesis, const retrieval_start& start) override {
    return std::make_unique<polling_retrieval>(kinesis, start);
  }
};

}  // namespace

std::shared_ptr<retrieval_factory> make_polling_retrieval_factory() { return std::make_shared<polling_factory>(); }

}  // namespace rill::kcl
