// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A reader-writer lock that prefers writers. std::shared_mutex on glibc prefers
// readers, so a steady stream of writers-to-shards (who take stream locks
// shared) could starve a reshard (which takes them exclusive) forever. This one
// blocks new readers while a writer waits. It is not recursive: a thread must
// not take it shared twice.
#pragma once

#include <pthread.h>

#include <system_error>

namespace rill::detail {

class shared_mutex {
 public:
  shared_mutex() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_rwlock_init");
  }
  ~shared_mutex() { pthread_rwlock_destroy(&lock_); }
  shared_mutex(const shared_mutex&) = delete;
  shared_mutex& operator=(const shared_mutex&) = delete;

  void lock() { pthread_rwlock_wrlock(&lock_); }
  bool try_lock() { return pthread_rwlock_trywrlock(&lock_) == 0; }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  bool try_lock_shared() { return pthread_rwlock_tryrdlock(&lock_) == 0; }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace rill::detail
