// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The control plane: create / describe / list / delete with AWS's statuses, and
// validation of every configuration field with AWS's ranges, enum spellings,
// prefix rules and error names. A refused request creates nothing.
#include <gtest/gtest.h>

#include "helpers.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
using delivery::create_delivery_stream_request;

struct control {
  temp_dir dir;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  local_firehose firehose;
  explicit control(duration create_delay = duration{0})
      : firehose({.clock = clock, .s3_directory = dir.path, .create_delay = create_delay}) {}
  result<delivery::create_delivery_stream_result> create(delivery::extended_s3_destination_configuration c,
                                                         std::string name = "s") {
    return firehose.create_delivery_stream({.delivery_stream_name = name, .extended_s3_destination_configuration = c});
  }
};

void expect_refused(delivery::extended_s3_destination_configuration c, error_code code, const std::string& text = "") {
  control k;
  auto r = k.create(c);
  ASSERT_FALSE(r.ok()) << "accepted";
  EXPECT_EQ(r.error().code(), code) << r.error();
  if (!text.empty()) EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error();
  EXPECT_TRUE(k.firehose.list_delivery_streams({})->delivery_stream_names.empty());
}

TEST(DeliveryControl, LifecycleAndStatuses) {
  control k(5s);
  auto r = k.create(s3());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->delivery_stream_arn, "arn:aws:firehose:us-east-1:000000000000:deliverystream/s");
  auto d = k.firehose.describe_delivery_stream({.delivery_stream_name = "s"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->delivery_stream_description.delivery_stream_status, "CREATING");
  EXPECT_EQ(d->delivery_stream_description.delivery_stream_type, "DirectPut");
  EXPECT_EQ(d->delivery_stream_description.version_id, "1");
  EXPECT_EQ(d->delivery_stream_description.destinations.at(0).destination_id, "destinationId-000000000001");
  RILL_EXPECT_ERROR(k.firehose.put_record({.delivery_stream_name = "s", .record = {.data = "x"}}),
                    error_code::resource_not_found_exception);
  RILL_EXPECT_ERROR(k.firehose.delete_delivery_stream({.delivery_stream_name = "s"}),
                    error_code::resource_in_use_exception);
  k.clock->advance(5s);
  EXPECT_EQ(k.firehose.describe_delivery_stream({.delivery_stream_name = "s"})
                ->delivery_stream_description.delivery_stream_status,
            "ACTIVE");
  RILL_ASSERT_OK(k.firehose.put_record({.delivery_stream_name = "s", .record = {.data = "x"}}));
  RILL_EXPECT_ERROR(k.create(s3()), error_code::resource_in_use_exception);
  RILL_ASSERT_OK(k.firehose.delete_delivery_stream({.delivery_stream_name = "s"}));
  RILL_EXPECT_ERROR(k.firehose.describe_delivery_stream({.delivery_stream_name = "s"}),
                    error_code::resource_not_found_exception);
  EXPECT_EQ(read_tree(k.dir.path).size(), 1u);  // delete delivered the buffered record
}

TEST(DeliveryControl, ListIsSortedPaginatedAndFiltered) {
  control k;
  for (const char* n : {"c", "a", "b", "d"}) RILL_ASSERT_OK(k.create(s3(), n));
  auto page = k.firehose.list_delivery_streams({.limit = 2});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->delivery_stream_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(page->has_more_delivery_streams);
  page = k.firehose.list_delivery_streams({.limit = 2, .exclusive_start_delivery_stream_name = "b"});
  EXPECT_EQ(page->delivery_stream_names, (std::vector<std::string>{"c", "d"}));
  EXPECT_FALSE(page->has_more_delivery_streams);
  page = k.firehose.list_delivery_streams({.delivery_stream_type = "KinesisStreamAsSource"});
  EXPECT_TRUE(page->delivery_stream_names.empty());
  RILL_EXPECT_ERROR(k.firehose.list_delivery_streams({.limit = 0}), error_code::validation_exception);
  RILL_EXPECT_ERROR(k.firehose.list_delivery_streams({.delivery_stream_type = "directput"}),
                    error_code::validation_exception);
}

TEST(DeliveryControl, NamesAndArns) {
  control k;
  RILL_EXPECT_ERROR(k.create(s3(), ""), error_code::validation_exception);
  RILL_EXPECT_ERROR(k.create(s3(), std::string(65, 'a')), error_code::validation_exception);
  RILL_EXPECT_ERROR(k.create(s3(), "bad name"), error_code::validation_exception);
  RILL_ASSERT_OK(k.create(s3(), std::string(64, 'a')));
  auto c = s3();
  c.bucket_arn = "my-bucket";
  expect_refused(c, error_code::validation_exception, "bucketARN");
  c.bucket_arn = "arn:aws:s3:::";
  expect_refused(c, error_code::validation_exception, "bucketARN");
  c = s3();
  c.role_arn = "";
  expect_refused(c, error_code::validation_exception, "roleARN");
  RILL_EXPECT_ERROR(k.firehose.create_delivery_stream({.delivery_stream_name = "x"}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(k.firehose.create_delivery_stream({.delivery_stream_name = "x",
                                                       .delivery_stream_type = "MSKAsSource",
                                                       .extended_s3_destination_configuration = s3()}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(k.firehose.create_delivery_stream({.delivery_stream_name = "x",
                                                       .delivery_stream_type = "Direct",
                                                       .extended_s3_destination_configuration = s3()}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(k.firehose.create_delivery_stream({.delivery_stream_name = "x",
                                                       .delivery_stream_type = "KinesisStreamAsSource",
                                                       .extended_s3_destination_configuration = s3()}),
                    error_code::invalid_argument_exception);
}

TEST(DeliveryControl, BufferingHintRanges) {
  for (auto [mb, s, ok] : std::vector<std::tuple<int, int, bool>>{
           {1, 0, true}, {128, 900, true}, {0, 60, false}, {129, 60, false}, {5, -1, false}, {5, 901, false}}) {
    auto c = s3();
    c.buffering_hints = hints(mb, s);
    control k;
    auto r = k.create(c);
    EXPECT_EQ(r.ok(), ok) << mb << " MB " << s << " s";
    if (!ok) EXPECT_EQ(r.error().code(), error_code::validation_exception);
  }
  auto c = s3();
  c.buffering_hints = delivery::buffering_hints{.size_in_mbs = 5};
  expect_refused(c, error_code::invalid_argument_exception, "together");
  // The backup destination has no zero buffering: 60..900 s.
  c = s3();
  c.s3_backup_mode = "Enabled";
  c.s3_backup_configuration = delivery::s3_destination_configuration{
      .role_arn = c.role_arn, .bucket_arn = "arn:aws:s3:::b", .buffering_hints = hints(1, 0)};
  expect_refused(c, error_code::validation_exception);
}

TEST(DeliveryControl, PrefixRules) {
  auto c = s3();
  c.prefix = "!{timestamp:yyyy/MM/dd}";
  expect_refused(c, error_code::invalid_argument_exception, "ErrorOutputPrefix must be specified");
  c.error_output_prefix = "errors/";
  expect_refused(c, error_code::invalid_argument_exception, "error-output-type");
  c.prefix = "a/!{firehose:error-output-type}/";
  c.error_output_prefix = "e/!{firehose:error-output-type}/";
  expect_refused(c, error_code::invalid_argument_exception, "Prefix cannot contain");
  c.prefix = "a/!{bogus:x}/";
  expect_refused(c, error_code::invalid_argument_exception, "namespace");
  c.prefix = "a/!{timestamp:yyyy";
  expect_refused(c, error_code::invalid_argument_exception);
  c.prefix = "a/!{firehose:nope}/";
  expect_refused(c, error_code::invalid_argument_exception);
  c.prefix = "a/!{timestamp:EEEE}/";
  expect_refused(c, error_code::invalid_argument_exception, "does not support");
  c.prefix = "a/!{partitionKeyFromQuery:k}/";
  expect_refused(c, error_code::invalid_argument_exception, "dynamic partitioning");
  c.prefix = std::string(1025, 'p');
  expect_refused(c, error_code::validation_exception, "prefix");
  c = s3();
  c.dynamic_partitioning_configuration = delivery::dynamic_partitioning_configuration{.enabled = true};
  c.prefix = "k=!{partitionKeyFromQuery:k}/";
  expect_refused(c, error_code::invalid_argument_exception, "ErrorOutputPrefix");
  c.error_output_prefix = "e/!{firehose:error-output-type}/";
  expect_refused(c, error_code::invalid_argument_exception, "MetadataExtraction");
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true,
      .processors = {{.type = "MetadataExtraction",
                      .parameters = {{"MetadataExtractionQuery", "{other:.other}"}, {"JsonParsingEngine", "JQ-1.6"}}}}};
  expect_refused(c, error_code::invalid_argument_exception, "not defined");
  c.processing_configuration->processors[0].parameters[0].parameter_value = "{k:.k}";
  control k;
  RILL_ASSERT_OK(k.create(c));
  c.dynamic_partitioning_configuration->retry_options = delivery::retry_options{7201};
  expect_refused(c, error_code::validation_exception, "durationInSeconds");
}

TEST(DeliveryControl, ProcessorsAndOtherFields) {
  auto c = s3();
  c.processing_configuration = delivery::processing_configuration{.enabled = true, .processors = {{.type = "lambda"}}};
  expect_refused(c, error_code::validation_exception, "enum value set");
  c.processing_configuration->processors = {{.type = "Lambda", .parameters = {{"LambdaArn", "arn:aws:lambda:x"}}}};
  expect_refused(c, error_code::invalid_argument_exception, "No transformation function");
  c.processing_configuration->processors = {{.type = "Lambda", .parameters = {{"Bogus", "1"}}}};
  expect_refused(c, error_code::validation_exception, "parameterName");
  c.processing_configuration->processors = {{.type = "AppendDelimiterToRecord", .parameters = {{"Delimiter", "  "}}}};
  expect_refused(c, error_code::validation_exception, "parameterValue");
  c.processing_configuration->processors = {{.type = "RecordDeAggregation"}};
  expect_refused(c, error_code::invalid_argument_exception, "does not run");
  c = s3();
  c.file_extension = "gz";
  expect_refused(c, error_code::validation_exception, "fileExtension");
  c.file_extension = ".GZ";
  expect_refused(c, error_code::validation_exception, "fileExtension");
  c = s3();
  c.custom_time_zone = "Asia/Tokyo";
  expect_refused(c, error_code::invalid_argument_exception, "UTC");
  c.custom_time_zone = "UTC+9";
  expect_refused(c, error_code::validation_exception, "customTimeZone");
  c = s3();
  c.s3_backup_mode = "Enabled";
  expect_refused(c, error_code::invalid_argument_exception, "S3BackupConfiguration");
  c.s3_backup_mode = "enabled";
  expect_refused(c, error_code::validation_exception, "s3BackupMode");
}

}  // namespace
}  // namespace rill::testing
