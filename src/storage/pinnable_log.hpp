// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// An internal extension of rill::shard_log (include/rill/storage.hpp) for
// readers that copy stored bytes after releasing the shard's lock: fan-out
// subscribers (src/streams/fanout.cpp), so a writer never waits for a
// subscriber's copy. Found with dynamic_cast; logs without it are copied
// under the lock as before.
#pragma once

namespace rill::detail {

/// A log whose stored bytes stay where they are while pinned.
///
/// Contract: the views a read() returned stay valid from pin() (made while
/// the caller still holds the shard's lock, as for the read) until the
/// matching unpin(), although the lock is released in between: appends never
/// move or change stored bytes, and trim_before() keeps the segments it would
/// drop while any pin is held (a later trim drops them). The log itself must
/// outlive the pin (the caller holds its shard). Thread safety: pin() and
/// unpin() may be called from any thread; pins nest.
class pinnable_log {
 public:
  virtual void pin() const noexcept = 0;
  virtual void unpin() const noexcept = 0;

 protected:
  pinnable_log() = default;
  pinnable_log(const pinnable_log&) = default;
  pinnable_log& operator=(const pinnable_log&) = default;
  ~pinnable_log() = default;
};

}  // namespace rill::detail
