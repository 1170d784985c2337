// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "bench_support.hpp"

#include <malloc.h>
#include <openssl/md5.h>

#include <random>
#include <stdexcept>

#include "rill/clock.hpp"
#include "rill/storage.hpp"

namespace rill::bench {

void md5(std::string_view bytes, unsigned char digest[16]) noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
#pragma GCC diagnostic pop
}

record_set::record_set(std::uint64_t seed, unsigned route_bits, unsigned bucket) {
  if (route_bits > 8 || bucket >= (1U << route_bits)) throw std::invalid_argument("record_set: bad route bits");
  // Two generators, so that the payloads do not depend on how many keys the
  // route filter rejected. Modulo, not std::uniform_int_distribution, keeps the
  // bytes the same on every standard library.
  std::mt19937_64 key_rng(seed);
  std::mt19937_64 payload_rng(seed ^ 0x9e3779b97f4a7c15ULL);
  keys_.reserve(kPoolRecords * kKeyBytes);
  payloads_.reserve(kPoolRecords * kPayloadBytes);
  std::string key(kKeyBytes, '\0');
  unsigned char digest[16];
  while (keys_.size() < kPoolRecords * kKeyBytes) {
    for (char& c : key) c = static_cast<char>('!' + key_rng() % ('~' - '!' + 1));  // printable, no space
    if (route_bits > 0) {
      md5(key, digest);
      if (static_cast<unsigned>(digest[0] >> (8 - route_bits)) != bucket) continue;
    }
    keys_ += key;
  }
  while (payloads_.size() < kPoolRecords * kPayloadBytes) {
    const std::uint64_t r = payload_rng();
    for (int b = 0; b < 8 && payloads_.size() < kPoolRecords * kPayloadBytes; ++b) {
      payloads_.push_back(static_cast<char>(r >> (8 * b)));
    }
  }
}

std::vector<put_records_request> record_set::batches() const {
  std::vector<put_records_request> out(size() / kBatch);
  for (std::size_t b = 0; b < out.size(); ++b) {
    out[b].stream_name = std::string(kStream);
    out[b].records.reserve(kBatch);
    for (std::size_t i = b * kBatch; i < (b + 1) * kBatch; ++i) {
      out[b].records.push_back({.data = payload(i), .partition_key = key(i)});
    }
  }
  return out;
}

const record_set& default_records() {
  static const record_set set(kSeed);
  return set;
}

const std::vector<put_records_request>& default_batches() {
  static const std::vector<put_records_request> batches = default_records().batches();
  return batches;
}

std::unique_ptr<engine> make_engine(std::int32_t shards, bool metrics) {
  engine_options o{
      .clock = std::make_shared<manual_clock>(),
      .storage = make_memory_storage(),
  };
  o.metrics.enabled = metrics;
  auto e = std::make_unique<engine>(std::move(o));
  auto r = e->create_stream({.stream_name = std::string(kStream), .shard_count = shards});
  if (!r) throw std::runtime_error("rill_bench: create_stream: " + r.error().to_string());
  return e;
}

std::size_t heap_bytes_in_use() noexcept {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double measure_bytes_per_record(std::size_t records) {
  const auto& batches = default_batches();
  {
    // Warm up on a throwaway engine, so that one-time allocations (the put
    // path's thread-local scratch, library state) are not charged to records.
    auto warm = make_engine(kShards);
    if (!warm->put_records(batches[0])) throw std::runtime_error("rill_bench: warm-up put_records failed");
  }
  auto e = make_engine(kShards);
  const std::size_t before = heap_bytes_in_use();
  std::size_t put = 0;
  for (std::size_t b = 0; put < records; b = (b + 1) % batches.size()) {
    auto r = e->put_records(batches[b]);
    if (!r || r->failed_record_count != 0) throw std::runtime_error("rill_bench: put_records failed");
    put += batches[b].records.size();
  }
  const std::size_t after = heap_bytes_in_use();
  return static_cast<double>(after - before) / static_cast<double>(put);
}

}  // namespace rill::bench
