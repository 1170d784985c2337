// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Conservation: seeded random workloads with random transformation results,
// function errors and sink failures (before or after the sink kept the bytes).
// Every accepted record ends up, byte-exact, in the destination, the error
// output or the backup — never nowhere, and more than once only where a failed
// attempt made a retry necessary (counted in statistics().retried_records).
#include <gtest/gtest.h>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "delivery/compression.hpp"
#include "delivery/expressions.hpp"
#include "helpers.hpp"
#include "rill/logging.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

struct store {
  std::mutex mu;
  std::map<std::string, std::string> objects;  // "bucket/key" -> body
};

void run_workload(std::uint64_t seed, bool with_lambda, bool with_backup, bool files, int steps = 300) {
  rill::logger()->set_level(spdlog::level::off);
  std::mt19937_64 rng(seed);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto clock = std::make_shared<manual_clock>();
  temp_dir dir;
  auto st = std::make_shared<store>();
  // The main bucket fails 20 % of attempts, and every attempt during outages of two
  // minutes in seven (longer than the retry duration: those records go to the
  // backup); half of the sink's failures come after it kept the bytes.
  std::mt19937_64 sink_rng(seed ^ 0x5151);
  auto failing = [clock, &sink_rng] {
    const auto minute = std::chrono::duration_cast<std::chrono::minutes>(clock->now().time_since_epoch()).count();
    return minute % 7 < 2 || std::uniform_real_distribution<double>(0, 1)(sink_rng) < 0.2;
  };
  firehose_options o;
  o.clock = clock;
  o.random_seed = seed;
  o.default_retry_duration = 20s;
  auto flaky = std::make_shared<flaky_file_system>();
  if (files) {
    o.s3_directory = dir.path;
    flaky->fail_rename = [failing, root = dir.path](const std::filesystem::path& to) {
      return to.string().rfind((root / "bucket").string(), 0) == 0 && failing();
    };
    o.file_system = flaky;
  } else {
    o.sink = [st, failing, &sink_rng](const delivery::delivered_object& obj) -> result<void> {
      const bool fail = obj.bucket == "bucket" && failing();
      const bool after = (sink_rng() & 1) != 0;
      if (fail && !after) return error(error_code::service_unavailable_exception, "before");
      std::lock_guard lock(st->mu);
      st->objects[obj.bucket + "/" + obj.key] = std::string(obj.body);
      if (fail) return error(error_code::service_unavailable_exception, "after");
      return {};
    };
  }
  std::mt19937_64 fn_rng(seed ^ 0xf00d);
  o.lambda_functions["arn:aws:lambda:us-east-1:000000000000:function:t"] =
      [&fn_rng](const delivery::transformation_event& e) -> result<delivery::transformation_response> {
    if (std::uniform_real_distribution<double>(0, 1)(fn_rng) < 0.1)
      return error(error_code::service_unavailable_exception, "function failed");
    delivery::transformation_response out;
    for (const auto& r : e.records) {
      // The record says its fate: "<id>|<fate>|payload".
      const char fate = r.data[r.data.find('|') + 1];
      if (fate == 'O') out.records.push_back({r.record_id, "Ok", "T:" + r.data, {}});
      if (fate == 'D') out.records.push_back({r.record_id, "Dropped", std::nullopt, {}});
      if (fate == 'F') out.records.push_back({r.record_id, "ProcessingFailed", r.data, {}});
      // 'M': the id is left out of the response.
    }
    return out;
  };
  local_firehose firehose(o);
  auto c = s3();
  c.buffering_hints = hints(1, static_cast<int>(rng() % 3) * 30);
  c.processing_configuration = delivery::processing_configuration{.enabled = true, .processors = {}};
  c.processing_configuration->processors.push_back({.type = "AppendDelimiterToRecord", .parameters = {}});
  if (with_lambda)
    c.processing_configuration->processors.push_back(
        {.type = "Lambda",
         .parameters = {{"LambdaArn", "arn:aws:lambda:us-east-1:000000000000:function:t"},
                        {"NumberOfRetries", "1"},
                        {"BufferIntervalInSeconds", "10"}}});
  if (with_backup) {
    c.s3_backup_mode = "FailedDataOnly";
    c.s3_backup_configuration = delivery::s3_destination_configuration{
        .role_arn = c.role_arn, .bucket_arn = "arn:aws:s3:::backup", .compression_format = "GZIP"};
  }
  c.compression_format = chance(0.5) ? "GZIP" : "UNCOMPRESSED";
  RILL_ASSERT_OK(
      firehose.create_delivery_stream({.delivery_stream_name = "s", .extended_s3_destination_configuration = c}));

  std::map<std::string, std::string> sent;  // id -> record
  int next = 0;
  const char fates[] = {'O', 'O', 'O', 'O', 'D', 'F', 'M'};
  auto make = [&] {
    std::string id = "r" + std::to_string(next++);
    const char fate = with_lambda ? fates[rng() % 7] : 'O';
    std::string payload(rng() % 3000, 'a' + static_cast<char>(rng() % 26));
    return id + "|" + fate + "|" + payload;
  };
  for (int step = 0; step < steps; ++step) {
    if (chance(0.5)) {
      std::vector<std::string> batch(1 + rng() % 20);
      for (auto& b : batch) b = make();
      std::vector<delivery::record> recs;
      for (auto& b : batch) recs.push_back({b});
      auto r = firehose.put_record_batch({.delivery_stream_name = "s", .records = recs});
      ASSERT_TRUE(r.ok()) << r.error();
      for (std::size_t i = 0; i < batch.size(); ++i)
        if (r->request_responses[i].record_id) sent[batch[i].substr(0, batch[i].find('|'))] = batch[i];
    } else {
      auto rec = make();
      auto r = firehose.put_record({.delivery_stream_name = "s", .record = {.data = rec}});
      ASSERT_TRUE(r.ok()) << r.error();
      sent[rec.substr(0, rec.find('|'))] = rec;
    }
    clock->advance(std::chrono::milliseconds(rng() % 20000));
  }
  clock->advance(10min);
  auto shut = firehose.shutdown();
  auto stats = *firehose.statistics("s");
  ASSERT_TRUE(shut.ok() || stats.lost_records > 0) << shut.error();

  std::map<std::string, std::string> objects;
  if (files) {
    for (auto& [k, v] : read_tree(dir.path)) objects[k] = v;
  } else {
    objects = st->objects;
  }
  // Read every object back: data objects hold delimited records, error objects envelopes.
  std::map<std::string, int> delivered, errored;
  for (const auto& [key, body] : objects) {
    const bool backup = key.rfind("backup/", 0) == 0;
    auto comp = key.ends_with(".gz") ? delivery::compression::gzip : delivery::compression::uncompressed;
    auto raw = delivery::decompress(comp, body);
    ASSERT_TRUE(raw.ok()) << key;
    if (key.find("processing-failed") != std::string::npos) {
      for (const auto& line : lines(*raw)) {
        auto j = nlohmann::json::parse(line);
        auto data = delivery::base64_decode(j["rawData"].template get<std::string>());
        ASSERT_TRUE(data.has_value());
        ASSERT_TRUE(j.contains("lambdaArn"));
        ++errored[data->substr(0, data->find('|'))];
        EXPECT_EQ(sent.at(data->substr(0, data->find('|'))), *data) << "error output not byte-exact";
      }
    } else {
      (void)backup;
      for (const auto& line : lines(*raw)) {
        std::string rec = line;
        if (with_lambda) {
          ASSERT_EQ(rec.substr(0, 2), "T:") << key;
          rec = rec.substr(2);
        }
        const auto id = rec.substr(0, rec.find('|'));
        ASSERT_TRUE(sent.count(id)) << "unknown record in " << key;
        EXPECT_EQ(sent[id], rec) << "not byte-exact";
        ++delivered[id];
      }
    }
  }
  std::int64_t extra = 0;
  for (const auto& [id, rec] : sent) {
    const char fate = rec[rec.find('|') + 1];
    const int d = delivered.count(id) ? delivered[id] : 0;
    const int e = errored.count(id) ? errored[id] : 0;
    if (stats.lost_records == 0) {
      if (fate == 'O') EXPECT_GE(d + e, 1) << id << " is nowhere";
      if (fate == 'D') EXPECT_EQ(d, 0) << id << " was dropped";
      if (fate == 'F' || fate == 'M') {
        EXPECT_EQ(d, 0) << id;
        EXPECT_GE(e, 1) << id << " is not in the error output";
      }
    }
    extra += std::max(0, d + e - 1);
  }
  std::printf(
      "[ STATS    ] incoming %lld delivered %lld dropped %lld errors %lld retried %lld failed attempts %lld "
      "duplicates %lld lost %lld objects %zu\n",
      static_cast<long long>(stats.incoming_records), static_cast<long long>(stats.delivered_records),
      static_cast<long long>(stats.dropped_records), static_cast<long long>(stats.error_output_records),
      static_cast<long long>(stats.retried_records), static_cast<long long>(stats.failed_attempts),
      static_cast<long long>(extra), static_cast<long long>(stats.lost_records), objects.size());
  EXPECT_LE(extra, stats.retried_records) << "duplicates beyond the retries";
  EXPECT_EQ(stats.incoming_records, static_cast<std::int64_t>(sent.size()));
  EXPECT_EQ(stats.pending_records, 0);
  EXPECT_EQ(stats.incoming_records,
            stats.delivered_records + stats.dropped_records + stats.error_output_records + stats.lost_records);
  EXPECT_EQ(stats.lost_records, 0);
  if (!files) EXPECT_GT(stats.failed_attempts, 0);
}

TEST(DeliveryConservation, DirectPutWithSinkFailures) {
  const auto seed = test_seed(1);
  for (std::uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    run_workload(seed + i, false, true, false);
  }
}

TEST(DeliveryConservation, TransformationResultsAndSinkFailures) {
  const auto seed = test_seed(2);
  for (std::uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    run_workload(seed + i, true, true, false);
  }
}

TEST(DeliveryConservation, FilesWithRenameFailuresAndNoBackup) {
  const auto seed = test_seed(3);
  run_workload(seed, true, false, true, 120);
}

}  // namespace
}  // namespace rill::testing
