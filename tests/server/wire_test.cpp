// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The wire protocol without a network: every operation in JSON 1.1 and CBOR
// 1.1, the rejection cascade, type checks, validation, error shapes, SigV4.
#include <gtest/gtest.h>

#include <cmath>

#include "server/operations.hpp"
#include "server/sigv4.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

std::int64_t millis_of(const json& v) {
  // JSON: seconds with a fraction; CBOR (tag 1 skipped): integer milliseconds.
  if (v.is_number_float()) return std::llround(v.get<double>() * 1000.0);
  return v.get<std::int64_t>();
}

class EveryOperation : public ::testing::TestWithParam<body_format> {};

TEST_P(EveryOperation, RoundTripsThroughTheEngine) {
  const body_format f = GetParam();
  wire_fixture w;
  const std::int64_t t0 = w.clock->now().time_since_epoch().count();

  // Control plane.
  auto created = w.call("CreateStream", {{"StreamName", "s"}, {"ShardCount", 2}, {"Tags", {{"team", "a"}}}}, f);
  EXPECT_EQ(created.status, 200u);
  EXPECT_TRUE(created.body.empty());
  EXPECT_EQ(created.content_type, content_type_of(f)) << "Content-Type is set even on an empty 200";

  auto d = w.ok("DescribeStream", {{"StreamName", "s"}}, f)["StreamDescription"];
  EXPECT_EQ(d["StreamName"], "s");
  EXPECT_EQ(d["StreamARN"], "arn:aws:kinesis:us-east-1:000000000000:stream/s");
  EXPECT_EQ(d["StreamStatus"], "ACTIVE");
  EXPECT_EQ(d["StreamModeDetails"]["StreamMode"], "PROVISIONED");
  ASSERT_EQ(d["Shards"].size(), 2u);
  EXPECT_EQ(d["Shards"][0]["ShardId"], "shardId-000000000000");
  EXPECT_EQ(d["Shards"][0]["HashKeyRange"]["StartingHashKey"], "0");
  EXPECT_EQ(d["Shards"][1]["HashKeyRange"]["EndingHashKey"], "340282366920938463463374607431768211455");
  EXPECT_TRUE(d["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"].is_string());
  EXPECT_EQ(d["HasMoreShards"], false);
  EXPECT_EQ(d["RetentionPeriodHours"], 24);
  EXPECT_EQ(millis_of(d["StreamCreationTimestamp"]), t0);
  EXPECT_EQ(d["EncryptionType"], "NONE");

  auto sum = w.ok("DescribeStreamSummary", {{"StreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/s"}}, f);
  EXPECT_EQ(sum["StreamDescriptionSummary"]["OpenShardCount"], 2);
  EXPECT_EQ(sum["StreamDescriptionSummary"]["ConsumerCount"], 0);

  auto ls = w.ok("ListStreams", json::object(), f);
  EXPECT_EQ(ls["StreamNames"], json::array({"s"}));
  EXPECT_EQ(ls["HasMoreStreams"], false);
  EXPECT_EQ(ls["StreamSummaries"][0]["StreamStatus"], "ACTIVE");

  auto shards = w.ok("ListShards", {{"StreamName", "s"}, {"ShardFilter", {{"Type", "AT_LATEST"}}}}, f);
  EXPECT_EQ(shards["Shards"].size(), 2u);

  EXPECT_EQ(w.call("AddTagsToStream", {{"StreamName", "s"}, {"Tags", {{"env", "test"}}}}, f).status, 200u);
  auto tags = w.ok("ListTagsForStream", {{"StreamName", "s"}}, f);
  EXPECT_EQ(tags["Tags"], json::parse(R"([{"Key":"env","Value":"test"},{"Key":"team","Value":"a"}])"));
  EXPECT_EQ(tags["HasMoreTags"], false);
  EXPECT_EQ(w.call("RemoveTagsFromStream", {{"StreamName", "s"}, {"TagKeys", {"env"}}}, f).status, 200u);
  EXPECT_EQ(w.ok("ListTagsForStream", {{"StreamName", "s"}}, f)["Tags"].size(), 1u);

  EXPECT_EQ(w.call("IncreaseStreamRetentionPeriod", {{"StreamName", "s"}, {"RetentionPeriodHours", 48}}, f).status,
            200u);
  EXPECT_EQ(w.ok("DescribeStreamSummary", {{"StreamName", "s"}}, f)["StreamDescriptionSummary"]["RetentionPeriodHours"],
            48);
  EXPECT_EQ(w.call("DecreaseStreamRetentionPeriod", {{"StreamName", "s"}, {"RetentionPeriodHours", 24}}, f).status,
            200u);

  auto mon = w.ok("EnableEnhancedMonitoring", {{"StreamName", "s"}, {"ShardLevelMetrics", {"IncomingBytes"}}}, f);
  EXPECT_EQ(mon["DesiredShardLevelMetrics"], json::array({"IncomingBytes"}));
  mon = w.ok("DisableEnhancedMonitoring", {{"StreamName", "s"}, {"ShardLevelMetrics", {"ALL"}}}, f);
  EXPECT_EQ(mon["CurrentShardLevelMetrics"], json::array({"IncomingBytes"}));

  auto limits = w.ok("DescribeLimits", json::object(), f);
  EXPECT_EQ(limits["OpenShardCount"], 2);
  EXPECT_TRUE(limits["ShardLimit"].is_number_integer());

  // Data plane: binary data survives both encodings.
  const std::string binary("\x00\xff\x01 \"\\\n", 7);
  auto put = w.ok("PutRecord", {{"StreamName", "s"}, {"Data", blob(f, binary)}, {"PartitionKey", "k"}}, f);
  EXPECT_TRUE(put["ShardId"].get<std::string>().starts_with("shardId-"));
  EXPECT_EQ(put["SequenceNumber"].get<std::string>().size(), 56u);
  EXPECT_EQ(put["EncryptionType"], "NONE");

  json entries = json::array();
  for (int i = 0; i < 10; ++i) {
    entries.push_back({{"Data", blob(f, "r" + std::to_string(i))}, {"PartitionKey", "k"}});
  }
  entries.push_back({{"Data", blob(f, "explicit")}, {"PartitionKey", "x"}, {"ExplicitHashKey", "0"}});
  auto puts = w.ok("PutRecords", {{"StreamName", "s"}, {"Records", entries}}, f);
  EXPECT_EQ(puts["FailedRecordCount"], 0);
  ASSERT_EQ(puts["Records"].size(), 11u);
  EXPECT_EQ(puts["Records"][10]["ShardId"], "shardId-000000000000");

  std::string shard = put["ShardId"];
  auto it = w.ok("GetShardIterator", {{"StreamName", "s"}, {"ShardId", shard}, {"ShardIteratorType", "TRIM_HORIZON"}},
                 f)["ShardIterator"]
                .get<std::string>();
  auto got = w.ok("GetRecords", {{"ShardIterator", it}, {"Limit", 5}}, f);
  ASSERT_EQ(got["Records"].size(), 5u);
  EXPECT_EQ(blob_bytes(got["Records"][0]["Data"]), binary);
  EXPECT_EQ(got["Records"][0]["PartitionKey"], "k");
  EXPECT_EQ(got["Records"][0]["SequenceNumber"], put["SequenceNumber"]);
  EXPECT_EQ(millis_of(got["Records"][0]["ApproximateArrivalTimestamp"]), t0);
  EXPECT_TRUE(got["NextShardIterator"].is_string());
  EXPECT_TRUE(got["MillisBehindLatest"].is_number_integer());

  // AT_TIMESTAMP: a timestamp input in each format's encoding.
  json at = wire::timestamp_value(w.clock->now());
  auto it2 =
      w.ok("GetShardIterator",
           {{"StreamName", "s"}, {"ShardId", shard}, {"ShardIteratorType", "AT_TIMESTAMP"}, {"Timestamp", at}}, f);
  EXPECT_TRUE(it2["ShardIterator"].is_string());
  auto after = w.ok("GetShardIterator",
                    {{"StreamName", "s"},
                     {"ShardId", shard},
                     {"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"},
                     {"StartingSequenceNumber", put["SequenceNumber"]}},
                    f);
  EXPECT_TRUE(after["ShardIterator"].is_string());

  // Resharding, and a read across the split that ends with the children.
  EXPECT_EQ(w.call("SplitShard",
                   {{"StreamName", "s"}, {"ShardToSplit", "shardId-000000000000"}, {"NewStartingHashKey", "1000"}}, f)
                .status,
            200u);
  auto it0 = w.ok("GetShardIterator",
                  {{"StreamName", "s"}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "TRIM_HORIZON"}}, f);
  json page = w.ok("GetRecords", {{"ShardIterator", it0["ShardIterator"]}}, f);
  while (page.contains("NextShardIterator"))
    page = w.ok("GetRecords", {{"ShardIterator", page["NextShardIterator"]}}, f);
  ASSERT_EQ(page["ChildShards"].size(), 2u);
  EXPECT_EQ(page["ChildShards"][0]["ParentShards"], json::array({"shardId-000000000000"}));
  EXPECT_EQ(page["ChildShards"][0]["HashKeyRange"]["EndingHashKey"], "999");

  EXPECT_EQ(w.call("MergeShards",
                   {{"StreamName", "s"},
                    {"ShardToMerge", "shardId-000000000002"},
                    {"AdjacentShardToMerge", "shardId-000000000003"}},
                   f)
                .status,
            200u);
  auto usc =
      w.ok("UpdateShardCount", {{"StreamName", "s"}, {"TargetShardCount", 4}, {"ScalingType", "UNIFORM_SCALING"}}, f);
  EXPECT_EQ(usc["TargetShardCount"], 4);
  EXPECT_EQ(usc["StreamName"], "s");
  EXPECT_EQ(w.call("UpdateStreamMode",
                   {{"StreamARN", "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
                    {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}}},
                   f)
                .status,
            200u);
  EXPECT_EQ(w.call("DeleteStream", {{"StreamName", "s"}}, f).status, 200u);
  auto gone = w.call("DescribeStream", {{"StreamName", "s"}}, f);
  EXPECT_EQ(gone.status, 400u);
  EXPECT_EQ(wire_fixture::tree(gone)["__type"], "ResourceNotFoundException");
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryOperation, ::testing::Values(body_format::json, body_format::cbor),
                         [](const auto& info) { return info.param == body_format::json ? "Json" : "Cbor"; });

TEST(Wire, PutRecordsFastPathAnswersLikeTheGenericPath) {
  wire_fixture w;
  ASSERT_EQ(w.call("CreateStream", {{"StreamName", "s"}, {"ShardCount", 2}}).status, 200u);
  // Fast: the plain shape. Generic: the same request with an unknown member and an
  // escaped character (the scanner hands both to the tree path).
  auto fast = w.raw(make_request(
      "PutRecords", R"({"StreamName":"s","Records":[{"Data":"aGk=","PartitionKey":"k"},{"Data":"","PartitionKey":"j",
                    "ExplicitHashKey":"0"}]})"));
  auto generic = w.raw(make_request(
      "PutRecords", R"({"StreamName":"s","Extra":1,"Records":[{"Data":"aGk=","PartitionKey":"k"},{"Data":"",
                    "PartitionKey":"j","ExplicitHashKey":"0"}]})"));
  ASSERT_EQ(fast.status, 200u);
  ASSERT_EQ(generic.status, 200u);
  auto a = wire_fixture::tree(fast), b = wire_fixture::tree(generic);
  EXPECT_EQ(a["FailedRecordCount"], 0);
  EXPECT_EQ(a["EncryptionType"], "NONE");
  ASSERT_EQ(a["Records"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a["Records"][i]["ShardId"], b["Records"][i]["ShardId"]);
    EXPECT_EQ(a["Records"][i].size(), 2u);
  }
  EXPECT_EQ(a["Records"][1]["ShardId"], "shardId-000000000000");
  // Errors: from the engine through the fast path, and the exact type errors from the generic one.
  auto missing =
      w.raw(make_request("PutRecords", R"({"StreamName":"nope","Records":[{"Data":"","PartitionKey":"k"}]})"));
  EXPECT_EQ(wire_fixture::tree(missing)["__type"], "ResourceNotFoundException");
  auto bad = w.raw(make_request("PutRecords", R"({"StreamName":"s","Records":[{"Data":"abc","PartitionKey":"k"}]})"));
  EXPECT_EQ(
      wire_fixture::tree(bad)["Message"],
      "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3");
  auto empty = w.raw(make_request("PutRecords", R"({"StreamName":"s","Records":[]})"));
  EXPECT_EQ(wire_fixture::tree(empty)["__type"], "ValidationException");
  // Authorization is still checked first on the fast path's shape.
  auto r = make_request("PutRecords", R"({"StreamName":"s","Records":[{"Data":"","PartitionKey":"k"}]})");
  r.headers.pop_back();
  EXPECT_EQ(wire_fixture::tree(w.raw(r))["__type"], "MissingAuthenticationTokenException");
}

TEST(Wire, TheTableServesEveryKinesisOperation) {
  std::vector<std::string> names;
  for (const auto& op : wire::kinesis_operations()) names.emplace_back(op.name);
  EXPECT_EQ(names.size(), 34u);
  for (const char* n : {"PutRecord", "PutRecords", "GetRecords", "GetShardIterator", "ListShards", "UpdateStreamMode",
                        "DescribeLimits", "EnableEnhancedMonitoring"}) {
    EXPECT_NE(wire::find_kinesis_operation(n), nullptr) << n;
  }
  for (const char* n : {"RegisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers",
                        "DeregisterStreamConsumer", "SubscribeToShard"}) {
    EXPECT_NE(wire::find_kinesis_operation(n), nullptr) << n;
  }
  EXPECT_EQ(wire::find_kinesis_operation("NoSuchOperation"), nullptr);
}

TEST_P(EveryOperation, ReportsAMissingStreamWithItsAwsName) {
  const body_format f = GetParam();
  wire_fixture w;
  const std::string arn = "arn:aws:kinesis:us-east-1:000000000000:stream/missing";
  // The members each operation requires, aimed at a stream that does not exist.
  const std::vector<std::pair<std::string, json>> calls = {
      {"AddTagsToStream", {{"StreamName", "missing"}, {"Tags", {{"a", "b"}}}}},
      {"DecreaseStreamRetentionPeriod", {{"StreamName", "missing"}, {"RetentionPeriodHours", 24}}},
      {"DeleteStream", {{"StreamName", "missing"}}},
      {"DescribeStream", {{"StreamName", "missing"}}},
      {"DescribeStreamSummary", {{"StreamARN", arn}}},
      {"DisableEnhancedMonitoring", {{"StreamName", "missing"}, {"ShardLevelMetrics", {"ALL"}}}},
      {"EnableEnhancedMonitoring", {{"StreamName", "missing"}, {"ShardLevelMetrics", {"ALL"}}}},
      {"GetShardIterator", {{"StreamName", "missing"}, {"ShardId", "0"}, {"ShardIteratorType", "LATEST"}}},
      {"IncreaseStreamRetentionPeriod", {{"StreamName", "missing"}, {"RetentionPeriodHours", 48}}},
      {"ListShards", {{"StreamName", "missing"}}},
      {"ListTagsForStream", {{"StreamName", "missing"}}},
      {"MergeShards", {{"StreamName", "missing"}, {"ShardToMerge", "0"}, {"AdjacentShardToMerge", "1"}}},
      {"PutRecord", {{"StreamName", "missing"}, {"Data", blob(f, "x")}, {"PartitionKey", "k"}}},
      {"PutRecords", {{"StreamName", "missing"}, {"Records", {{{"Data", blob(f, "x")}, {"PartitionKey", "k"}}}}}},
      {"RemoveTagsFromStream", {{"StreamName", "missing"}, {"TagKeys", {"a"}}}},
      {"SplitShard", {{"StreamName", "missing"}, {"ShardToSplit", "0"}, {"NewStartingHashKey", "10"}}},
      {"UpdateShardCount", {{"StreamName", "missing"}, {"TargetShardCount", 2}, {"ScalingType", "UNIFORM_SCALING"}}},
      {"UpdateStreamMode", {{"StreamARN", arn}, {"StreamModeDetails", {{"StreamMode", "ON_DEMAND"}}}}},
  };
  for (const auto& [op, body] : calls) {
    auto r = w.call(op, body, f);
    EXPECT_EQ(r.status, 400u) << op;
    EXPECT_EQ(r.content_type, content_type_of(f)) << op;
    auto t = wire_fixture::tree(r);
    EXPECT_EQ(t["__type"], "ResourceNotFoundException") << op << ": " << t.dump();
    EXPECT_TRUE(t["message"].is_string()) << op;
  }
  // A garbage iterator is an InvalidArgumentException.
  auto bad = wire_fixture::tree(w.call("GetRecords", {{"ShardIterator", "AAAA"}}, f));
  EXPECT_EQ(bad["__type"], "InvalidArgumentException");
}

TEST(Wire, EveryResponseCarriesRequestIds) {
  wire_fixture w;
  for (auto r : {w.call("ListStreams", json::object()), w.call("DescribeStream", {{"StreamName", "nope"}})}) {
    const wire::header* id = nullptr;
    const wire::header* id2 = nullptr;
    for (const auto& h : r.headers) {
      if (h.name == "x-amzn-RequestId") id = &h;
      if (h.name == "x-amz-id-2") id2 = &h;
    }
    ASSERT_NE(id, nullptr);
    ASSERT_NE(id2, nullptr);
    EXPECT_EQ(id->value.size(), 36u);
    EXPECT_EQ(id->value[14], '4');
    EXPECT_TRUE(wire::base64_decode(id2->value).ok());
  }
}

TEST(Wire, RequestsAndErrorsAreCountedPerOperation) {
  auto clock = std::make_shared<manual_clock>();
  auto metrics = std::make_shared<metrics_registry>(clock);
  wire_fixture w({.metrics = metrics});
  (void)w.call("ListStreams", json::object());
  (void)w.call("DescribeStream", {{"StreamName", "missing"}});
  auto sum = [&](std::string_view name, std::string_view op) {
    const metric_dimension dims[] = {{"Operation", std::string(op)}};
    double s = 0;
    for (const auto& d : metrics->get("rill/Server", name, dims, timestamp{}, timestamp::max()).datapoints) s += d.sum;
    return s;
  };
  EXPECT_EQ(sum("Requests", "ListStreams"), 1);
  EXPECT_EQ(sum("Requests", "DescribeStream"), 1);
  EXPECT_EQ(sum("ClientErrors", "DescribeStream"), 1);
  EXPECT_EQ(sum("ClientErrors", "ListStreams"), 0);
}

// --- Rejection cascade ------------------------------------------------------

TEST(Cascade, NonPostIsAccessDeniedXml) {
  wire_fixture w;
  auto r = make_request("ListStreams", "{}");
  r.method = "GET";
  auto res = w.raw(r);
  EXPECT_EQ(res.status, 403u);
  EXPECT_EQ(res.body,
            "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be "
            "authorized</Message>\n</AccessDeniedException>\n");
}

TEST(Cascade, EmptyBodyIsSerializationOrUnknownOperationInCborUnlessJson) {
  wire_fixture w;
  auto r = make_request("ListStreams", "");
  auto res = w.raw(r);
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(res.content_type, "application/x-amz-json-1.1");
  EXPECT_EQ(res.body, R"({"__type":"SerializationException"})");

  r = make_request("Nope", "", body_format::cbor);
  res = w.raw(r);
  EXPECT_EQ(res.content_type, "application/x-amz-cbor-1.1");
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "UnknownOperationException");
}

TEST(Cascade, UnsupportedContentType) {
  wire_fixture w;
  auto r = make_request("ListStreams", "{}");
  r.headers[2].value = "text/plain";
  auto res = w.raw(r);
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(res.body, "<UnknownOperationException/>\n");
  r.headers[1].value = "garbage";
  res = w.raw(r);
  EXPECT_EQ(res.status, 403u);
  EXPECT_NE(res.body.find("AccessDeniedException"), std::string::npos);
}

TEST(Cascade, UnparseableBodyBeforeUnknownTarget) {
  wire_fixture w;
  auto res = w.raw(make_request("Nope", "{not json"));
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(res.body, R"({"__type":"SerializationException"})");
  res = w.raw(make_request("Nope", "{}"));
  EXPECT_EQ(res.body, R"({"__type":"UnknownOperationException"})");
  res = w.raw(make_request("ListStreams", "{}", body_format::json, "Kinesis_20131201"));
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "UnknownOperationException");
  res = w.raw(make_request("PutRecord", "{}", body_format::json, "Firehose_20150804"));
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "UnknownOperationException");
}

TEST(Cascade, AuthorizationMustBePresentAndComplete) {
  wire_fixture w;
  auto r = make_request("ListStreams", "{}");
  r.headers.pop_back();  // authorization
  auto res = w.raw(r);
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(wire_fixture::tree(res), json::parse(R"({"__type":"MissingAuthenticationTokenException",
                                                     "message":"Missing Authentication Token"})"));
  r.headers.push_back({"authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request"});
  res = w.raw(r);
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "IncompleteSignatureException");
  EXPECT_EQ(wire_fixture::tree(res)["message"],
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
            "parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request");
  r = make_request("ListStreams", "{}");
  r.target = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256";
  res = w.raw(r);
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "InvalidSignatureException");
  r.headers.pop_back();
  res = w.raw(r);
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "IncompleteSignatureException");
  EXPECT_NE(wire_fixture::tree(res)["message"].get<std::string>().find("must include 'X-Amz-Credential'"),
            std::string::npos);
}

TEST(Cascade, TypeChecksComeBeforeValidationAndUseCapitalMessage) {
  wire_fixture w;
  auto res = w.call("CreateStream", {{"StreamName", 5}, {"ShardCount", "x"}});
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(wire_fixture::tree(res), json::parse(R"({"__type":"SerializationException",
                            "Message":"class java.lang.Long can not be converted to an String"})"));
  res = w.call("CreateStream", {{"StreamName", "s"}, {"ShardCount", "x"}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"], "class java.lang.String can not be converted to an Integer");
  res = w.call("CreateStream", {{"StreamName", {1}}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"], "Start of list found where not expected");
  res = w.call("CreateStream", {{"StreamName", {{"a", 1}}}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"], "Start of structure or map found where not expected.");
  res = w.call("PutRecord", {{"StreamName", "s"}, {"PartitionKey", "k"}, {"Data", "23456"}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"],
            "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but "
            "found: 5");
  res = w.call("PutRecord", {{"StreamName", "s"}, {"PartitionKey", "k"}, {"Data", "ab$d"}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"], "'ab$d' can not be converted to a Blob: Invalid Base64 character: '$'");
  res = w.call("PutRecord", {{"StreamName", "s"}, {"PartitionKey", "k"}, {"Data", "YR=="}});
  EXPECT_EQ(wire_fixture::tree(res)["Message"],
            "'YR==' can not be converted to a Blob: Invalid last non-pad Base64 character dectected");
  res = w.call("ListStreams", {{"Limit", 3.0e10}});
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "SerializationException");
  auto r = make_request("ListStreams", "[1]");
  EXPECT_EQ(wire_fixture::tree(w.raw(r))["Message"], "Start of list found where not expected");
}

TEST(Cascade, MissingRequiredMembersAreValidationErrors) {
  wire_fixture w;
  auto res = w.call("CreateStream", json::object());
  EXPECT_EQ(wire_fixture::tree(res),
            json::parse(R"({"__type":"ValidationException","message":"1 validation error detected: Value null at )"
                        R"('streamName' failed to satisfy constraint: Member must not be null"})"));
  res = w.call("PutRecords", {{"StreamName", "s"}, {"Records", {{{"PartitionKey", "k"}}, {{"Data", ""}}}}});
  EXPECT_EQ(wire_fixture::tree(res)["message"],
            "2 validation errors detected: Value null at 'records.1.member.data' failed to satisfy constraint: Member "
            "must not be null; Value null at 'records.2.member.partitionKey' failed to satisfy constraint: Member "
            "must not be null");
  res = w.call("GetShardIterator", {{"StreamName", "s"}, {"ShardId", "0"}, {"ShardIteratorType", "OLDEST"}});
  EXPECT_EQ(wire_fixture::tree(res)["message"],
            "1 validation error detected: Value 'OLDEST' at 'shardIteratorType' failed to satisfy constraint: Member "
            "must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, "
            "TRIM_HORIZON]");
}

TEST(Cascade, EngineErrorsKeepTheirNamesAndInternalFailureIs500) {
  wire_fixture w;
  auto res = w.call("DescribeStream", {{"StreamName", "missing"}});
  EXPECT_EQ(res.status, 400u);
  auto t = wire_fixture::tree(res);
  EXPECT_EQ(t["__type"], "ResourceNotFoundException");
  EXPECT_EQ(t["message"], "Stream missing under account 000000000000 not found.");
  bool has_type_header = false;
  for (const auto& h : res.headers) has_type_header |= h.name == "x-amzn-ErrorType";
  EXPECT_TRUE(has_type_header);

  ASSERT_EQ(w.call("CreateStream", {{"StreamName", "s"}, {"ShardCount", 1}}).status, 200u);
  w.engine->set_fault_plan({.rules = {{.operation = "ListShards"}}});
  res = w.call("ListShards", {{"StreamName", "s"}});
  EXPECT_EQ(res.status, 500u);
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "InternalFailure");
}

TEST(Cascade, LegacyJsonWrapsErrors) {
  wire_fixture w;
  auto r = make_request("Nope", "{}");
  r.headers[2].value = "application/json";
  auto res = w.raw(r);
  EXPECT_EQ(res.status, 404u);
  EXPECT_EQ(
      wire_fixture::tree(res),
      json::parse(R"({"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"})"));
}

TEST(Cascade, OversizeBodyIsRefusedBeforeParsing) {
  wire_fixture w({.limits = {.max_body_bytes = 8192, .max_control_body_bytes = 1024}});
  std::string big(2048, ' ');
  big[0] = '{';
  big.back() = '}';
  auto res = w.raw(make_request("ListStreams", big));
  EXPECT_EQ(res.status, 413u);
  res = w.raw(make_request("PutRecords", big));  // the large cap applies to PutRecords
  EXPECT_EQ(wire_fixture::tree(res)["__type"], "ValidationException");
}

TEST(Cascade, CorsPreflightAndOrigin) {
  wire_fixture w;
  auto r = make_request("ListStreams", "{}");
  r.headers.push_back({"origin", "http://example.com"});
  auto res = w.raw(r);
  bool allow = false;
  for (const auto& h : res.headers) allow |= h.name == "Access-Control-Allow-Origin" && h.value == "*";
  EXPECT_TRUE(allow);
  r.method = "OPTIONS";
  EXPECT_EQ(w.raw(r).status, 200u);
}

// --- Codecs -------------------------------------------------------------------

TEST(Codec, TimestampsAreSecondsWithMillisNeverExponent) {
  std::string s;
  wire::append_epoch_seconds(1459799926480, s);
  EXPECT_EQ(s, "1459799926.48");
  s.clear();
  wire::append_epoch_seconds(1704067200000, s);
  EXPECT_EQ(s, "1704067200.0");
  s.clear();
  wire::append_epoch_seconds(5, s);
  EXPECT_EQ(s, "0.005");
  EXPECT_EQ(wire::write_body(json{{"T", wire::timestamp_value(timestamp(duration(1704067200123)))}}, body_format::json),
            R"({"T":1704067200.123})");
}

TEST(Codec, CborTimestampsAreTag1IntegerMillis) {
  auto bytes = wire::write_body(wire::timestamp_value(timestamp(duration(1704067200123))), body_format::cbor);
  // 0xc1 = tag 1; 0x1b = uint64 follows.
  ASSERT_EQ(bytes.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0xC1);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x1B);
  auto back = wire::parse_body(bytes, body_format::cbor);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->get<std::int64_t>(), 1704067200123);
  // Blobs are byte strings (major type 2).
  auto blob = wire::write_body(wire::blob_value("ab"), body_format::cbor);
  EXPECT_EQ(blob, std::string("\x42"
                              "ab"));
}

TEST(Codec, Base64IsStrict) {
  EXPECT_EQ(*wire::base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(*wire::base64_decode(""), "");
  EXPECT_FALSE(wire::base64_decode("aGVsbG8").ok());
  EXPECT_FALSE(wire::base64_decode("aGVsbG9=").ok());  // non-canonical: low bits set
  EXPECT_FALSE(wire::base64_decode("aG=sbG8=").ok());
  EXPECT_FALSE(wire::base64_decode("aGVs\nG8=").ok());
  for (std::string s :
       {std::string(""), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(*wire::base64_decode(wire::base64_encode(s)), s);
  }
}

TEST(Codec, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep(100000, '[');
  EXPECT_FALSE(wire::parse_body(deep, body_format::json));
  std::string cbor(100000, '\x81');  // arrays of one element, nested
  EXPECT_FALSE(wire::parse_body(cbor, body_format::cbor));
  std::string ok(20, '[');
  ok += std::string(20, ']');
  EXPECT_TRUE(wire::parse_body(ok, body_format::json));
}

// --- SigV4 -----------------------------------------------------------------------

TEST(SigV4, AwsTestSuiteVectorForPostWithBody) {
  // The AWS SigV4 test suite's "post-x-www-form-urlencoded" case (credentials and scope of the suite).
  wire::request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"content-type", "application/x-www-form-urlencoded"},
               {"host", "example.amazonaws.com"},
               {"x-amz-date", "20150830T123600Z"}};
  r.body = "Param1=value1";
  wire::sigv4_authorization a{.access_key_id = "AKIDEXAMPLE",
                              .date = "20150830",
                              .region = "us-east-1",
                              .service = "service",
                              .signed_headers = "content-type;host;x-amz-date"};
  EXPECT_EQ(wire::sigv4_signature(r, a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z"),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4, AwsTestSuiteVectorGetVanilla) {
  wire::request r;
  r.method = "GET";
  r.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
  wire::sigv4_authorization a{.access_key_id = "AKIDEXAMPLE",
                              .date = "20150830",
                              .region = "us-east-1",
                              .service = "service",
                              .signed_headers = "host;x-amz-date"};
  EXPECT_EQ(wire::sigv4_signature(r, a, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z"),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, VerificationRefusesWhatDoesNotVerify) {
  wire_fixture w({.sigv4 = {.verify = true, .credentials = {{"AKID", "secret"}}}});
  auto signed_request = [&](std::string_view akid, std::string_view secret, std::string date) {
    wire::request r;
    r.method = "POST";
    r.headers = {{"host", "localhost:4567"},
                 {"x-amz-target", "Kinesis_20131202.ListStreams"},
                 {"content-type", "application/x-amz-json-1.1"}};
    r.body = "{}";
    wire::sigv4_sign(r, akid, secret, "eu-west-1", "kinesis", date);
    return r;
  };
  const std::string now = "20240101T000000Z";  // the manual clock's start
  EXPECT_EQ(w.raw(signed_request("AKID", "secret", now)).status, 200u);
  EXPECT_EQ(wire_fixture::tree(w.raw(signed_request("AKID", "wrong", now)))["__type"], "InvalidSignatureException");
  EXPECT_EQ(wire_fixture::tree(w.raw(signed_request("OTHER", "secret", now)))["__type"], "UnrecognizedClientException");
  auto stale = wire_fixture::tree(w.raw(signed_request("AKID", "secret", "20231231T234000Z")));
  EXPECT_EQ(stale["__type"], "InvalidSignatureException");
  EXPECT_EQ(stale["message"],
            "Signature expired: 20231231T234000Z is now earlier than 20231231T234500Z (20240101T000000Z - 15 min.)");
  // A tampered body no longer matches its signature.
  auto r = signed_request("AKID", "secret", now);
  r.body = R"({"Limit":1})";
  EXPECT_EQ(wire_fixture::tree(w.raw(r))["__type"], "InvalidSignatureException");
  // Nothing reaches a stream unauthenticated.
  auto create = make_request("CreateStream", R"({"StreamName":"s","ShardCount":1})");
  EXPECT_EQ(wire_fixture::tree(w.raw(create))["__type"], "InvalidSignatureException");
  EXPECT_FALSE(w.engine->describe_stream_summary({.stream_name = "s"}).ok());
}

TEST(Wire, ArnTaggingResourcePoliciesAndMaxRecordSize) {
  for (auto f : {body_format::json, body_format::cbor}) {
    wire_fixture w;
    w.ok("CreateStream", {{"StreamName", "s"}, {"ShardCount", 1}, {"MaxRecordSizeInKiB", 2048}}, f);
    auto sum = w.ok("DescribeStreamSummary", {{"StreamName", "s"}}, f)["StreamDescriptionSummary"];
    EXPECT_EQ(sum["MaxRecordSizeInKiB"], 2048);
    const std::string arn = sum["StreamARN"];
    w.ok("TagResource", {{"ResourceARN", arn}, {"Tags", {{"team", "a"}, {"env", "dev"}}}}, f);
    auto tags = w.ok("ListTagsForResource", {{"ResourceARN", arn}}, f)["Tags"];
    EXPECT_EQ(tags.size(), 2u);
    w.ok("UntagResource", {{"ResourceARN", arn}, {"TagKeys", {"env"}}}, f);
    EXPECT_EQ(w.ok("ListTagsForResource", {{"ResourceARN", arn}}, f)["Tags"],
              json::parse(R"([{"Key":"team","Value":"a"}])"));
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kinesis:GetRecords","Resource":")" +
        arn + R"("}]})";
    auto put = w.call("PutResourcePolicy", {{"ResourceARN", arn}, {"Policy", policy}}, f);
    EXPECT_EQ(put.status, 200u) << wire_fixture::tree(put).dump();
    if (put.status == 200u) {
      EXPECT_EQ(w.ok("GetResourcePolicy", {{"ResourceARN", arn}}, f)["Policy"], policy);
      w.ok("DeleteResourcePolicy", {{"ResourceARN", arn}}, f);
    }
    w.ok("UpdateMaxRecordSize", {{"StreamARN", arn}, {"MaxRecordSizeInKiB", 4096}}, f);
    EXPECT_EQ(w.ok("DescribeStream", {{"StreamName", "s"}}, f)["StreamDescription"]["MaxRecordSizeInKiB"], 4096);
    auto missing = w.call("TagResource", {{"Tags", {{"a", "b"}}}}, f);
    EXPECT_EQ(wire_fixture::tree(missing)["__type"], "ValidationException");
    // A 2 MiB record goes through the large body cap.
    std::string big(2u << 20, 'x');
    auto r = w.call("PutRecord", {{"StreamName", "s"}, {"Data", blob(f, big)}, {"PartitionKey", "k"}}, f);
    EXPECT_EQ(r.status, 200u) << wire_fixture::tree(r).dump();
  }
}

TEST(SigV4, PresignedQueryStringRequestsVerifyAndExpireOnTheClock) {
  wire_fixture w({.sigv4 = {.verify = true, .credentials = {{"AKID", "secret"}}}});
  auto presigned = [&](std::string_view secret, std::string date, int expires) {
    wire::request r;
    r.method = "POST";
    r.headers = {{"host", "localhost:4567"},
                 {"x-amz-target", "Kinesis_20131202.ListStreams"},
                 {"content-type", "application/x-amz-json-1.1"}};
    r.body = "{}";
    wire::sigv4_presign(r, "AKID", secret, "ap-south-1", "kinesis", date, expires);
    return r;
  };
  auto r = presigned("secret", "20240101T000000Z", 300);
  EXPECT_NE(r.target.find("X-Amz-Credential=AKID%2F20240101%2Fap-south-1%2Fkinesis%2Faws4_request"), std::string::npos)
      << r.target;
  EXPECT_EQ(wire::parse_query_authorization(r.target).region, "ap-south-1");
  EXPECT_EQ(w.raw(r).status, 200u) << w.raw(r).body;
  EXPECT_EQ(wire_fixture::tree(w.raw(presigned("wrong", "20240101T000000Z", 300)))["__type"],
            "InvalidSignatureException");
  // The query is signed: changing a parameter breaks the signature.
  auto tampered = r;
  tampered.target.replace(tampered.target.find("X-Amz-Expires=300"), 17, "X-Amz-Expires=900");
  EXPECT_EQ(wire_fixture::tree(w.raw(tampered))["__type"], "InvalidSignatureException");
  // Expiry on the injected clock: valid until date + X-Amz-Expires.
  w.clock->advance(std::chrono::seconds(300));
  EXPECT_EQ(w.raw(r).status, 200u);
  w.clock->advance(std::chrono::seconds(1));
  auto expired = wire_fixture::tree(w.raw(r));
  EXPECT_EQ(expired["__type"], "InvalidSignatureException");
  EXPECT_EQ(expired["message"],
            "Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z (20240101T000501Z - 300 sec.)");
  // A week at most; not an integer: incomplete.
  auto too_long = presigned("secret", "20240101T000501Z", 604801);
  EXPECT_EQ(wire_fixture::tree(w.raw(too_long))["__type"], "IncompleteSignatureException");
  // Unknown key ids are refused like header-signed ones.
  auto other = r;
  other.target.replace(other.target.find("AKID%2F"), 4, "NOPE");
  EXPECT_EQ(wire_fixture::tree(w.raw(other))["__type"], "UnrecognizedClientException");
  // Without verification a complete presigned request is served as is.
  wire_fixture open;
  EXPECT_EQ(open.raw(presigned("anything", "20200101T000000Z", 1)).status, 200u);
}

TEST(SigV4, ParsesTheCredentialScope) {
  auto a = wire::parse_authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, "
      "Signature=abcd");
  EXPECT_EQ(a.access_key_id, "AKID");
  EXPECT_EQ(a.region, "eu-west-1");
  EXPECT_EQ(a.service, "kinesis");
  EXPECT_EQ(a.signed_headers, "host;x-amz-date");
  EXPECT_EQ(a.signature, "abcd");
}

}  // namespace
}  // namespace rill::testing
