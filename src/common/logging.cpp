// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace rill {

std::shared_ptr<spdlog::logger> logger() {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get("rill")) return existing;
  auto made = std::make_shared<spdlog::logger>("rill", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  made->set_level(spdlog::level::warn);
  spdlog::register_logger(made);
  return made;
}

}  // namespace rill
