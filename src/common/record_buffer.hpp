// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The memory get_records results hand out: the records of a result view blocks
// of one record_buffer, released when the last copy of the result drops it.
//
// A record kept past its result must not read garbage silently. Depending on
// how the library is built, a released block is:
//   * AddressSanitizer: poisoned (ASAN_POISON_MEMORY_REGION) before it is freed,
//     so a late read is a use-after-poison / heap-use-after-free report even if
//     the allocator hands the memory out again;
//   * NDEBUG not defined (Debug): kept mapped but PROT_NONE (its pages given
//     back with MADV_DONTNEED) in a bounded quarantine of recently released
//     blocks, so a late read faults with SIGSEGV;
//   * otherwise: freed (undefined behaviour, like any dangling string_view).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace rill::detail {

class record_buffer {
 public:
  enum class mode { plain, asan_poison, page_guard };
  /// How this build of the library releases blocks.
  static mode release_mode() noexcept;

  record_buffer() = default;
  ~record_buffer();
  record_buffer(const record_buffer&) = delete;
  record_buffer& operator=(const record_buffer&) = delete;

  /// A new block of at least n bytes (n > 0), owned by this buffer.
  char* allocate(std::size_t n);

  /// Empties the buffer for reuse by a pool, keeping its largest block for the
  /// next allocate() that fits. Only in `plain` builds: elsewhere it returns
  /// false and the caller destroys the buffer, so a late read is still caught.
  /// The caller must be the only user of the buffer.
  bool recycle();

 private:
  std::vector<std::pair<char*, std::size_t>> blocks_;
  std::pair<char*, std::size_t> spare_{nullptr, 0};  // plain builds: kept by recycle()
};

}  // namespace rill::detail
