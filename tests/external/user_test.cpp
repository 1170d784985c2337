// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// A user's unit test with rill::testing, built against the installed package.
#include <rill/reader.hpp>
#include <rill/testing.hpp>
#include <rill/waiter.hpp>

using namespace std::chrono_literals;

TEST(UserCode, ReadsAcrossASplit) {
  rill::testing::test_engine e;
  rill::testing::stream_builder s(*e, "clicks", 1);
  s.put("user-1", "a");
  s.split_in_half(rill::shard_id(0));
  s.put("user-1", "b");
  rill::stream_reader reader(*e, {.stream_name = "clicks"});
  auto all = reader.read_all();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].data, "a");
  EXPECT_EQ((*all)[1].data, "b");
  EXPECT_KINESIS_ERROR(e->delete_stream({.stream_name = "missing"}), rill::error_code::resource_not_found_exception);
  e.advance(25h);
  EXPECT_OK(rill::wait_until_stream_exists(*e, *e.clock, {.stream_name = "clicks"}));
}
