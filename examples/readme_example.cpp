// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The usage example of README.md, kept here so that it always compiles. If you
// change one, change the other.
#include <rill/engine.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

int main() {
  using namespace std::chrono_literals;
  auto clock = std::make_shared<rill::manual_clock>();  // time moves only when told to
  rill::engine kinesis({.clock = clock});
  if (auto r = kinesis.create_stream({.stream_name = "clicks", .shard_count = 1}); !r) {
    std::cerr << r.error() << "\n";  // e.g. "ResourceInUseException: Stream clicks under account ..."
    return 1;
  }
  auto put = kinesis.put_records(
      {.stream_name = "clicks",
       .records = {{.data = "home", .partition_key = "user-1"}, {.data = "cart", .partition_key = "user-1"}}});
  if (!put || put->failed_record_count > 0) return 1;  // failed entries carry an error_code: resend them

  auto it = kinesis.get_shard_iterator({.stream_name = "clicks", .shard_id = "shardId-000000000000"});
  std::optional<std::string> iterator = it->shard_iterator;  // trim_horizon: from the oldest record
  while (iterator) {
    auto got = kinesis.get_records({.shard_iterator = *iterator});
    if (!got) return 1;
    for (const rill::record& r : got->records) std::cout << r.partition_key << ": " << r.data << "\n";
    // An open shard never ends: stop once caught up. A drained closed shard has no next iterator.
    if (got->records.empty() && got->millis_behind_latest == 0) break;
    iterator = got->next_shard_iterator;
  }

  clock->advance(25h);  // past the 24-hour retention period: the records are gone
  auto again = kinesis.get_shard_iterator({.stream_name = "clicks", .shard_id = "shardId-000000000000"});
  auto none = kinesis.get_records({.shard_iterator = again->shard_iterator});
  std::cout << "after 25 hours: " << none->records.size() << " records\n";  // 0
  return 0;
}
