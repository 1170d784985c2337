// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The API surface AWS added since 2023 (large records, ARN tagging, resource
// policies, StreamId) and the AWS FIS fault actions.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "builder.hpp"
#include "rill/faults.hpp"
#include "storage/temp_dir.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

std::string arn_of(test_engine& e, const std::string& name) {
  auto d = e->describe_stream_summary({.stream_name = name});
  if (!d) throw std::runtime_error(d.error().to_string());
  return d->stream_description_summary.stream_arn;
}

TEST(LargeRecords, MaxRecordSizeIsSetShownAndEnforced) {
  test_engine e;
  for (int kib : {0, 1023, 10241}) {
    SCOPED_TRACE(kib);
    auto bad = e->create_stream({.stream_name = "x", .shard_count = 1, .max_record_size_in_kib = kib});
    RILL_EXPECT_ERROR(bad, error_code::validation_exception);
    EXPECT_NE(bad.error().message().find(
                  "at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value " +
                  std::string(kib < 1024 ? "greater than or equal to 1024" : "less than or equal to 10240")),
              std::string::npos)
        << bad.error().message();
  }
  RILL_ASSERT_OK(e->create_stream({.stream_name = "big", .shard_count = 1, .max_record_size_in_kib = 4096}));
  stream_builder plain(*e, "plain", 1);
  auto sum = e->describe_stream_summary({.stream_name = "big"});
  RILL_ASSERT_OK(sum);
  EXPECT_EQ(sum->stream_description_summary.max_record_size_in_kib, 4096);
  auto desc = e->describe_stream({.stream_name = "plain"});
  RILL_ASSERT_OK(desc);
  EXPECT_EQ(desc->stream_description.max_record_size_in_kib, 1024);

  const std::string two_mib(2 << 20, 'a');
  RILL_EXPECT_OK(e->put_record({.stream_name = "big", .data = two_mib, .partition_key = "k"}));
  // The default stream keeps AWS's 1 MiB bound and its text.
  const std::string over_one(1048577, 'a');
  auto refused = e->put_record({.stream_name = "plain", .data = over_one, .partition_key = "k"});
  RILL_EXPECT_ERROR(refused, error_code::validation_exception);
  EXPECT_EQ(refused.error().message(),
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' "
            "failed to satisfy constraint: Member must have length less than or equal to 1048576");
  const std::string over_four((4 << 20) + 1, 'a');
  auto big_refused = e->put_record({.stream_name = "big", .data = over_four, .partition_key = "k"});
  RILL_EXPECT_ERROR(big_refused, error_code::validation_exception);
  EXPECT_NE(big_refused.error().message().find("less than or equal to 4194304"), std::string::npos);

  // Raised to 10 MiB: an 8 MiB record goes in, and so does a 7 MiB PutRecords.
  const std::string arn = arn_of(e, "big");
  RILL_ASSERT_OK(e->update_max_record_size({.stream_arn = arn, .max_record_size_in_kib = 10240}));
  EXPECT_EQ(e->describe_stream_summary({.stream_name = "big"})->stream_description_summary.max_record_size_in_kib,
            10240);
  const std::string eight_mib(8 << 20, 'b');
  RILL_EXPECT_OK(e->put_record({.stream_name = "big", .data = eight_mib, .partition_key = "k"}));
  const std::string mib(1 << 20, 'c');
  const std::string almost_mib((1 << 20) - 1, 'c');
  std::vector<put_records_request_entry> seven(7, put_records_request_entry{.data = almost_mib, .partition_key = "k"});
  auto batch = e->put_records({.stream_name = "big", .records = seven});
  RILL_ASSERT_OK(batch);
  EXPECT_EQ(batch->failed_record_count, 0);
  // On a default stream the same request is over the 5 MiB cap.
  auto capped = e->put_records({.stream_name = "plain", .records = seven});
  RILL_EXPECT_ERROR(capped, error_code::invalid_argument_exception);
  EXPECT_EQ(capped.error().message(), "Records size exceeds 5 MB limit");
  std::vector<put_records_request_entry> eleven(11,
                                                put_records_request_entry{.data = almost_mib, .partition_key = "k"});
  auto over_ten = e->put_records({.stream_name = "plain", .records = eleven});
  RILL_EXPECT_ERROR(over_ten, error_code::invalid_argument_exception);
  EXPECT_EQ(over_ten.error().message(), "Records size exceeds 5 MB limit");  // the stream's cap, not the model's
  auto big_over_ten = e->put_records({.stream_name = "big", .records = eleven});
  RILL_EXPECT_ERROR(big_over_ten, error_code::invalid_argument_exception);
  EXPECT_EQ(big_over_ten.error().message(), "Records size exceeds 10 MB limit");

  auto out_of_range = e->update_max_record_size({.stream_arn = arn, .max_record_size_in_kib = 512});
  RILL_EXPECT_ERROR(out_of_range, error_code::validation_exception);
  auto missing =
      e->update_max_record_size({.stream_arn = "arn:aws:kinesis:us-east-1:" + e->options().account_id + ":stream/nope",
                                 .max_record_size_in_kib = 2048});
  RILL_EXPECT_ERROR(missing, error_code::resource_not_found_exception);
}

// Per-shard limits are unchanged: a large record is taken from a full bucket
// at once (the burst) and the shard's later writes wait until it refilled.
TEST(LargeRecords, BurstUnderUnchangedShardLimits) {
  engine_options o;
  o.throughput.enabled = true;
  test_engine e(o);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "big", .shard_count = 1, .max_record_size_in_kib = 10240}));
  const std::string five_mib(5 << 20, 'a');
  RILL_ASSERT_OK(e->put_record({.stream_name = "big", .data = five_mib, .partition_key = "k"}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "big", .data = "x", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.advance(3s);
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "big", .data = "x", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.advance(3s);
  RILL_EXPECT_OK(e->put_record({.stream_name = "big", .data = "x", .partition_key = "k"}));
}

TEST(LargeRecords, MaxRecordSizeAndPolicySurviveRestart) {
  temp_dir dir;
  auto clock = std::make_shared<manual_clock>();
  engine_options o;
  o.clock = clock;
  o.data_directory = dir.path();
  const std::string policy = R"({"Version":"2012-10-17","Statement":[]})";
  std::string arn;
  {
    auto e = engine::open(o);
    RILL_ASSERT_OK(e);
    RILL_ASSERT_OK((*e)->create_stream({.stream_name = "s", .shard_count = 1, .max_record_size_in_kib = 2048}));
    arn = (*e)->describe_stream_summary({.stream_name = "s"})->stream_description_summary.stream_arn;
    RILL_ASSERT_OK((*e)->put_resource_policy({.resource_arn = arn, .policy = policy}));
  }
  auto e = engine::open(o);
  RILL_ASSERT_OK(e);
  EXPECT_EQ((*e)->describe_stream_summary({.stream_name = "s"})->stream_description_summary.max_record_size_in_kib,
            2048);
  auto got = (*e)->get_resource_policy({.resource_arn = arn});
  RILL_ASSERT_OK(got);
  EXPECT_EQ(got->policy, policy);
}

TEST(ResourceTags, StreamAndConsumerArns) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  RILL_ASSERT_OK(e->tag_resource({.resource_arn = arn, .tags = {{"team", "a"}, {"env", "test"}}}));
  auto tags = e->list_tags_for_resource({.resource_arn = arn});
  RILL_ASSERT_OK(tags);
  EXPECT_EQ(tags->tags, (std::vector<tag>{{"env", "test"}, {"team", "a"}}));
  // The same tags as the stream-name operations see.
  EXPECT_EQ(e->list_tags_for_stream({.stream_name = "s"})->tags.size(), 2U);
  RILL_ASSERT_OK(e->untag_resource({.resource_arn = arn, .tag_keys = {"env", "unknown"}}));
  EXPECT_EQ(e->list_tags_for_resource({.resource_arn = arn})->tags, (std::vector<tag>{{"team", "a"}}));
  // AWS's character set: tab and newline refused.
  RILL_EXPECT_ERROR(e->tag_resource({.resource_arn = arn, .tags = {{"k", "a\tb"}}}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->untag_resource({.resource_arn = arn, .tag_keys = {"a\nb"}}),
                    error_code::invalid_argument_exception);
  auto bad = e->tag_resource({.resource_arn = "nope", .tags = {{"k", "v"}}});
  RILL_EXPECT_ERROR(bad, error_code::validation_exception);
  EXPECT_EQ(bad.error().message(),
            "1 validation error detected: Value 'nope' at 'resourceARN' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:.*stream/\\S+");
  auto gone = e->list_tags_for_resource(
      {.resource_arn = "arn:aws:kinesis:us-east-1:" + e->options().account_id + ":stream/gone"});
  RILL_EXPECT_ERROR(gone, error_code::resource_not_found_exception);

  auto c = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"});
  RILL_ASSERT_OK(c);
  const std::string carn = c->consumer.consumer_arn;
  RILL_ASSERT_OK(e->tag_resource({.resource_arn = carn, .tags = {{"owner", "me"}}}));
  EXPECT_EQ(e->list_tags_for_resource({.resource_arn = carn})->tags, (std::vector<tag>{{"owner", "me"}}));
  EXPECT_EQ(e->list_tags_for_resource({.resource_arn = arn})->tags, (std::vector<tag>{{"team", "a"}}));
  RILL_EXPECT_ERROR(e->list_tags_for_resource({.resource_arn = arn + "/consumer/other:1"}),
                    error_code::resource_not_found_exception);
}

TEST(ResourcePolicy, StoredValidatedAndDeleted) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  auto none = e->get_resource_policy({.resource_arn = arn});
  RILL_ASSERT_OK(none);
  EXPECT_EQ(none->policy, "{}");
  for (const char* doc : {"not json", "[1, 2]", "{\"a\": "}) {
    SCOPED_TRACE(doc);
    RILL_EXPECT_ERROR(e->put_resource_policy({.resource_arn = arn, .policy = doc}),
                      error_code::invalid_argument_exception);
  }
  auto empty = e->put_resource_policy({.resource_arn = arn, .policy = ""});
  RILL_EXPECT_ERROR(empty, error_code::validation_exception);
  const std::string huge = "{\"k\": \"" + std::string(20480, 'x') + "\"}";
  auto too_big = e->put_resource_policy({.resource_arn = arn, .policy = huge});
  RILL_EXPECT_ERROR(too_big, error_code::validation_exception);
  EXPECT_NE(too_big.error().message().find("at 'policy' failed to satisfy constraint: Member must have length less "
                                           "than or equal to 20480"),
            std::string::npos);
  const std::string policy = R"({"Version": "2012-10-17", "Statement": []})";
  RILL_ASSERT_OK(e->put_resource_policy({.resource_arn = arn, .policy = policy}));
  EXPECT_EQ(e->get_resource_policy({.resource_arn = arn})->policy, policy);
  RILL_ASSERT_OK(e->delete_resource_policy({.resource_arn = arn}));
  EXPECT_EQ(e->get_resource_policy({.resource_arn = arn})->policy, "{}");
  RILL_EXPECT_ERROR(e->delete_resource_policy({.resource_arn = arn}), error_code::resource_not_found_exception);

  auto c = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"});
  RILL_ASSERT_OK(c);
  RILL_ASSERT_OK(e->put_resource_policy({.resource_arn = c->consumer.consumer_arn, .policy = policy}));
  EXPECT_EQ(e->get_resource_policy({.resource_arn = c->consumer.consumer_arn})->policy, policy);
  EXPECT_EQ(e->get_resource_policy({.resource_arn = arn})->policy, "{}");
}

TEST(StreamId, ValidatedWhereAccepted) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string good = "abcdefghij0123456789-abc";
  RILL_EXPECT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k", .stream_id = good}));
  RILL_EXPECT_OK(e->describe_stream_summary({.stream_name = "s", .stream_id = good}));
  auto bad = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k", .stream_id = "ABC"});
  RILL_EXPECT_ERROR(bad, error_code::validation_exception);
  EXPECT_EQ(bad.error().message(),
            "1 validation error detected: Value 'ABC' at 'streamId' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: [a-z0-9]{20}-[a-z0-9]{3}");
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = "x", .stream_id = ""}), error_code::validation_exception);
}

// AWS FIS: a share of PutRecords entries throttled, seeded, with the ordering
// rule of real throttling; GetRecords throttled; for a while only.
TEST(FisFaults, ThrottlePercentageDeterministicAndOrdered) {
  auto run = [](std::uint64_t seed) {
    test_engine e;
    stream_builder s(*e, "s", 1);
    fault_plan plan{.seed = seed};
    plan.rules.push_back(fis_provisioned_throughput_exception("PutRecords", 5.0, 60s));
    e->set_fault_plan(plan);
    std::vector<put_records_request_entry> entries(200, put_records_request_entry{.data = "d", .partition_key = "k"});
    auto out = e->put_records({.stream_name = "s", .records = entries});
    if (!out) throw std::runtime_error(out.error().to_string());
    std::vector<bool> ok;
    for (const auto& r : out->records) ok.push_back(r.ok());
    // After the action's duration nothing is throttled.
    e.advance(61s);
    auto later = e->put_records({.stream_name = "s", .records = entries});
    if (!later || later->failed_record_count != 0) throw std::runtime_error("throttled after the duration");
    return ok;
  };
  const auto a = run(7);
  EXPECT_EQ(a, run(7));  // seeded: the same outcome
  // One shard: accepted entries form a prefix, then every entry is refused.
  const auto first_refused = std::find(a.begin(), a.end(), false);
  ASSERT_NE(first_refused, a.end()) << "5% of 200 entries: at least one refusal expected for seed 7";
  EXPECT_TRUE(std::none_of(first_refused, a.end(), [](bool b) { return b; }));

  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "d");
  auto it = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-0"});
  RILL_ASSERT_OK(it);
  fault_plan plan{.seed = 1};
  plan.rules.push_back(fis_provisioned_throughput_exception("GetRecords", 100.0));
  e->set_fault_plan(plan);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it->shard_iterator}),
                    error_code::provisioned_throughput_exceeded_exception);
  EXPECT_THROW(fis_provisioned_throughput_exception("ListShards", 10.0), std::invalid_argument);
  EXPECT_THROW(fis_provisioned_throughput_exception("PutRecord", 101.0), std::invalid_argument);
}

TEST(FisFaults, ExpireIteratorsIssuedBeforeTheAction) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "d");
  auto old_it = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-0"});
  RILL_ASSERT_OK(old_it);
  e.advance(1s);
  fault_plan plan{.seed = 3};
  plan.rules.push_back(fis_expired_iterator_exception(100.0, 120s));
  e->set_fault_plan(plan);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = old_it->shard_iterator}), error_code::expired_iterator_exception);
  // A fresh iterator works, as on AWS.
  auto fresh = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-0"});
  RILL_ASSERT_OK(fresh);
  auto got = e->get_records({.shard_iterator = fresh->shard_iterator});
  RILL_ASSERT_OK(got);
  EXPECT_EQ(got->records.size(), 1U);
  // After the action's duration, even an iterator from before it works again
  // (while it is younger than 300 s).
  e.advance(121s);
  RILL_EXPECT_OK(e->get_records({.shard_iterator = old_it->shard_iterator}));
}

}  // namespace
}  // namespace rill::testing
