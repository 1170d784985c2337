// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// Enhanced fan-out consumers: names, ARNs, statuses on the clock, limits, pagination, DeleteStream.
#include <gtest/gtest.h>

#include <string>

#include "rill/engine.hpp"
#include "rill/testing.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::stream_builder;
using testing::test_engine;
using testing::value_or_throw;

std::string arn_of(test_engine& e, const std::string& name) {
  return value_or_throw(e->describe_stream_summary({.stream_name = name}), "summary")
      .stream_description_summary.stream_arn;
}

TEST(FanoutRegistry, RegisterGivesAwsShapedArnAndActiveStatus) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string stream_arn = arn_of(e, "s");
  auto r = e->register_stream_consumer({.stream_arn = stream_arn, .consumer_name = "alerts"});
  ASSERT_OK(r);
  const auto& c = r->consumer;
  EXPECT_EQ(c.consumer_name, "alerts");
  EXPECT_EQ(c.consumer_arn, stream_arn + "/consumer/alerts:1704067200");
  EXPECT_EQ(c.consumer_status, consumer_status::active);
  EXPECT_EQ(c.consumer_creation_timestamp, e.clock->now());
  auto d = e->describe_stream_consumer({.consumer_arn = c.consumer_arn});
  ASSERT_OK(d);
  EXPECT_EQ(d->consumer_description.stream_arn, stream_arn);
  auto by_name = e->describe_stream_consumer({.stream_arn = stream_arn, .consumer_name = "alerts"});
  ASSERT_OK(by_name);
  EXPECT_EQ(by_name->consumer_description.consumer_arn, c.consumer_arn);
  EXPECT_EQ(
      value_or_throw(e->describe_stream_summary({.stream_name = "s"}), "x").stream_description_summary.consumer_count,
      1);
}

TEST(FanoutRegistry, ValidatesNamesAndArns) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  EXPECT_KINESIS_ERROR(e->register_stream_consumer({.stream_arn = arn, .consumer_name = ""}),
                       error_code::validation_exception);
  EXPECT_KINESIS_ERROR(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "bad name"}),
                       error_code::validation_exception);
  EXPECT_KINESIS_ERROR(e->register_stream_consumer({.stream_arn = arn, .consumer_name = std::string(129, 'a')}),
                       error_code::validation_exception);
  EXPECT_OK(e->register_stream_consumer({.stream_arn = arn, .consumer_name = std::string(128, 'a')}));
  EXPECT_KINESIS_ERROR(e->register_stream_consumer({.stream_arn = arn + "x", .consumer_name = "c"}),
                       error_code::resource_not_found_exception);
  EXPECT_KINESIS_ERROR(e->describe_stream_consumer({.consumer_arn = "not-an-arn"}), error_code::validation_exception);
  EXPECT_KINESIS_ERROR(e->describe_stream_consumer({.consumer_name = "c"}), error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(e->describe_stream_consumer({.consumer_arn = arn + "/consumer/zz:1704067200"}),
                       error_code::resource_not_found_exception);
}

TEST(FanoutRegistry, DuplicateNameIsInUseAndReRegisteringGivesANewArn) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  auto first = value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"}), "reg");
  auto dup = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"});
  ASSERT_KINESIS_ERROR(dup, error_code::resource_in_use_exception);
  EXPECT_EQ(dup.error().message(), "Consumer c exists");
  ASSERT_OK(e->deregister_stream_consumer({.consumer_arn = first.consumer.consumer_arn}));
  e.advance(10s);
  auto second = value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"}), "reg");
  EXPECT_NE(second.consumer.consumer_arn, first.consumer.consumer_arn);
  EXPECT_KINESIS_ERROR(e->describe_stream_consumer({.consumer_arn = first.consumer.consumer_arn}),
                       error_code::resource_not_found_exception);
}

TEST(FanoutRegistry, StatusesMoveOnTheClock) {
  engine_options o;
  o.fanout.register_consumer_delay = 5s;
  o.fanout.deregister_consumer_delay = 3s;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  auto c = value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"}), "reg").consumer;
  EXPECT_EQ(c.consumer_status, consumer_status::creating);
  EXPECT_KINESIS_ERROR(e->subscribe_to_shard({.consumer_arn = c.consumer_arn, .shard_id = "shardId-000000000000"}),
                       error_code::resource_in_use_exception);
  e.advance(4999ms);
  EXPECT_EQ(value_or_throw(e->describe_stream_consumer({.consumer_arn = c.consumer_arn}), "d")
                .consumer_description.consumer_status,
            consumer_status::creating);
  e.advance(1ms);
  EXPECT_EQ(value_or_throw(e->describe_stream_consumer({.consumer_arn = c.consumer_arn}), "d")
                .consumer_description.consumer_status,
            consumer_status::active);
  ASSERT_OK(e->deregister_stream_consumer({.stream_arn = arn, .consumer_name = "c"}));
  EXPECT_EQ(value_or_throw(e->describe_stream_consumer({.consumer_arn = c.consumer_arn}), "d")
                .consumer_description.consumer_status,
            consumer_status::deleting);
  e.advance(3s);
  EXPECT_KINESIS_ERROR(e->describe_stream_consumer({.consumer_arn = c.consumer_arn}),
                       error_code::resource_not_found_exception);
}

TEST(FanoutRegistry, LimitsOfTwentyPerStreamAndFiveCreating) {
  engine_options o;
  o.fanout.register_consumer_delay = 5s;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  int n = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c" + std::to_string(n++)}));
  }
  auto sixth = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c" + std::to_string(n)});
  ASSERT_KINESIS_ERROR(sixth, error_code::limit_exceeded_exception);
  EXPECT_EQ(sixth.error().message(), "Only 5 consumers can be created at the same time");
  for (int round = 0; round < 3; ++round) {
    e.advance(5s);
    for (int i = 0; i < 5; ++i) {
      ASSERT_OK(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c" + std::to_string(n++)}));
    }
  }
  e.advance(5s);
  auto too_many = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "extra"});
  ASSERT_KINESIS_ERROR(too_many, error_code::limit_exceeded_exception);
  EXPECT_EQ(too_many.error().message(), "Only 20 consumers can be registered to a stream at once");
  // The limit is per stream.
  stream_builder other(*e, "other", 1);
  EXPECT_OK(e->register_stream_consumer({.stream_arn = arn_of(e, "other"), .consumer_name = "extra"}));
}

TEST(FanoutRegistry, ListPaginatesByName) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  for (const char* n : {"e", "b", "d", "a", "c"}) {
    ASSERT_OK(e->register_stream_consumer({.stream_arn = arn, .consumer_name = n}));
  }
  std::string names;
  auto page = value_or_throw(e->list_stream_consumers({.stream_arn = arn, .max_results = 2}), "list");
  int pages = 1;
  for (;;) {
    for (const auto& c : page.consumers) names += c.consumer_name;
    if (!page.next_token) break;
    page = value_or_throw(e->list_stream_consumers({.next_token = page.next_token, .max_results = 2}), "list");
    ++pages;
  }
  EXPECT_EQ(names, "abcde");
  EXPECT_EQ(pages, 3);
  auto first = value_or_throw(e->list_stream_consumers({.stream_arn = arn, .max_results = 2}), "list");
  e.advance(301s);
  EXPECT_KINESIS_ERROR(e->list_stream_consumers({.next_token = first.next_token}),
                       error_code::expired_next_token_exception);
  EXPECT_KINESIS_ERROR(e->list_stream_consumers({.next_token = std::string("garbage")}),
                       error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(e->list_stream_consumers({.stream_arn = arn, .max_results = 0}),
                       error_code::validation_exception);
  EXPECT_KINESIS_ERROR(e->list_stream_consumers({}), error_code::validation_exception);
}

TEST(FanoutRegistry, DeleteStreamNeedsEnforceConsumerDeletion) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string arn = arn_of(e, "s");
  auto c = value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"}), "reg").consumer;
  auto refused = e->delete_stream({.stream_name = "s"});
  ASSERT_KINESIS_ERROR(refused, error_code::resource_in_use_exception);
  EXPECT_EQ(refused.error().message(),
            "Consumers exist in stream s and enforceConsumerDeletion is either not set or is false");
  auto sub = value_or_throw(e->subscribe_to_shard({.consumer_arn = c.consumer_arn, .shard_id = "shardId-000000000000"}),
                            "sub");
  ASSERT_OK(e->delete_stream({.stream_name = "s", .enforce_consumer_deletion = true}));
  auto ev = sub->try_pull();
  EXPECT_KINESIS_ERROR(ev, error_code::resource_not_found_exception);
  EXPECT_TRUE(sub->ended());
  // A new stream of the same name starts without consumers.
  stream_builder again(*e, "s", 1);
  EXPECT_EQ(value_or_throw(e->list_stream_consumers({.stream_arn = arn}), "list").consumers.size(), 0u);
  EXPECT_OK(e->delete_stream({.stream_name = "s"}));
}

}  // namespace
}  // namespace rill
