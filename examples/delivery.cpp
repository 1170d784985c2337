// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Click-stream events through a delivery stream: a transformation (a C++
// function in the shape of a Firehose Lambda) drops bot traffic and tags the
// rest; dynamic partitioning by page puts each page's events in its own
// objects; GZIP compression; newline-delimited records. The example prints the
// objects it wrote (keys, sizes, record counts) and reads them back to prove
// that every event arrived.
//
//   rill_delivery_example [directory]     (default: a fresh temporary directory)
//
// It runs on a manual clock: ten minutes of traffic take a fraction of a second.
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rill/clock.hpp"
#include "rill/firehose.hpp"

namespace {

std::string gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 31);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const std::filesystem::path root =
      argc > 1 ? std::filesystem::path(argv[1]) : std::filesystem::temp_directory_path() / "rill-delivery-example";
  std::filesystem::remove_all(root);

  auto clock = std::make_shared<rill::manual_clock>();
  rill::firehose_options options;
  options.clock = clock;
  options.s3_directory = root;
  // The transformation: drop bots, tag the others. It sees what a Lambda would.
  options.lambda_functions["arn:aws:lambda:us-east-1:000000000000:function:enrich"] =
      [](const rill::delivery::transformation_event& event) -> rill::result<rill::delivery::transformation_response> {
    rill::delivery::transformation_response out;
    for (const auto& r : event.records) {
      if (r.data.find("\"agent\":\"bot\"") != std::string::npos) {
        out.records.push_back({r.record_id, "Dropped", std::nullopt, {}});
      } else {
        std::string tagged = r.data.substr(0, r.data.size() - 1) + ",\"enriched\":true}";
        out.records.push_back({r.record_id, "Ok", std::move(tagged), {}});
      }
    }
    return out;
  };
  rill::local_firehose firehose(options);

  rill::delivery::extended_s3_destination_configuration s3;
  s3.role_arn = "arn:aws:iam::000000000000:role/firehose";
  s3.bucket_arn = "arn:aws:s3:::clicks";
  s3.compression_format = "GZIP";
  s3.buffering_hints = rill::delivery::buffering_hints{1, 60};
  s3.prefix = "page=!{partitionKeyFromQuery:page}/!{timestamp:yyyy/MM/dd/HH}/";
  s3.error_output_prefix = "errors/!{firehose:error-output-type}/";
  s3.dynamic_partitioning_configuration = rill::delivery::dynamic_partitioning_configuration{.enabled = true};
  s3.processing_configuration = rill::delivery::processing_configuration{
      .enabled = true,
      .processors = {{.type = "Lambda",
                      .parameters = {{"LambdaArn", "arn:aws:lambda:us-east-1:000000000000:function:enrich"},
                                     {"BufferIntervalInSeconds", "10"}}},
                     {.type = "MetadataExtraction",
                      .parameters = {{"MetadataExtractionQuery", "{page:.page}"}, {"JsonParsingEngine", "JQ-1.6"}}},
                     {.type = "AppendDelimiterToRecord", .parameters = {}}}};
  auto created =
      firehose.create_delivery_stream({.delivery_stream_name = "clicks", .extended_s3_destination_configuration = s3});
  if (!created) {
    std::fprintf(stderr, "create_delivery_stream: %s\n", created.error().to_string().c_str());
    return 1;
  }

  // Ten minutes of clicks, 20 per second, in batches of 20.
  const std::vector<std::string> pages = {"home", "search", "cart", "checkout", "help"};
  std::mt19937 rng(42);
  std::set<std::string> expected;  // event ids that must arrive (bots excluded)
  int events = 0, bots = 0;
  for (int second = 0; second < 600; ++second) {
    std::vector<std::string> batch;
    for (int i = 0; i < 20; ++i) {
      const bool bot = rng() % 10 == 0;
      const std::string id = "e" + std::to_string(events++);
      batch.push_back(R"({"id":")" + id + R"(","page":")" + pages[rng() % pages.size()] + R"(","agent":")" +
                      (bot ? "bot" : "browser") + R"("})");
      if (bot)
        ++bots;
      else
        expected.insert(id);
    }
    std::vector<rill::delivery::record> records;
    for (const auto& b : batch) records.push_back({b});
    auto put = firehose.put_record_batch({.delivery_stream_name = "clicks", .records = records});
    if (!put || put->failed_put_count) {
      std::fprintf(stderr, "put_record_batch failed\n");
      return 1;
    }
    clock->advance(1s);
  }
  if (auto r = firehose.shutdown(); !r) {
    std::fprintf(stderr, "shutdown: %s\n", r.error().to_string().c_str());
    return 1;
  }

  // Read every object back.
  std::map<std::string, int> per_page;
  std::set<std::string> arrived;
  int objects = 0, misplaced = 0;
  std::printf("%-72s %8s %8s\n", "object key", "bytes", "records");
  for (const auto& e : std::filesystem::recursive_directory_iterator(root / "clicks")) {
    if (!e.is_regular_file()) continue;
    const auto key = std::filesystem::relative(e.path(), root / "clicks").string();
    const auto body = read_file(e.path());
    const auto text = gunzip(body);
    int count = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const auto at = line.find("\"id\":\"") + 6;
      arrived.insert(line.substr(at, line.find('"', at) - at));
      const auto pat = line.find("\"page\":\"") + 8;
      if (key.rfind("page=" + line.substr(pat, line.find('"', pat) - pat) + "/", 0) != 0 ||
          line.find("\"enriched\":true") == std::string::npos)
        ++misplaced;
      ++count;
    }
    per_page[key.substr(0, key.find('/'))] += count;
    ++objects;
    if (objects <= 12) std::printf("%-72s %8zu %8d\n", key.c_str(), body.size(), count);
  }
  if (objects > 12) std::printf("... and %d more objects\n", objects - 12);
  std::printf("\n%d events sent, %d bots dropped by the transformation, %zu delivered in %d objects\n", events, bots,
              arrived.size(), objects);
  for (const auto& [page, n] : per_page) std::printf("  %-20s %6d records\n", page.c_str(), n);
  if (arrived != expected || misplaced) {
    std::printf("MISMATCH: %zu expected, %zu arrived, %d in the wrong place\n", expected.size(), arrived.size(),
                misplaced);
    return 1;
  }
  std::printf("every non-bot event arrived, enriched, under its page's prefix\n");
  return 0;
}
