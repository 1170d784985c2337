// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "common/record_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <deque>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define RILL_RECORD_BUFFER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RILL_RECORD_BUFFER_ASAN 1
#endif
#endif

#if defined(RILL_RECORD_BUFFER_ASAN)
#include <sanitizer/asan_interface.h>
#elif !defined(NDEBUG)
#define RILL_RECORD_BUFFER_GUARD 1
#endif

namespace rill::detail {
namespace {

#if defined(RILL_RECORD_BUFFER_GUARD)
// Released blocks stay reserved (PROT_NONE, no physical pages) until this many
// newer ones have been released, or this much address space is held.
constexpr std::size_t kQuarantineBlocks = 1024;
constexpr std::size_t kQuarantineBytes = std::size_t{1} << 30;

std::size_t page_round(std::size_t n) {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

struct quarantine {
  std::mutex mu;
  std::deque<std::pair<void*, std::size_t>> blocks;  // guarded by mu
  std::size_t bytes = 0;                             // guarded by mu

  void add(void* p, std::size_t n) {
    ::madvise(p, n, MADV_DONTNEED);
    ::mprotect(p, n, PROT_NONE);
    std::lock_guard lock(mu);
    blocks.emplace_back(p, n);
    bytes += n;
    while (blocks.size() > kQuarantineBlocks || bytes > kQuarantineBytes) {
      auto [q, m] = blocks.front();
      blocks.pop_front();
      bytes -= m;
      ::munmap(q, m);
    }
  }
};

quarantine& the_quarantine() {
  static auto* q = new quarantine;  // never destroyed: results may outlive static destruction
  return *q;
}
#endif

}  // namespace

record_buffer::mode record_buffer::release_mode() noexcept {
#if defined(RILL_RECORD_BUFFER_ASAN)
  return mode::asan_poison;
#elif defined(RILL_RECORD_BUFFER_GUARD)
  return mode::page_guard;
#else
  return mode::plain;
#endif
}

char* record_buffer::allocate(std::size_t n) {
  if (n == 0) n = 1;
#if defined(RILL_RECORD_BUFFER_GUARD)
  const std::size_t size = page_round(n);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  blocks_.reserve(blocks_.size() + 1);
  blocks_.emplace_back(static_cast<char*>(p), size);
  return static_cast<char*>(p);
#else
  blocks_.reserve(blocks_.size() + 1);
  if (spare_.first != nullptr && spare_.second >= n) {
    blocks_.push_back(spare_);
    spare_ = {nullptr, 0};
    return blocks_.back().first;
  }
  char* p = new char[n];
  blocks_.emplace_back(p, n);
  return p;
#endif
}

bool record_buffer::recycle() {
  if (release_mode() != mode::plain) return false;
  for (auto b : blocks_) {
    if (b.second > spare_.second) std::swap(b, spare_);
    delete[] b.first;
  }
  blocks_.clear();
  return true;
}

record_buffer::~record_buffer() {
  delete[] spare_.first;
  for (auto [p, n] : blocks_) {
#if defined(RILL_RECORD_BUFFER_GUARD)
    the_quarantine().add(p, n);
#else
#if defined(RILL_RECORD_BUFFER_ASAN)
    // Poisoned before it goes back to the allocator: a late read is reported
    // even if a future allocator (a pool) keeps the memory instead of freeing it.
    ASAN_POISON_MEMORY_REGION(p, n);
#endif
    delete[] p;
    (void)n;
#endif
  }
}

}  // namespace rill::detail
