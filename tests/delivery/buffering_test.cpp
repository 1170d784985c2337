// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Buffering on the manual clock: an object is written exactly when the size or
// the interval is reached, never earlier, never later; slow trickles arrive at
// every interval; the key layout; shutdown and delete deliver what is buffered.
#include <gtest/gtest.h>

#include <regex>

#include "helpers.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
using delivery::create_delivery_stream_request;

struct fixture {
  temp_dir dir;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<local_firehose> firehose;
  explicit fixture(firehose_options o = {}) {
    o.clock = clock;
    o.s3_directory = dir.path;
    o.random_seed = 7;
    firehose = std::make_unique<local_firehose>(std::move(o));
  }
  std::map<std::string, std::string> objects(const std::string& bucket = "bucket") {
    return read_tree(dir.path / bucket);
  }
  void create(delivery::extended_s3_destination_configuration c, const std::string& name = "s") {
    auto r =
        firehose->create_delivery_stream({.delivery_stream_name = name, .extended_s3_destination_configuration = c});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  void put(const std::string& data, const std::string& name = "s") {
    auto r = firehose->put_record({.delivery_stream_name = name, .record = {.data = data}});
    ASSERT_TRUE(r.ok()) << r.error();
  }
};

TEST(DeliveryBuffering, SizeThresholdWritesTheObjectOnTheRecordThatReachesIt) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(1, 900);
  f.create(c);
  const std::string record(100 * 1024, 'a');
  for (int i = 0; i < 10; ++i) f.put(record);  // 1,024,000 bytes < 1 MiB
  EXPECT_TRUE(f.objects().empty());
  f.put(record);  // 1,126,400 bytes >= 1 MiB: written inside this call
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects.begin()->second.size(), 11 * record.size());
  // Nothing is left: the interval timer of that buffer is gone.
  f.clock->advance(900s);
  EXPECT_EQ(f.objects().size(), 1u);
}

TEST(DeliveryBuffering, IntervalIsExactToTheMillisecond) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(5, 60);
  f.create(c);
  f.clock->advance(1234ms);
  const auto first = f.clock->now();
  f.put("one");
  f.clock->advance(30s);
  f.put("two");  // joins the open buffer; does not restart its interval
  f.clock->advance(30s - 1ms);
  EXPECT_TRUE(f.objects().empty()) << "written before the interval";
  f.clock->advance(1ms);
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects.begin()->second, "onetwo");  // no delimiter by default, as AWS
  (void)first;
}

TEST(DeliveryBuffering, TrickleOfOneRecordAMinuteIsDeliveredAtEachInterval) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(5, 300);
  f.create(c);
  std::vector<std::string> sent;
  for (int minute = 0; minute < 60; ++minute) {
    sent.push_back("event-" + std::to_string(minute) + ";");
    f.put(sent.back());
    // Objects so far: one per full 5-minute interval since the first record.
    EXPECT_EQ(f.objects().size(), static_cast<std::size_t>(minute / 5)) << "minute " << minute;
    f.clock->advance(1min);
  }
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 12u);
  std::string all;
  for (const auto& [key, body] : objects) {
    EXPECT_EQ(std::count(body.begin(), body.end(), ';'), 5) << key;
    all += body;
  }
  std::string expected;
  for (const auto& s : sent) expected += s;
  EXPECT_EQ(all, expected);  // keys sort by time: the same order
}

TEST(DeliveryBuffering, ZeroIntervalDeliversEveryCall) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(1, 0);
  f.create(c);
  f.put("a");
  EXPECT_EQ(f.objects().size(), 1u);
  std::string x = "x", y = "y";
  RILL_ASSERT_OK(f.firehose->put_record_batch({.delivery_stream_name = "s", .records = {{x}, {y}}}));
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 2u);
  int found = 0;
  for (const auto& [k, v] : objects) found += v == "xy";
  EXPECT_EQ(found, 1);
}

TEST(DeliveryBuffering, DefaultsAreFiveMegabytesAndFiveMinutes) {
  fixture f;
  f.create(s3());
  auto d = f.firehose->describe_delivery_stream({.delivery_stream_name = "s"});
  ASSERT_TRUE(d.ok());
  const auto& dest = *d->delivery_stream_description.destinations.at(0).extended_s3_destination_description;
  EXPECT_EQ(dest.buffering_hints->size_in_mbs, 5);
  EXPECT_EQ(dest.buffering_hints->interval_in_seconds, 300);
  EXPECT_EQ(dest.compression_format, "UNCOMPRESSED");
  f.put("x");
  f.clock->advance(300s - 1ms);
  EXPECT_TRUE(f.objects().empty());
  f.clock->advance(1ms);
  EXPECT_EQ(f.objects().size(), 1u);
}

TEST(DeliveryBuffering, KeyLayoutUsesTheOldestRecordInUtc) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(1, 120);
  f.create(c, "clicks");
  // 2024-01-01T00:59:30Z: the object's hour is 00 although it is written at 01:01:30.
  f.clock->advance(59min + 30s);
  f.put("x", "clicks");
  f.clock->advance(2min);
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  const std::regex layout(
      R"(2024/01/01/00/clicks-1-2024-01-01-00-59-30-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
  EXPECT_TRUE(std::regex_match(objects.begin()->first, layout)) << objects.begin()->first;
}

TEST(DeliveryBuffering, CustomPrefixesEvaluateTimestampsAndRandomStrings) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.prefix =
      "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
      "!{firehose:random-string}/";
  c.error_output_prefix = "errors/!{firehose:error-output-type}/";
  f.create(c);
  f.put("x");
  f.clock->advance(60s);
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(std::regex_match(objects.begin()->first,
                               std::regex(R"(myPrefix/year=2024/month=01/day=01/hour=00/[0-9a-f]{11}/s-1-.*)")))
      << objects.begin()->first;
}

TEST(DeliveryBuffering, LegacyPrefixGetsTheTimestampByConcatenation) {
  fixture f;
  auto c = s3();
  c.prefix = "legacy";
  c.buffering_hints = hints(1, 60);
  f.create(c);
  f.put("x");
  f.clock->advance(60s);
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects.begin()->first.rfind("legacy2024/01/01/00/s-1-", 0), 0u) << objects.begin()->first;
}

TEST(DeliveryBuffering, AppendDelimiterToRecord) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true, .processors = {{.type = "AppendDelimiterToRecord", .parameters = {}}}};
  f.create(c);
  f.put("a");
  f.put("b");
  f.clock->advance(60s);
  auto objects = f.objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects.begin()->second, "a\nb\n");
}

TEST(DeliveryBuffering, ShutdownAndDeleteDeliverWhatIsBuffered) {
  fixture f;
  f.create(s3(), "one");
  f.create(s3(), "two");
  f.put("1", "one");
  f.put("2", "two");
  RILL_ASSERT_OK(f.firehose->delete_delivery_stream({.delivery_stream_name = "one"}));
  EXPECT_EQ(f.objects().size(), 1u);
  RILL_ASSERT_OK(f.firehose->shutdown());
  EXPECT_EQ(f.objects().size(), 2u);
  RILL_EXPECT_ERROR(f.firehose->put_record({.delivery_stream_name = "two", .record = {.data = "x"}}),
                    error_code::resource_not_found_exception);
}

TEST(DeliveryBuffering, FlushDeliversNowAndPartitionBuffersAreIndependent) {
  fixture f;
  auto c = s3();
  c.buffering_hints = hints(128, 900);
  f.create(c);
  f.put("abc");
  RILL_ASSERT_OK(f.firehose->flush("s"));
  ASSERT_EQ(f.objects().size(), 1u);
  EXPECT_EQ(f.objects().begin()->second, "abc");
  RILL_EXPECT_ERROR(f.firehose->flush("nope"), error_code::resource_not_found_exception);
}

TEST(DeliveryBuffering, BatchLimits) {
  fixture f;
  f.create(s3());
  std::vector<delivery::record> many(501, delivery::record{"x"});
  RILL_EXPECT_ERROR(f.firehose->put_record_batch({.delivery_stream_name = "s", .records = many}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(f.firehose->put_record_batch({.delivery_stream_name = "s", .records = {}}),
                    error_code::validation_exception);
  const std::string big(1'024'001, 'b');
  RILL_EXPECT_ERROR(f.firehose->put_record({.delivery_stream_name = "s", .record = {.data = big}}),
                    error_code::validation_exception);
  const std::string max(1'024'000, 'm');
  RILL_ASSERT_OK(f.firehose->put_record({.delivery_stream_name = "s", .record = {.data = max}}));
  // Five records of 1,000 KiB: the fifth passes 4 MiB and fails as AWS fails it.
  std::vector<delivery::record> five(5, delivery::record{max});
  auto r = f.firehose->put_record_batch({.delivery_stream_name = "s", .records = five});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failed_put_count, 1);
  ASSERT_EQ(r->request_responses.size(), 5u);
  EXPECT_TRUE(r->request_responses[3].record_id.has_value());
  EXPECT_EQ(r->request_responses[4].error_code, "ServiceUnavailableException");
  EXPECT_FALSE(r->request_responses[4].record_id.has_value());
  auto stats = f.firehose->statistics("s");
  EXPECT_EQ(stats->incoming_records, 5);
}

}  // namespace
}  // namespace rill::testing
