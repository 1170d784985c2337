// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Shared setup for rill_bench: the records every benchmark uses, the engine
// they run against, and the heap probe behind `bytes_per_record`.
//
// Every benchmark works on the same kind of record: a random 16-byte printable
// ASCII partition key and a random 100-byte payload, drawn from a fixed seed so
// that two runs put exactly the same bytes. A record set holds kPoolRecords of
// them; benchmarks cycle through it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rill/engine.hpp"

namespace rill::bench {

inline constexpr std::size_t kPayloadBytes = 100;
inline constexpr std::size_t kKeyBytes = 16;
inline constexpr std::size_t kRecordBytes = kPayloadBytes + kKeyBytes;  // what Kinesis counts per record
inline constexpr std::int32_t kShards = 4;
inline constexpr std::int32_t kThreadShards = 8;  // BM_PutRecordsThreads: 4 per thread
inline constexpr std::size_t kBatch = 500;        // entries per PutRecords call (the Kinesis maximum)
inline constexpr std::size_t kPoolRecords = 32 * kBatch;
inline constexpr std::int32_t kGetLimit = 10'000;  // records per GetRecords call (the Kinesis maximum)
inline constexpr std::size_t kGetFill = 100'000;   // records pre-filled into the shard BM_GetRecords reads
inline constexpr std::size_t kMemoryProbeRecords = 1'000'000;
inline constexpr std::uint64_t kSeed = 0x5eed0001;
inline constexpr std::string_view kStream = "bench";

/// MD5 of `bytes` into `digest`: OpenSSL's one-shot MD5(), one key at a time,
/// the baseline of the put benchmarks. (The engine hashes with its own code:
/// batches in SIMD lanes, src/common/md5_batch.cpp; see docs/performance.md.)
void md5(std::string_view bytes, unsigned char digest[16]) noexcept;

/// kPoolRecords records from `seed`. With `route_bits` > 0 (at most 8), only
/// keys whose MD5 starts with the `route_bits` bits of `bucket` are kept: on a
/// stream of n uniform shards (n a power of two ≥ 2^route_bits) they all route
/// to shards [bucket, bucket + 1) · n / 2^route_bits.
class record_set {
 public:
  explicit record_set(std::uint64_t seed, unsigned route_bits = 0, unsigned bucket = 0);

  [[nodiscard]] std::size_t size() const noexcept { return kPoolRecords; }
  [[nodiscard]] std::string_view key(std::size_t i) const noexcept {
    return std::string_view(keys_).substr(i * kKeyBytes, kKeyBytes);
  }
  [[nodiscard]] std::string_view payload(std::size_t i) const noexcept {
    return std::string_view(payloads_).substr(i * kPayloadBytes, kPayloadBytes);
  }
  /// The set as PutRecords requests of kBatch entries each, in order. The
  /// requests view this set's bytes: keep the set alive while using them.
  [[nodiscard]] std::vector<put_records_request> batches() const;

 private:
  std::string keys_;      // kPoolRecords × kKeyBytes, back to back
  std::string payloads_;  // kPoolRecords × kPayloadBytes, back to back
};

/// The record set of BM_Md5Bound, BM_CopyBound, BM_PutRecords and BM_PutRecord
/// (seed kSeed, keys routed anywhere), built on first use.
const record_set& default_records();
/// default_records().batches(), built on first use.
const std::vector<put_records_request>& default_batches();

/// A fresh engine on a manual_clock (not advanced unless a benchmark does, so
/// nothing expires) with memory storage, metrics on or off, and one provisioned
/// stream kStream of `shards` shards. Throws std::runtime_error if the stream
/// cannot be made.
std::unique_ptr<engine> make_engine(std::int32_t shards, bool metrics = true);

/// Heap bytes in use according to glibc: mallinfo2() uordblks + hblkhd (large
/// blocks are mmapped and counted only in hblkhd).
std::size_t heap_bytes_in_use() noexcept;

/// Heap bytes retained per stored record: mallinfo2() before and after putting
/// `records` default records into a fresh engine of kShards shards, divided by
/// `records`. Takes about a quarter of a second per million records.
double measure_bytes_per_record(std::size_t records);

}  // namespace rill::bench
