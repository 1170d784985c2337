// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// The mistakes the API makes hard: views of temporaries in requests, records
// kept past their result. (tests/compile_fail checks that the first does not compile.)
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>

#include "common/record_buffer.hpp"
#include "rill/testing.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::stream_builder;
using testing::test_engine;

// The request fields cannot be made from a temporary std::string ...
static_assert(!std::is_constructible_v<borrowed_string, std::string&&>);
static_assert(!std::is_convertible_v<std::string, borrowed_string>);
static_assert(!std::is_constructible_v<std::optional<borrowed_string>, std::string&&>);
static_assert(!std::is_assignable_v<borrowed_string&, std::string&&>);
// ... and can from what outlives the call.
static_assert(std::is_convertible_v<const char*, borrowed_string>);
static_assert(std::is_convertible_v<const std::string&, borrowed_string>);
static_assert(std::is_convertible_v<std::string&, borrowed_string>);
static_assert(std::is_convertible_v<std::string_view, borrowed_string>);
static_assert(std::is_convertible_v<borrowed_string, std::string_view>);
static_assert(std::is_trivially_copyable_v<borrowed_string>);

TEST(BorrowedString, BehavesAsAStringView) {
  const std::string owned = "partition";
  const borrowed_string a = owned;
  const borrowed_string b = "partition";
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.data(), owned.data());  // a view, not a copy
  EXPECT_EQ(a.size(), 9u);
  EXPECT_EQ(std::string_view(a).substr(0, 4), "part");
  EXPECT_EQ(std::string(a.begin(), a.end()), owned);
  EXPECT_TRUE(borrowed_string().empty());
  std::ostringstream out;
  out << a;
  EXPECT_EQ(out.str(), owned);
}

TEST(RecordLifetime, ToOwnedCopiesTheBytesOutOfTheResult) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("user-1", "home");
  s.put("user-2", "cart");
  std::vector<owned_record> kept;
  owned_record one;
  {
    auto got = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
    ASSERT_OK(got);
    ASSERT_EQ(got->records.size(), 2u);
    one = got->records[0].to_owned();
    kept = got->owned_records();
    EXPECT_EQ(one.sequence_number, got->records[0].sequence_number);
    EXPECT_EQ(one.approximate_arrival_timestamp, got->records[0].approximate_arrival_timestamp);
  }  // the result and its buffer are gone
  EXPECT_EQ(one.data, "home");
  EXPECT_EQ(one.partition_key, "user-1");
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].data, "cart");
  EXPECT_EQ(kept[1].partition_key, "user-2");
  EXPECT_EQ(kept[0], one);
}

TEST(RecordLifetime, CopiesOfTheResultKeepTheBytesAlive) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "payload");
  get_records_result copy;
  {
    auto got = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
    ASSERT_OK(got);
    copy = *got;
  }
  ASSERT_EQ(copy.records.size(), 1u);
  EXPECT_EQ(copy.records[0].data, "payload");
}

// A record read after every copy of its result is gone: loud, not garbage.
std::string read_kept_record(rill::engine& engine, const std::string& iterator) {
  record kept;
  {
    auto got = engine.get_records({.shard_iterator = iterator});
    if (!got || got->records.empty()) return "no records";
    kept = got->records[0];
  }
  return std::string(kept.data);  // reads freed memory
}

TEST(RecordLifetimeDeathTest, AKeptRecordFaultsInDebugAndSanitizerBuilds) {
  using mode = detail::record_buffer::mode;
  const mode m = detail::record_buffer::release_mode();
  if (m == mode::plain) GTEST_SKIP() << "release build without AddressSanitizer: a kept record is undefined behaviour";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string big(3000, 'x');  // fills most of the buffer's first page
  s.put("k", big);
  const std::string it = s.iterator(shard_id(0));
  // AddressSanitizer reports use-after-poison or heap-use-after-free; the page
  // guard of Debug builds faults with SIGSEGV.
  EXPECT_DEATH((void)read_kept_record(*e, it), m == mode::asan_poison ? "AddressSanitizer" : "");
}

}  // namespace
}  // namespace rill
