// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Firehose_20150804 targets against a rill::firehose: PutRecord and
// PutRecordBatch bodies in, the AWS result shapes out, errors by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "rill/firehose.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

// A delivery-stream service that keeps what it is given (one stream, "d").
class recording_firehose final : public rill::firehose {
 public:
  result<delivery::create_delivery_stream_result> create_delivery_stream(
      const delivery::create_delivery_stream_request&) override {
    return error(error_code::invalid_argument_exception, "not in this test");
  }
  result<void> delete_delivery_stream(const delivery::delete_delivery_stream_request& req) override {
    if (req.delivery_stream_name != "d") return missing(req.delivery_stream_name);
    deleted = true;
    return {};
  }
  result<delivery::describe_delivery_stream_result> describe_delivery_stream(
      const delivery::describe_delivery_stream_request& req) override {
    return missing(req.delivery_stream_name);
  }
  result<delivery::list_delivery_streams_result> list_delivery_streams(
      const delivery::list_delivery_streams_request&) override {
    delivery::list_delivery_streams_result r;
    r.delivery_stream_names = {"d"};
    return r;
  }
  result<delivery::put_record_result> put_record(const delivery::put_record_request& req) override {
    if (req.delivery_stream_name != "d") return missing(req.delivery_stream_name);
    got.emplace_back(req.record.data);
    return delivery::put_record_result{.record_id = "id-" + std::to_string(got.size())};
  }
  result<delivery::put_record_batch_result> put_record_batch(const delivery::put_record_batch_request& req) override {
    if (req.delivery_stream_name != "d") return missing(req.delivery_stream_name);
    delivery::put_record_batch_result r;
    for (const auto& rec : req.records) {
      if (rec.data == "fail") {
        r.request_responses.push_back({.error_code = "ServiceUnavailableException", .error_message = "Slow down."});
        ++r.failed_put_count;
      } else {
        got.emplace_back(rec.data);
        r.request_responses.push_back({.record_id = "id-" + std::to_string(got.size())});
      }
    }
    return r;
  }
  static error missing(const std::string& name) {
    return error(error_code::resource_not_found_exception,
                 "Firehose " + name + " under account 000000000000 not found.");
  }
  std::vector<std::string> got;
  bool deleted = false;
};

TEST(Firehose, PutRecordAndBatchOverTheWire) {
  recording_firehose fh;
  wire_fixture w({.firehose = &fh});
  auto call = [&](std::string_view op, const json& body) {
    return w.raw(make_request(op, wire::write_body(body, body_format::json), body_format::json, "Firehose_20150804"));
  };
  auto one = call("PutRecord", {{"DeliveryStreamName", "d"}, {"Record", {{"Data", "aGVsbG8="}}}});
  EXPECT_EQ(one.status, 200u);
  EXPECT_EQ(wire_fixture::tree(one), json::parse(R"({"RecordId":"id-1","Encrypted":false})"));
  auto batch =
      call("PutRecordBatch", {{"DeliveryStreamName", "d"}, {"Records", {{{"Data", "YQ=="}}, {{"Data", "ZmFpbA=="}}}}});
  auto t = wire_fixture::tree(batch);
  EXPECT_EQ(t["FailedPutCount"], 1);
  ASSERT_EQ(t["RequestResponses"].size(), 2u);
  EXPECT_EQ(t["RequestResponses"][0], json::parse(R"({"RecordId":"id-2"})"));
  EXPECT_EQ(t["RequestResponses"][1],
            json::parse(R"({"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."})"));
  EXPECT_EQ(fh.got, (std::vector<std::string>{"hello", "a"}));

  EXPECT_EQ(wire_fixture::tree(call("ListDeliveryStreams", json::object()))["DeliveryStreamNames"], json::array({"d"}));
  auto missing = call("PutRecord", {{"DeliveryStreamName", "x"}, {"Record", {{"Data", ""}}}});
  EXPECT_EQ(wire_fixture::tree(missing)["__type"], "ResourceNotFoundException");
  auto invalid = call("PutRecord", {{"DeliveryStreamName", "d"}});
  EXPECT_EQ(
      wire_fixture::tree(invalid)["message"],
      "1 validation error detected: Value null at 'record' failed to satisfy constraint: Member must not be null");
  EXPECT_EQ(wire_fixture::tree(call("CreateDeliveryStream", json::object()))["message"],
            "1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member "
            "must not be null");
  EXPECT_EQ(call("DeleteDeliveryStream", {{"DeliveryStreamName", "d"}}).status, 200u);
  EXPECT_TRUE(fh.deleted);
}

// CreateDeliveryStream with AWS's configuration shapes against rill's local_firehose,
// DescribeDeliveryStream back, records put over the wire, the object read from disk.
TEST(Firehose, CreateDescribeAndDeliverToDisk) {
  const auto dir = std::filesystem::temp_directory_path() / ("rill_fh_wire_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto clock = std::make_shared<manual_clock>();
  local_firehose fh({.clock = clock, .s3_directory = dir, .random_seed = 7});
  wire_fixture w({.firehose = &fh});
  auto call = [&](std::string_view op, const json& body) {
    return w.raw(make_request(op, wire::write_body(body, body_format::json), body_format::json, "Firehose_20150804"));
  };
  auto created = call("CreateDeliveryStream", json::parse(R"({"DeliveryStreamName":"d","DeliveryStreamType":"DirectPut",
                        "ExtendedS3DestinationConfiguration":{"RoleARN":"arn:aws:iam::000000000000:role/r",
                          "BucketARN":"arn:aws:s3:::bucket","Prefix":"data/","ErrorOutputPrefix":"err/!{firehose:error-output-type}/",
                          "BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60},"CompressionFormat":"UNCOMPRESSED",
                          "ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"AppendDelimiterToRecord",
                            "Parameters":[{"ParameterName":"Delimiter","ParameterValue":"\\n"}]}]}},
                        "Tags":[{"Key":"team","Value":"a"}]})"));
  ASSERT_EQ(created.status, 200u) << created.body;
  EXPECT_EQ(wire_fixture::tree(created)["DeliveryStreamARN"],
            "arn:aws:firehose:us-east-1:000000000000:deliverystream/d");
  auto described = wire_fixture::tree(call("DescribeDeliveryStream", {{"DeliveryStreamName", "d"}}));
  auto d = described["DeliveryStreamDescription"];
  EXPECT_EQ(d["DeliveryStreamStatus"], "ACTIVE");
  EXPECT_EQ(d["DeliveryStreamType"], "DirectPut");
  EXPECT_TRUE(d["CreateTimestamp"].is_number());
  ASSERT_EQ(d["Destinations"].size(), 1u);
  auto s3 = d["Destinations"][0]["ExtendedS3DestinationDescription"];
  EXPECT_EQ(s3["BucketARN"], "arn:aws:s3:::bucket");
  EXPECT_EQ(s3["Prefix"], "data/");
  EXPECT_EQ(s3["BufferingHints"], json::parse(R"({"SizeInMBs":1,"IntervalInSeconds":60})"));
  EXPECT_EQ(s3["CompressionFormat"], "UNCOMPRESSED");
  EXPECT_EQ(s3["ProcessingConfiguration"]["Processors"][0]["Type"], "AppendDelimiterToRecord");
  // Errors keep Firehose's names.
  auto again = call("CreateDeliveryStream", json::parse(R"({"DeliveryStreamName":"d",
      "ExtendedS3DestinationConfiguration":{"RoleARN":"arn:aws:iam::0:role/r","BucketARN":"arn:aws:s3:::bucket"}})"));
  EXPECT_EQ(wire_fixture::tree(again)["__type"], "ResourceInUseException");
  auto no_role = call("CreateDeliveryStream", json::parse(R"({"DeliveryStreamName":"e",
      "ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bucket"}})"));
  EXPECT_EQ(wire_fixture::tree(no_role)["message"],
            "1 validation error detected: Value null at 'extendedS3DestinationConfiguration.roleARN' failed to "
            "satisfy constraint: Member must not be null");

  ASSERT_EQ(call("PutRecordBatch",
                 {{"DeliveryStreamName", "d"},
                  {"Records", {{{"Data", wire::base64_encode("one")}}, {{"Data", wire::base64_encode("two")}}}}})
                .status,
            200u);
  clock->advance(std::chrono::seconds(61));  // the interval hint delivers
  std::string content;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "bucket")) {
    if (!e.is_regular_file()) continue;
    EXPECT_TRUE(std::filesystem::relative(e.path(), dir / "bucket").string().starts_with("data/")) << e.path();
    std::ifstream in(e.path(), std::ios::binary);
    content += std::string(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(content, "one\ntwo\n");
  EXPECT_TRUE(fh.shutdown().ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rill::testing
