// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Transformation (the Lambda event and response), dynamic partitioning (jq
// keys, Lambda keys, the active-partition cap) and delivery failures (backoff,
// retry duration, backup) on the manual clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "delivery/compression.hpp"
#include "delivery/expressions.hpp"
#include "helpers.hpp"
#include "rill/metrics.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
const std::string lambda_arn = "arn:aws:lambda:us-east-1:000000000000:function:t";

delivery::processor lambda(std::vector<delivery::processor_parameter> extra = {}) {
  delivery::processor p{.type = "Lambda", .parameters = {{"LambdaArn", lambda_arn}}};
  for (auto& e : extra) p.parameters.push_back(e);
  return p;
}

struct harness {
  temp_dir dir;
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<metrics_registry> metrics = std::make_shared<metrics_registry>(clock);
  std::vector<delivery::transformation_event> events;
  std::function<result<delivery::transformation_response>(const delivery::transformation_event&)> fn;
  std::unique_ptr<local_firehose> firehose;
  firehose_options options;
  harness() {
    options.clock = clock;
    options.s3_directory = dir.path;
    options.metrics = metrics;
    options.random_seed = 9;
    options.lambda_functions[lambda_arn] = [this](const delivery::transformation_event& e) {
      events.push_back(e);
      return fn(e);
    };
  }
  void start() { firehose = std::make_unique<local_firehose>(options); }
  void create(delivery::extended_s3_destination_configuration c) {
    if (!firehose) start();
    auto r =
        firehose->create_delivery_stream({.delivery_stream_name = "s", .extended_s3_destination_configuration = c});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  void put(const std::string& data) {
    auto r = firehose->put_record({.delivery_stream_name = "s", .record = {.data = data}});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  double metric_sum(const std::string& name) {
    metric_dimension d{"DeliveryStreamName", "s"};
    auto got =
        metrics->get("AWS/Firehose", name, std::span<const metric_dimension>(&d, 1), timestamp{}, clock->now() + 1h);
    double sum = 0;
    for (const auto& p : got.datapoints) sum += p.sum;
    return sum;
  }
};

TEST(DeliveryTransform, EventHasTheLambdaShapeAndResultsRouteRecords) {
  harness h;
  h.fn = [](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
    delivery::transformation_response out;
    for (const auto& r : e.records) {
      if (r.data == "keep") out.records.push_back({r.record_id, "Ok", "KEPT\n", {}});
      if (r.data == "drop") out.records.push_back({r.record_id, "Dropped", std::nullopt, {}});
      if (r.data == "fail") out.records.push_back({r.record_id, "ProcessingFailed", r.data, {}});
    }
    return out;
  };
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.error_output_prefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/";
  c.processing_configuration =
      delivery::processing_configuration{.enabled = true, .processors = {lambda({{"BufferIntervalInSeconds", "10"}})}};
  h.create(c);
  for (const char* d : {"keep", "drop", "fail", "keep"}) h.put(d);
  h.clock->advance(10s - 1ms);
  EXPECT_TRUE(h.events.empty()) << "the processor buffer flushed early";
  h.clock->advance(1ms);
  ASSERT_EQ(h.events.size(), 1u);
  const auto& e = h.events[0];
  EXPECT_EQ(e.delivery_stream_arn, "arn:aws:firehose:us-east-1:000000000000:deliverystream/s");
  EXPECT_EQ(e.region, "us-east-1");
  EXPECT_TRUE(std::regex_match(e.invocation_id, std::regex("[0-9a-f-]{36}")));
  ASSERT_EQ(e.records.size(), 4u);
  EXPECT_EQ(e.records[0].approximate_arrival_timestamp, 1'704'067'200'000);
  auto j = nlohmann::json::parse(e.to_json());
  EXPECT_EQ(j["records"][1]["data"], "ZHJvcA==");  // base64("drop")
  EXPECT_EQ(j["records"][1]["recordId"], e.records[1].record_id);
  EXPECT_FALSE(j.contains("sourceKinesisStreamArn"));
  // The failed record is in the error output at once; the others after the destination interval.
  auto tree = read_tree(h.dir.path / "bucket");
  ASSERT_EQ(tree.size(), 1u);
  const auto& [ekey, ebody] = *tree.begin();
  EXPECT_EQ(ekey.rfind("errors/processing-failed/2024/s-1-", 0), 0u) << ekey;
  auto env = nlohmann::json::parse(lines(ebody).at(0));
  EXPECT_EQ(env["attemptsMade"], 1);
  EXPECT_EQ(env["arrivalTimestamp"], 1'704'067'200'000);
  EXPECT_EQ(env["errorCode"], "Lambda.ProcessingFailedStatus");
  EXPECT_EQ(env["errorMessage"], "ProcessingFailed status set for record");
  EXPECT_EQ(env["attemptEndingTimestamp"], 1'704'067'210'000);
  EXPECT_EQ(env["rawData"], "ZmFpbA==");
  EXPECT_EQ(env["lambdaArn"], lambda_arn);
  h.clock->advance(60s);
  tree = read_tree(h.dir.path / "bucket");
  ASSERT_EQ(tree.size(), 2u);
  int found = 0;
  for (const auto& [k, v] : tree) found += v == "KEPT\nKEPT\n";
  EXPECT_EQ(found, 1);
  auto stats = *h.firehose->statistics("s");
  EXPECT_EQ(stats.dropped_records, 1);
  EXPECT_EQ(stats.error_output_records, 1);
  EXPECT_EQ(stats.delivered_records, 2);
  EXPECT_EQ(h.metric_sum("SucceedProcessing.Records"), 2);
  EXPECT_EQ(h.metric_sum("ExecuteProcessing.Success"), 1);
}

TEST(DeliveryTransform, FunctionErrorsAreRetriedThenTheBatchFails) {
  harness h;
  int calls = 0;
  h.fn = [&](const delivery::transformation_event&) -> result<delivery::transformation_response> {
    ++calls;
    return error(error_code::service_unavailable_exception, "Rate exceeded");
  };
  auto c = s3();
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true, .processors = {lambda({{"NumberOfRetries", "2"}, {"BufferIntervalInSeconds", "0"}})}};
  h.create(c);
  h.put("a");
  EXPECT_EQ(calls, 3);  // the first call and two retries
  auto tree = read_tree(h.dir.path / "bucket");
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_EQ(tree.begin()->first.rfind("processing-failed/2024/01/01/00/", 0), 0u) << tree.begin()->first;
  auto env = nlohmann::json::parse(lines(tree.begin()->second).at(0));
  EXPECT_EQ(env["attemptsMade"], 3);
  EXPECT_EQ(env["errorCode"], "Lambda.FunctionError");
  EXPECT_EQ(env["errorMessage"], "Rate exceeded");
  EXPECT_EQ(h.metric_sum("ExecuteProcessing.Success"), 0);
}

TEST(DeliveryTransform, MissingDuplicatedAndMalformedAnswersFailTheirRecordsOnly) {
  harness h;
  h.fn = [](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
    delivery::transformation_response out;
    const auto& r = e.records;
    out.records.push_back({r[0].record_id, "Ok", std::string("zero"), {}});
    // r[1] missing; r[2] twice; r[3] Ok without data; r[4] an unknown result.
    out.records.push_back({r[2].record_id, "Ok", std::string("two"), {}});
    out.records.push_back({r[2].record_id, "Ok", std::string("two"), {}});
    out.records.push_back({r[3].record_id, "Ok", std::nullopt, {}});
    out.records.push_back({r[4].record_id, "Maybe", std::string("x"), {}});
    out.records.push_back({"not-an-id", "Ok", std::string("ghost"), {}});
    return out;
  };
  auto c = s3();
  c.buffering_hints = hints(1, 0);
  c.processing_configuration =
      delivery::processing_configuration{.enabled = true, .processors = {lambda({{"BufferIntervalInSeconds", "0"}})}};
  h.create(c);
  std::vector<std::string> data = {"r0", "r1", "r2", "r3", "r4"};
  std::vector<delivery::record> recs;
  for (auto& d : data) recs.push_back({d});
  RILL_ASSERT_OK(h.firehose->put_record_batch({.delivery_stream_name = "s", .records = recs}));
  std::map<std::string, std::string> codes;
  std::string delivered;
  for (const auto& [k, v] : read_tree(h.dir.path / "bucket")) {
    if (k.rfind("processing-failed/", 0) == 0) {
      for (const auto& l : lines(v)) {
        auto j = nlohmann::json::parse(l);
        codes[*delivery::base64_decode(j["rawData"].get<std::string>())] = j["errorCode"];
      }
    } else {
      delivered += v;
    }
  }
  EXPECT_EQ(delivered, "zero");
  EXPECT_EQ(codes["r1"], "Lambda.MissingRecordId");
  EXPECT_EQ(codes["r2"], "Lambda.DuplicatedRecordId");
  EXPECT_EQ(codes["r3"], "Lambda.JsonProcessingException");
  EXPECT_EQ(codes["r4"], "Lambda.JsonProcessingException");
  EXPECT_EQ(codes.size(), 4u);
}

TEST(DeliveryPartitioning, JqKeysMakeOneObjectPerPartition) {
  harness h;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.dynamic_partitioning_configuration = delivery::dynamic_partitioning_configuration{.enabled = true};
  c.prefix =
      "customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/"
      "!{timestamp:yyyy}/";
  c.error_output_prefix = "errors/!{firehose:error-output-type}/";
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true,
      .processors = {{.type = "MetadataExtraction",
                      .parameters = {{"MetadataExtractionQuery", "{customer_id:.customer_id, device:.type.device}"},
                                     {"JsonParsingEngine", "JQ-1.6"}}},
                     {.type = "AppendDelimiterToRecord", .parameters = {}}}};
  h.create(c);
  h.put(R"({"customer_id":"a","type":{"device":"mobile"},"n":1})");
  h.put(R"({"customer_id":"b","type":{"device":"mobile"},"n":2})");
  h.put(R"({"customer_id":"a","type":{"device":"mobile"},"n":3})");
  h.put(R"({"customer_id":7,"type":{"device":"web"},"n":4})");
  h.put(R"({"customer_id":"a"})");  // no device: error output
  h.put("not json");                // error output
  h.clock->advance(60s);
  std::map<std::string, std::string> by_prefix;
  for (const auto& [k, v] : read_tree(h.dir.path / "bucket")) by_prefix[k.substr(0, k.rfind('/') + 1)] += v;
  EXPECT_EQ(by_prefix["customer_id=a/device=mobile/2024/"], R"({"customer_id":"a","type":{"device":"mobile"},"n":1})"
                                                            "\n"
                                                            R"({"customer_id":"a","type":{"device":"mobile"},"n":3})"
                                                            "\n");
  EXPECT_EQ(by_prefix["customer_id=b/device=mobile/2024/"], R"({"customer_id":"b","type":{"device":"mobile"},"n":2})"
                                                            "\n");
  EXPECT_EQ(by_prefix["customer_id=7/device=web/2024/"], R"({"customer_id":7,"type":{"device":"web"},"n":4})"
                                                         "\n");
  const auto errors = lines(by_prefix["errors/partitioning-failed/"]);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(errors[0])["errorCode"], "DynamicPartitioning.MetadataExtractionFailed");
  EXPECT_EQ(by_prefix.size(), 4u);
}

TEST(DeliveryPartitioning, LambdaKeysAndTheActivePartitionCap) {
  harness h;
  h.options.active_partition_limit = 3;
  h.fn = [](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
    delivery::transformation_response out;
    for (const auto& r : e.records) out.records.push_back({r.record_id, "Ok", r.data, {{"k", r.data.substr(0, 1)}}});
    return out;
  };
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.dynamic_partitioning_configuration = delivery::dynamic_partitioning_configuration{.enabled = true};
  c.prefix = "k=!{partitionKeyFromLambda:k}/";
  c.error_output_prefix = "errors/!{firehose:error-output-type}/";
  c.processing_configuration =
      delivery::processing_configuration{.enabled = true, .processors = {lambda({{"BufferIntervalInSeconds", "0"}})}};
  h.create(c);
  for (const char* d : {"a1", "b1", "c1", "a2", "d1", "e1"}) h.put(d);
  // d and e exceed the cap of 3 active partitions: error output.
  h.clock->advance(60s);
  std::map<std::string, std::string> by_prefix;
  for (const auto& [k, v] : read_tree(h.dir.path / "bucket")) by_prefix[k.substr(0, k.rfind('/') + 1)] += v;
  EXPECT_EQ(by_prefix["k=a/"], "a1a2");
  EXPECT_EQ(by_prefix["k=b/"], "b1");
  EXPECT_EQ(by_prefix["k=c/"], "c1");
  auto errors = lines(by_prefix["errors/partitioning-failed/"]);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(errors[1])["errorCode"], "DynamicPartitioning.PartitionCountExceeded");
  EXPECT_EQ(h.metric_sum("PartitionCountExceeded"), 2);
  // Delivered partitions stop counting: new keys are accepted again.
  h.put("z1");
  h.clock->advance(60s);
  EXPECT_EQ(read_tree(h.dir.path / "bucket").count("k=z/"), 0u);
  bool z = false;
  for (const auto& [k, v] : read_tree(h.dir.path / "bucket")) z |= k.rfind("k=z/", 0) == 0;
  EXPECT_TRUE(z);
}

TEST(DeliveryPartitioning, KeysCannotEscapeTheBucketDirectory) {
  harness h;
  auto c = s3();
  c.buffering_hints = hints(1, 0);
  c.dynamic_partitioning_configuration = delivery::dynamic_partitioning_configuration{.enabled = true};
  c.prefix = "!{partitionKeyFromQuery:p}/";
  c.error_output_prefix = "errors/!{firehose:error-output-type}/";
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true,
      .processors = {{.type = "MetadataExtraction",
                      .parameters = {{"MetadataExtractionQuery", "{p:.p}"}, {"JsonParsingEngine", "JQ-1.6"}}}}};
  h.create(c);
  h.put(R"({"p":".."})");
  h.put(R"({"p":"../../etc"})");
  auto tree = read_tree(h.dir.path);
  ASSERT_EQ(tree.size(), 2u);
  for (const auto& [k, v] : tree) EXPECT_EQ(k.rfind("bucket/errors/partitioning-failed/", 0), 0u) << k;
}

TEST(DeliveryFailures, BackoffDoublesWithJitterThenTheBackupTakesTheData) {
  harness h;
  auto fs = std::make_shared<flaky_file_system>();
  bool down = true;
  std::vector<timestamp> attempts;
  auto clock = h.clock;
  fs->fail_rename = [&](const std::filesystem::path& to) {
    if (to.string().find("/bucket/") == std::string::npos) return false;
    attempts.push_back(clock->now());
    return down;
  };
  h.options.file_system = fs;
  h.options.default_retry_duration = 60s;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.compression_format = "GZIP";
  c.s3_backup_mode = "FailedDataOnly";
  c.s3_backup_configuration =
      delivery::s3_destination_configuration{.role_arn = c.role_arn, .bucket_arn = "arn:aws:s3:::backup"};
  h.create(c);
  h.put("precious");
  h.clock->advance(60s);
  h.clock->advance(10min);
  // Attempts at 0, ~1, ~3, ~7, ~15, ~31 s: each gap twice the last, +-15 %.
  ASSERT_GE(attempts.size(), 5u);
  for (std::size_t i = 1; i < attempts.size(); ++i) {
    const double gap = static_cast<double>((attempts[i] - attempts[i - 1]).count()) / 1000.0;
    const double nominal = std::ldexp(1.0, static_cast<int>(i) - 1);
    EXPECT_GE(gap, 0.85 * nominal - 1e-3) << i;
    EXPECT_LE(gap, 1.15 * nominal + 1e-3) << i;
  }
  EXPECT_LE(attempts.back() - attempts.front(), 60s);
  auto backup = read_tree(h.dir.path / "backup");
  ASSERT_EQ(backup.size(), 1u);
  EXPECT_EQ(backup.begin()->first.rfind("s3-failed/2024/01/01/00/s-1-", 0), 0u) << backup.begin()->first;
  EXPECT_EQ(backup.begin()->second, "precious");  // the backup's own compression: none
  EXPECT_TRUE(read_tree(h.dir.path / "bucket").empty());
  auto stats = *h.firehose->statistics("s");
  EXPECT_EQ(stats.error_output_records, 1);
  EXPECT_EQ(stats.pending_records, 0);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.Success"), 0);
  EXPECT_EQ(h.metric_sum("BackupToS3.Records"), 1);
}

TEST(DeliveryFailures, WithoutBackupDeliveryPausesAndResumesWithNothingLost) {
  harness h;
  auto fs = std::make_shared<flaky_file_system>();
  bool down = true;
  fs->fail_rename = [&](const std::filesystem::path&) { return down; };
  h.options.file_system = fs;
  h.options.default_retry_duration = 10s;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  h.create(c);
  h.put("a");
  h.clock->advance(1h);  // far past the retry duration: still retrying, every 120 s at most
  EXPECT_TRUE(read_tree(h.dir.path / "bucket").empty());
  EXPECT_EQ(h.firehose->statistics("s")->pending_records, 1);
  down = false;
  h.clock->advance(121s);
  auto tree = read_tree(h.dir.path / "bucket");
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_EQ(tree.begin()->second, "a");
  EXPECT_EQ(h.firehose->statistics("s")->retried_records, 1);
}

TEST(DeliveryFailures, SourceRecordBackupKeepsTheUntransformedRecords) {
  harness h;
  h.fn = [](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
    delivery::transformation_response out;
    for (const auto& r : e.records) out.records.push_back({r.record_id, "Ok", "T" + r.data, {}});
    return out;
  };
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  c.s3_backup_mode = "Enabled";
  c.s3_backup_configuration = delivery::s3_destination_configuration{.role_arn = c.role_arn,
                                                                     .bucket_arn = "arn:aws:s3:::backup",
                                                                     .prefix = "source/",
                                                                     .buffering_hints = hints(1, 60),
                                                                     .compression_format = "ZIP"};
  c.processing_configuration =
      delivery::processing_configuration{.enabled = true, .processors = {lambda({{"BufferIntervalInSeconds", "0"}})}};
  h.create(c);
  h.put("x");
  h.put("y");
  h.clock->advance(60s);
  auto main = read_tree(h.dir.path / "bucket");
  ASSERT_EQ(main.size(), 1u);
  EXPECT_EQ(main.begin()->second, "TxTy");
  auto backup = read_tree(h.dir.path / "backup");
  ASSERT_EQ(backup.size(), 1u);
  EXPECT_EQ(backup.begin()->first.rfind("source/2024/01/01/00/s-1-", 0), 0u);
  EXPECT_TRUE(backup.begin()->first.ends_with(".zip"));
  EXPECT_EQ(*delivery::decompress(delivery::compression::zip, backup.begin()->second), "xy");
}

TEST(DeliveryMetrics, IncomingAndDeliveryMetricsUseTheCloudWatchNames) {
  harness h;
  auto c = s3();
  c.buffering_hints = hints(1, 60);
  h.create(c);
  h.put("abc");
  std::string d1 = "de", d2 = "f";
  RILL_ASSERT_OK(h.firehose->put_record_batch({.delivery_stream_name = "s", .records = {{d1}, {d2}}}));
  h.clock->advance(60s);
  EXPECT_EQ(h.metric_sum("IncomingRecords"), 3);
  EXPECT_EQ(h.metric_sum("IncomingBytes"), 6);
  EXPECT_EQ(h.metric_sum("IncomingPutRequests"), 2);
  EXPECT_EQ(h.metric_sum("PutRecord.Bytes"), 3);
  EXPECT_EQ(h.metric_sum("PutRecordBatch.Records"), 2);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.Records"), 3);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.Bytes"), 6);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.Success"), 1);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.ObjectCount"), 1);
  EXPECT_EQ(h.metric_sum("DeliveryToS3.DataFreshness"), 60);  // the oldest record waited the interval
}

}  // namespace
}  // namespace rill::testing
