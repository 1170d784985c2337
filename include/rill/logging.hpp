// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill logs through spdlog, under a logger named "rill". Nothing is created at
// load time: the logger is made on first use (the first engine), writing
// warnings and worse to stderr. A host redirects or silences it by
//   * registering its own spdlog logger named "rill" before the first engine, or
//   * changing the returned logger: rill::logger()->set_level(spdlog::level::off).
#pragma once

#include <memory>

namespace spdlog {
class logger;
}

namespace rill {

/// The "rill" logger: the one registered with spdlog under that name, or a
/// new stderr logger at level warn that is then registered. Thread-safe.
std::shared_ptr<spdlog::logger> logger();

}  // namespace rill
