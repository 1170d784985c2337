// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// include/rill/testing.hpp: the assertions fail when they must, and the builder.
#include "rill/testing.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::stream_builder;
using testing::test_engine;

result<int> fails() { return error(error_code::resource_not_found_exception, "Stream x not found"); }
result<int> succeeds() { return 1; }
result<void> void_ok() { return {}; }

int evaluations = 0;
result<void> counted() {
  ++evaluations;
  return {};
}

TEST(TestingMacros, OkPassesOnSuccessAndEvaluatesOnce) {
  evaluations = 0;
  ASSERT_OK(counted());
  EXPECT_OK(counted());
  EXPECT_EQ(evaluations, 2);
  ASSERT_OK(succeeds());
  EXPECT_OK(void_ok());
}

TEST(TestingMacros, OkFailsOnAnErrorNamingIt) {
  EXPECT_FATAL_FAILURE(ASSERT_OK(fails()), "fails() failed: ResourceNotFoundException: Stream x not found");
  EXPECT_NONFATAL_FAILURE(EXPECT_OK(fails()), "ResourceNotFoundException");
}

TEST(TestingMacros, KinesisErrorChecksTheCode) {
  EXPECT_KINESIS_ERROR(fails(), error_code::resource_not_found_exception);
  ASSERT_KINESIS_ERROR(fails(), error_code::resource_not_found_exception);
  EXPECT_NONFATAL_FAILURE(EXPECT_KINESIS_ERROR(succeeds(), error_code::resource_not_found_exception),
                          "succeeded; expected ResourceNotFoundException");
  EXPECT_NONFATAL_FAILURE(EXPECT_KINESIS_ERROR(fails(), error_code::invalid_argument_exception),
                          "failed with ResourceNotFoundException: Stream x not found; expected "
                          "InvalidArgumentException");
  EXPECT_FATAL_FAILURE(ASSERT_KINESIS_ERROR(void_ok(), error_code::internal_failure), "succeeded");
}

TEST(StreamBuilder, MakesSplitsPutsAndAdvances) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  EXPECT_EQ(s.open_shards().size(), 2u);
  s.split_in_half(shard_id(1));
  EXPECT_EQ(s.open_shards().size(), 3u);
  EXPECT_EQ(s.shards().size(), 4u);
  const shard upper = s.find(shard_id(3));
  EXPECT_EQ(upper.parent_shard_id, shard_id(1));
  auto batch = s.put_batch({{"a", "1"}, {"b", "2"}, {"c", "3"}});
  EXPECT_EQ(batch.records.size(), 3u);
  s.put_hash(hash_key(0), "first");
  EXPECT_EQ(s.read_all(shard_id(0)).back(), "first");
  s.merge(shard_id(2), shard_id(3));
  EXPECT_EQ(s.open_shards().size(), 2u);
  s.put("a", "4");
  const auto all = s.read_stream();  // across the split and the merge
  ASSERT_EQ(all.size(), 5u);
  std::vector<std::string> of_a;
  for (const auto& r : all) {
    if (r.partition_key == "a") of_a.push_back(r.data);
  }
  EXPECT_EQ(of_a, (std::vector<std::string>{"1", "4"}));
  const timestamp t0 = e.clock->now();
  e.advance(25h);
  EXPECT_EQ(e.clock->now(), t0 + 25h);
  EXPECT_TRUE(s.read_all(shard_id(0)).empty());                           // expired
  EXPECT_THROW(s.split(shard_id(1), hash_key(5)), testing::call_failed);  // closed and expired
  try {
    stream_builder again(*e, "s", 1);
    FAIL() << "a second stream of the same name";
  } catch (const testing::call_failed& f) {
    EXPECT_EQ(f.error().code(), error_code::resource_in_use_exception);
  }
}

}  // namespace
}  // namespace rill
