// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Whether the calling thread is running a task of a rill scheduler (either
// clock's). A scheduled task must never wait on the clock it runs on: on a
// manual clock time moves only inside advance(), which is running the task;
// on the system clock the scheduler's one thread would wait for itself.
#pragma once

namespace rill::detail {

/// True while the calling thread runs a scheduled task.
bool in_scheduled_task() noexcept;

/// Marks the calling thread as running a scheduled task for its lifetime.
class scheduled_task_scope {
 public:
  scheduled_task_scope() noexcept;
  ~scheduled_task_scope();
  scheduled_task_scope(const scheduled_task_scope&) = delete;
  scheduled_task_scope& operator=(const scheduled_task_scope&) = delete;

 private:
  bool outer_;
};

}  // namespace rill::detail
