// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Stream status transitions on the clock (CREATING, UPDATING, DELETING), what
// each status allows, listing, tags, retention bounds and memory release.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

engine_options delayed() {
  engine_options o;
  o.create_stream_delay = 500ms;
  o.update_stream_delay = 500ms;
  o.delete_stream_delay = 500ms;
  return o;
}

stream_status status_of(rill::engine& e, const std::string& name) {
  auto d = e.describe_stream_summary({.stream_name = name});
  if (!d) throw std::runtime_error(d.error().to_string());
  return d->stream_description_summary.stream_status;
}

TEST(Lifecycle, CreatingStreamRefusesWritesAndBecomesActiveOnTheClock) {
  test_engine e(delayed());
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 2}));
  EXPECT_EQ(status_of(*e, "s"), stream_status::creating);
  auto put = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"});
  RILL_EXPECT_ERROR(put, error_code::resource_not_found_exception);
  EXPECT_EQ(put.error().message(), "Stream s under account 000000000000 not found.");
  auto it = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-000000000000"});
  RILL_EXPECT_ERROR(it, error_code::resource_not_found_exception);
  EXPECT_EQ(it.error().message(), "Shard shardId-000000000000 in stream s under account 000000000000 does not exist");
  auto split = e->split_shard({.stream_name = "s", .shard_to_split = "0", .new_starting_hash_key = "12345"});
  RILL_EXPECT_ERROR(split, error_code::resource_in_use_exception);
  EXPECT_EQ(split.error().message(), "Stream s under account 000000000000 not ACTIVE, instead in state CREATING");
  auto d = e->describe_stream({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_TRUE(d->stream_description.shards.empty());
  e.clock->advance(499ms);
  EXPECT_EQ(status_of(*e, "s"), stream_status::creating);
  e.clock->advance(1ms);
  EXPECT_EQ(status_of(*e, "s"), stream_status::active);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
}

TEST(Lifecycle, UpdatingStreamKeepsServingAndReshardsWhenTheUpdateEnds) {
  test_engine e(delayed());
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  e.clock->advance(500ms);
  RILL_ASSERT_OK(e->split_shard({.stream_name = "s",
                                 .shard_to_split = "shardId-000000000000",
                                 .new_starting_hash_key = "170141183460469231731687303715884105728"}));
  EXPECT_EQ(status_of(*e, "s"), stream_status::updating);
  // Reads and writes continue; the split has not happened yet.
  auto p = e->put_record({.stream_name = "s", .data = "during", .partition_key = "k"});
  RILL_ASSERT_OK(p);
  EXPECT_EQ(p->shard_id, shard_id(0));
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "s", .shard_to_merge = "0", .adjacent_shard_to_merge = "1"}),
                    error_code::resource_in_use_exception);
  RILL_EXPECT_ERROR(e->update_shard_count({.stream_name = "s", .target_shard_count = 2}),
                    error_code::resource_in_use_exception);
  e.clock->advance(500ms);
  EXPECT_EQ(status_of(*e, "s"), stream_status::active);
  auto l = e->list_shards({.stream_name = "s"});
  RILL_ASSERT_OK(l);
  EXPECT_EQ(l->shards.size(), 3u);
}

TEST(Lifecycle, DeletingStreamRefusesWritesThenDisappears) {
  test_engine e(delayed());
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  e.clock->advance(500ms);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  auto it = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-000000000000"});
  RILL_ASSERT_OK(it);
  RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));
  EXPECT_EQ(status_of(*e, "s"), stream_status::deleting);
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}),
                    error_code::resource_not_found_exception);
  auto r = e->get_records({.shard_iterator = it->shard_iterator});
  RILL_ASSERT_OK(r);  // reads continue until the stream is gone
  EXPECT_EQ(r->records.size(), 1u);
  RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));  // again while DELETING: fine
  e.clock->advance(500ms);
  RILL_EXPECT_ERROR(e->describe_stream({.stream_name = "s"}), error_code::resource_not_found_exception);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it->shard_iterator}), error_code::resource_not_found_exception);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));  // the name is free again
}

TEST(Lifecycle, StreamCanBeDeletedWhileCreating) {
  test_engine e(delayed());
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));
  e.clock->advance(1s);
  RILL_EXPECT_ERROR(e->describe_stream({.stream_name = "s"}), error_code::resource_not_found_exception);
}

TEST(Lifecycle, DescribeReportsTheInitialDescription) {
  test_engine e;
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 3, .tags = {{"team", "data"}}}));
  auto d = e->describe_stream({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  const auto& desc = d->stream_description;
  EXPECT_EQ(desc.stream_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/s");
  EXPECT_EQ(desc.stream_status, stream_status::active);
  EXPECT_EQ(desc.retention_period_hours, 24);
  EXPECT_EQ(desc.encryption_type, encryption_type::none);
  EXPECT_FALSE(desc.has_more_shards);
  ASSERT_EQ(desc.enhanced_monitoring.size(), 1u);
  EXPECT_TRUE(desc.enhanced_monitoring[0].shard_level_metrics.empty());
  EXPECT_EQ(desc.stream_creation_timestamp, e.clock->now());
  EXPECT_EQ(desc.shards.size(), 3u);
  auto by_arn = e->describe_stream_summary({.stream_arn = desc.stream_arn});
  RILL_ASSERT_OK(by_arn);
  EXPECT_EQ(by_arn->stream_description_summary.open_shard_count, 3);
  auto tags = e->list_tags_for_stream({.stream_name = "s"});
  RILL_ASSERT_OK(tags);
  EXPECT_EQ(tags->tags, (std::vector<tag>{{"team", "data"}}));
}

TEST(Lifecycle, ListStreamsIsSortedAndPaginates) {
  test_engine e;
  for (auto name : {"c", "a", "e", "b", "d"}) RILL_ASSERT_OK(e->create_stream({.stream_name = name, .shard_count = 1}));
  auto first = e->list_streams({.limit = 2});
  RILL_ASSERT_OK(first);
  EXPECT_EQ(first->stream_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(first->has_more_streams);
  ASSERT_EQ(first->stream_summaries.size(), 2u);
  EXPECT_EQ(first->stream_summaries[0].stream_arn, "arn:aws:kinesis:us-east-1:000000000000:stream/a");
  auto next = e->list_streams({.limit = 2, .next_token = first->next_token});
  RILL_ASSERT_OK(next);
  EXPECT_EQ(next->stream_names, (std::vector<std::string>{"c", "d"}));
  auto rest = e->list_streams({.exclusive_start_stream_name = "d"});
  RILL_ASSERT_OK(rest);
  EXPECT_EQ(rest->stream_names, (std::vector<std::string>{"e"}));
  EXPECT_FALSE(rest->has_more_streams);
  EXPECT_FALSE(rest->next_token);
}

TEST(Lifecycle, TagsAddOverwriteListAndRemove) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{"b", "1"}, {"a", "2"}}}));
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{"b", "3"}}}));
  auto page = e->list_tags_for_stream({.stream_name = "s", .limit = 1});
  RILL_ASSERT_OK(page);
  EXPECT_EQ(page->tags, (std::vector<tag>{{"a", "2"}}));
  EXPECT_TRUE(page->has_more_tags);
  auto rest = e->list_tags_for_stream({.stream_name = "s", .exclusive_start_tag_key = "a"});
  RILL_ASSERT_OK(rest);
  EXPECT_EQ(rest->tags, (std::vector<tag>{{"b", "3"}}));
  EXPECT_FALSE(rest->has_more_tags);
  RILL_ASSERT_OK(e->remove_tags_from_stream({.stream_name = "s", .tag_keys = {"b", "no-such-key"}}));
  auto left = e->list_tags_for_stream({.stream_name = "s"});
  RILL_ASSERT_OK(left);
  EXPECT_EQ(left->tags, (std::vector<tag>{{"a", "2"}}));
}

TEST(Lifecycle, AStreamHoldsAtMost50Tags) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::map<std::string, std::string> tags;
  for (int i = 0; i < 50; ++i) tags["k" + std::to_string(i)] = "v";
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = tags}));
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{"k7", "overwrite is fine"}}}));
  auto over = e->add_tags_to_stream({.stream_name = "s", .tags = {{"one-more", "v"}}});
  RILL_EXPECT_ERROR(over, error_code::invalid_argument_exception);
  EXPECT_NE(over.error().message().find("cannot have more than 10 tags"), std::string::npos)
      << "AWS's own text (it says 10 though the limit is 50)";
}

TEST(Lifecycle, ShardQuotaCountsOpenShardsAcrossStreams) {
  engine_options o;
  o.shard_limit = 5;
  test_engine e(o);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "a", .shard_count = 3}));
  auto over = e->create_stream({.stream_name = "b", .shard_count = 3});
  RILL_EXPECT_ERROR(over, error_code::limit_exceeded_exception);
  EXPECT_EQ(
      over.error().message(),
      "This request would exceed the shard limit for the account 000000000000 in us-east-1. Current shard count "
      "for the account: 3. Limit: 5. Number of additional shards that would have resulted from this request: 3. "
      "Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) "
      "for current limits and how to request higher limits.");
  RILL_ASSERT_OK(e->create_stream({.stream_name = "b", .shard_count = 2}));
  RILL_EXPECT_ERROR(e->split_shard({.stream_name = "b", .shard_to_split = "0", .new_starting_hash_key = "1000"}),
                    error_code::limit_exceeded_exception);
  RILL_ASSERT_OK(e->merge_shards({.stream_name = "b", .shard_to_merge = "0", .adjacent_shard_to_merge = "1"}));
  RILL_ASSERT_OK(e->split_shard({.stream_name = "b", .shard_to_split = "2", .new_starting_hash_key = "1000"}));
  auto limits = e->describe_limits();
  RILL_ASSERT_OK(limits);
  EXPECT_EQ(limits->shard_limit, 5);
  EXPECT_EQ(limits->open_shard_count, 5);
}

// A storage that lets the test see how much memory shard logs hold.
class observed_storage final : public storage {
 public:
  result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) override {
    auto log = inner_->create_log(key);
    if (log) logs_[key.shard.index()] = log->get();
    return log;
  }
  void remove_log(const shard_log_key& key) override {
    logs_.erase(key.shard.index());
    ++removed;
  }
  std::size_t bytes(std::uint32_t shard) const { return logs_.at(shard)->memory_bytes(); }
  bool has(std::uint32_t shard) const { return logs_.count(shard) > 0; }
  int removed = 0;

 private:
  std::shared_ptr<storage> inner_ = make_memory_storage({.segment_bytes = 4096});
  std::map<std::uint32_t, shard_log*> logs_;
};

TEST(Lifecycle, TrimmingReleasesTheMemoryOfExpiredRecordsAndShards) {
  auto store = std::make_shared<observed_storage>();
  engine_options o;
  o.storage = store;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  const std::string payload(100, 'x');
  for (int i = 0; i < 2000; ++i) s.put("k", payload);
  const std::size_t full = store->bytes(0);
  EXPECT_GT(full, 200'000u);
  e.clock->advance(23h);
  for (int i = 0; i < 10; ++i) s.put("k", payload);
  e.clock->advance(1h);  // the first 2000 expire; the trimmer runs every minute
  EXPECT_LT(store->bytes(0), full / 10);
  EXPECT_EQ(s.read_all(shard_id(0)).size(), 10u);
  s.split(shard_id(0), hash_key(1ULL << 60));
  e.clock->advance(24h + 1min);
  EXPECT_FALSE(store->has(0));  // the closed shard expired and its log was dropped
  EXPECT_EQ(store->removed, 1);
}

}  // namespace
}  // namespace rill::testing
