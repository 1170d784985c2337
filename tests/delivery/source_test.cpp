// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A Kinesis stream as the source: read through rill::kinesis (rill::engine on
// the same manual clock) by the built-in reader, which starts at LATEST,
// follows resharding, and checkpoints only what reached its final place.
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include "helpers.hpp"
#include "rill/engine.hpp"
#include "rill/logging.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
const std::string stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/src";

struct world {
  temp_dir dir;
  temp_dir checkpoints;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<engine> kinesis;
  std::unique_ptr<local_firehose> firehose;
  std::vector<delivery::transformation_event> events;
  world() {
    kinesis = std::make_shared<engine>(engine_options{.clock = clock});
    EXPECT_TRUE(kinesis->create_stream({.stream_name = "src", .shard_count = 2}).ok());
  }
  firehose_options options() {
    firehose_options o;
    o.clock = clock;
    o.s3_directory = dir.path;
    o.kinesis = kinesis;
    o.checkpoint_directory = checkpoints.path;
    o.lambda_functions["arn:aws:lambda:us-east-1:000000000000:function:id"] =
        [this](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
      events.push_back(e);
      delivery::transformation_response out;
      for (const auto& r : e.records) out.records.push_back({r.record_id, "Ok", r.data, {}});
      return out;
    };
    return o;
  }
  void start(firehose_options o, bool lambda = false) {
    firehose = std::make_unique<local_firehose>(std::move(o));
    auto c = s3();
    c.buffering_hints = hints(1, 60);
    c.processing_configuration = delivery::processing_configuration{
        .enabled = true, .processors = {{.type = "AppendDelimiterToRecord", .parameters = {}}}};
    if (lambda)
      c.processing_configuration->processors.push_back(
          {.type = "Lambda",
           .parameters = {{"LambdaArn", "arn:aws:lambda:us-east-1:000000000000:function:id"},
                          {"BufferIntervalInSeconds", "0"}}});
    auto r = firehose->create_delivery_stream(
        {.delivery_stream_name = "d",
         .delivery_stream_type = "KinesisStreamAsSource",
         .kinesis_stream_source_configuration =
             delivery::kinesis_stream_source_configuration{.kinesis_stream_arn = stream_arn,
                                                           .role_arn = "arn:aws:iam::000000000000:role/r"},
         .extended_s3_destination_configuration = c});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  void put(const std::string& data, const std::string& key) {
    auto r = kinesis->put_record({.stream_name = "src", .data = data, .partition_key = key});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  std::multiset<std::string> delivered() {
    std::multiset<std::string> out;
    for (const auto& [k, v] : read_tree(dir.path / "bucket"))
      for (const auto& l : lines(v)) out.insert(l);
    return out;
  }
};

TEST(DeliverySource, ReadsFromLatestWithMetadataAndRefusesDirectPut) {
  world w;
  w.put("before", "k");
  w.start(w.options(), true);
  RILL_EXPECT_ERROR(w.firehose->put_record({.delivery_stream_name = "d", .record = {.data = "x"}}),
                    error_code::invalid_source_exception);
  std::string x = "x";
  RILL_EXPECT_ERROR(w.firehose->put_record_batch({.delivery_stream_name = "d", .records = {{x}}}),
                    error_code::invalid_source_exception);
  w.put("after-1", "k1");
  w.put("after-2", "k2");
  w.clock->advance(1s);  // one poll: the Lambda sees the records at once (interval 0)
  ASSERT_EQ(w.events.size(), 1u);
  const auto& e = w.events[0];
  EXPECT_EQ(e.source_kinesis_stream_arn, stream_arn);
  ASSERT_EQ(e.records.size(), 2u);
  ASSERT_TRUE(e.records[0].kinesis_record_metadata.has_value());
  const auto& m = *e.records[0].kinesis_record_metadata;
  EXPECT_TRUE(m.shard_id.rfind("shardId-", 0) == 0);
  EXPECT_FALSE(m.sequence_number.empty());
  EXPECT_EQ(m.approximate_arrival_timestamp, e.records[0].approximate_arrival_timestamp);
  EXPECT_NE(e.to_json().find("\"kinesisRecordMetadata\""), std::string::npos);
  w.clock->advance(60s);
  EXPECT_EQ(w.delivered(), (std::multiset<std::string>{"after-1", "after-2"}));
  auto d = w.firehose->describe_delivery_stream({.delivery_stream_name = "d"});
  ASSERT_TRUE(d->delivery_stream_description.source.has_value());
  EXPECT_EQ(d->delivery_stream_description.source->kinesis_stream_source_description->delivery_start_timestamp,
            manual_clock::default_start);
}

TEST(DeliverySource, RestartResumesAfterTheCheckpointExactlyOnce) {
  world w;
  w.start(w.options());
  for (int i = 0; i < 10; ++i) w.put("a" + std::to_string(i), "k" + std::to_string(i));
  w.clock->advance(61s);
  EXPECT_EQ(w.delivered().size(), 10u);
  RILL_ASSERT_OK(w.firehose->shutdown());
  w.firehose.reset();
  // While no firehose runs, the stream gets more records; the next one resumes after the checkpoint.
  for (int i = 0; i < 10; ++i) w.put("b" + std::to_string(i), "k" + std::to_string(i));
  w.start(w.options());
  w.clock->advance(61s);
  auto got = w.delivered();
  EXPECT_EQ(got.size(), 20u);
  for (const auto& r : got) EXPECT_EQ(got.count(r), 1u) << r;
}

TEST(DeliverySource, UndeliveredRecordsAreReadAgainAfterARestart) {
  rill::logger()->set_level(spdlog::level::off);
  world w;
  auto o = w.options();
  auto fs = std::make_shared<flaky_file_system>();
  bool down = true;
  fs->fail_rename = [&](const std::filesystem::path& to) {
    return down && to.string().find("/bucket/") != std::string::npos;
  };
  o.file_system = fs;
  w.start(o);
  w.put("first", "k");
  w.clock->advance(61s);
  EXPECT_TRUE(w.delivered().empty());
  auto shut = w.firehose->shutdown();
  EXPECT_FALSE(shut.ok());  // the destination still fails and there is no backup
  EXPECT_EQ(w.firehose->statistics("d")->lost_records, 1);
  w.firehose.reset();
  down = false;
  w.start(o);
  w.clock->advance(61s);
  EXPECT_EQ(w.delivered(), (std::multiset<std::string>{"first"}));  // at-least-once
}

TEST(DeliverySource, FollowsReshardingParentsBeforeChildren) {
  world w;
  w.start(w.options());
  for (int i = 0; i < 20; ++i) w.put("p" + std::to_string(i), "key" + std::to_string(i % 5));
  auto shards = w.kinesis->list_shards({.stream_name = "src"});
  ASSERT_TRUE(shards.ok());
  const auto& s0 = shards->shards[0];
  auto mid = hash_key(s0.hash_key_range.starting_hash_key.value() +
                      (s0.hash_key_range.ending_hash_key.value() - s0.hash_key_range.starting_hash_key.value()) / 2);
  RILL_ASSERT_OK(w.kinesis->split_shard(
      {.stream_name = "src", .shard_to_split = s0.shard_id.to_string(), .new_starting_hash_key = mid.to_string()}));
  for (int i = 20; i < 40; ++i) w.put("c" + std::to_string(i), "key" + std::to_string(i % 5));
  w.clock->advance(5s);
  w.clock->advance(60s);
  auto got = w.delivered();
  EXPECT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got.count((i < 20 ? "p" : "c") + std::to_string(i)), 1u) << i;
}

TEST(DeliverySource, MissingStreamOrKinesisIsRefused) {
  world w;
  auto o = w.options();
  o.kinesis = nullptr;
  local_firehose f(o);
  auto req = delivery::create_delivery_stream_request{
      .delivery_stream_name = "d",
      .delivery_stream_type = "KinesisStreamAsSource",
      .kinesis_stream_source_configuration =
          delivery::kinesis_stream_source_configuration{.kinesis_stream_arn = stream_arn,
                                                        .role_arn = "arn:aws:iam::000000000000:role/r"},
      .extended_s3_destination_configuration = s3()};
  RILL_EXPECT_ERROR(f.create_delivery_stream(req), error_code::invalid_argument_exception);
  local_firehose g(w.options());
  req.kinesis_stream_source_configuration->kinesis_stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/nope";
  RILL_EXPECT_ERROR(g.create_delivery_stream(req), error_code::invalid_argument_exception);
  req.kinesis_stream_source_configuration->kinesis_stream_arn = "stream/src";
  RILL_EXPECT_ERROR(g.create_delivery_stream(req), error_code::validation_exception);
}

}  // namespace
}  // namespace rill::testing
