// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "delivery/file_system.hpp"

#include <atomic>

namespace rill::delivery {

result<void> write_file_atomically(file_system& fs, const std::string& path, std::string_view bytes) {
  static std::atomic<std::uint64_t> counter{0};
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (auto r = fs.create_dirs(dir); !r) return r;
  std::string tmp = dir;
  tmp += "/.";
  tmp += name;
  tmp += ".tmp-";
  tmp += std::to_string(counter.fetch_add(1));
  auto fail = [&](const error& e) -> result<void> {
    (void)fs.remove(tmp);
    return e;
  };
  if (auto r = fs.remove(tmp); !r) return r;  // a leftover of a crashed process
  {
    auto file = fs.open_append(tmp);
    if (!file) return file.error();
    if (auto r = (*file)->append(bytes); !r) return fail(r.error());
    if (auto r = (*file)->sync(); !r) return fail(r.error());
  }
  if (auto r = fs.rename(tmp, path); !r) return fail(r.error());
  return fs.sync_dir(dir);
}

}  // namespace rill::delivery
