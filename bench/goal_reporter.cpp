// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "goal_reporter.hpp"

#include "common/md5_batch.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ostream>

namespace rill::bench {

double goal_reporter::figures::rate() const {
  if (has_median) return median;
  std::vector<double> v = items_per_second;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void goal_reporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    auto& f = figures_[{run.run_name.function_name, static_cast<long>(run.threads)}];
    const auto ips = run.counters.find("items_per_second");
    const auto bpr = run.counters.find("bytes_per_record");
    if (const auto rf = run.counters.find("reopen_fraction_of_write"); rf != run.counters.end()) {
      f.reopen_fraction = rf->second.value;
      f.has_reopen_fraction = true;
    }
    if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name != "median") continue;
      if (ips != run.counters.end()) {
        f.median = ips->second.value;
        f.has_median = true;
      }
    } else if (ips != run.counters.end()) {
      f.items_per_second.push_back(ips->second.value);
    }
    if (bpr != run.counters.end()) {
      f.bytes_per_record = bpr->second.value;
      f.has_bytes_per_record = true;
    }
  }
}

const goal_reporter::figures* goal_reporter::find(const std::string& name, long threads) const {
  auto it = figures_.find({name, threads});
  return it == figures_.end() || it->second.empty() ? nullptr : &it->second;
}

void goal_reporter::Finalize() {
  ConsoleReporter::Finalize();
  struct ratio_goal {
    const char* name;
    long threads;
    const char* base;
    long base_threads;
    const char* label;
    double goal;
    double scale = 1.0;  // applied to the ratio (e.g. records/s to calls/s)
  };
  static constexpr ratio_goal kRatios[] = {
      {"BM_PutRecords", 1, "BM_Md5Bound", 1, "BM_PutRecords / BM_Md5Bound", 0.5},
      {"BM_PutRecord", 1, "BM_Md5Bound", 1, "BM_PutRecord / BM_Md5Bound", 0.25},
      {"BM_GetRecords", 1, "BM_CopyBound", 1, "BM_GetRecords / BM_CopyBound", 0.2},
      {"BM_PutRecordsThreads", 2, "BM_PutRecordsThreads", 1, "BM_PutRecordsThreads 2 threads / 1 thread", 1.5},
      {"BM_PutRecords", 1, "BM_PutRecordsNoMetrics", 1, "BM_PutRecords metrics on / off", 0.9},
      // Hashing (bench/hashing_bench.cpp). The 1.0 goal holds where AVX2 or AVX-512 hashes the keys.
      {"BM_PutRecords", 1, "BM_Md5Bound", 1, "BM_PutRecords / BM_Md5Bound (AVX2+ hashing)", 1.0},
      {"BM_Md5Batch/avx2", 1, "BM_Md5Bound", 1, "BM_Md5Batch/avx2 / BM_Md5Bound (info)", 0.0},
      {"BM_Md5Batch/avx512", 1, "BM_Md5Bound", 1, "BM_Md5Batch/avx512 / BM_Md5Bound (info)", 0.0},
      {"BM_PutRecordsColdMemory", 1, "BM_Md5Bound", 1, "BM_PutRecordsColdMemory / BM_Md5Bound", 0.4},
      // Durable streams (bench/storage_bench.cpp).
      {"BM_PutRecordsDurable/none", 1, "BM_PutRecords", 1, "BM_PutRecordsDurable/none / BM_PutRecords", 0.5},
      {"BM_PutRecordsDurable/every_batch", 1, "BM_FsyncBound", 1, "PutRecordsDurable/every_batch calls / FsyncBound",
       0.5, 1.0 / 500},
      {"BM_PutRecordsDurableGroup", 8, "BM_PutRecordsDurableGroup", 1, "BM_PutRecordsDurableGroup 8 thr / 1 thr", 3.0},
      {"BM_GetRecordsDurable", 1, "BM_CopyBound", 1, "BM_GetRecordsDurable / BM_CopyBound", 0.2},
      {"BM_GetRecordsDurableWarm", 1, "BM_CopyBound", 1, "BM_GetRecordsDurableWarm / BM_CopyBound (info)", 0.0},
      {"BM_GetRecordsDurable", 1, "BM_ColdFileReadBound", 1, "GetRecordsDurable / ColdFileReadBound (info)", 0.0},
      {"BM_GetRecordsDurable", 1, "BM_ColdFileMapBound", 1, "GetRecordsDurable / ColdFileMapBound (info)", 0.0},
  };
  std::ostream& out = GetOutputStream();
  char line[160];
  bool header = false;
  auto print_header = [&] {
    if (header) return;
    header = true;
    out << "\nGoals (items/s ratios within this run; median of repetitions when repeated)\n";
  };
  // The 1.0 put goal assumes batch hashing in SIMD lanes; skip it when the keys are hashed one lane wide.
  const bool lanes = detail::md5_current_path() != detail::md5_path::scalar;
  for (const auto& g : kRatios) {
    if (!lanes && std::strstr(g.label, "(AVX2+") != nullptr) continue;
    const figures* a = find(g.name, g.threads);
    const figures* b = find(g.base, g.base_threads);
    if (a == nullptr || b == nullptr || b->rate() <= 0) continue;
    const double r = a->rate() / b->rate() * g.scale;
    if (g.goal > 0) {
      std::snprintf(line, sizeof line, "  %-44s %6.2f   goal >= %.2f   %s\n", g.label, r, g.goal,
                    r >= g.goal ? "pass" : "FAIL");
    } else {
      std::snprintf(line, sizeof line, "  %-44s %6.2f   no goal\n", g.label, r);
    }
    print_header();
    out << line;
  }
  if (const figures* g = find("BM_GetRecordsEmpty", 1); g != nullptr && g->rate() > 0) {
    const double ns = 1e9 / g->rate();  // one item is one call
    std::snprintf(line, sizeof line, "  %-44s %6.0f   goal <= %.0f   %s\n", "BM_GetRecordsEmpty ns per call", ns,
                  1000.0, ns <= 1000.0 ? "pass" : "FAIL");
    print_header();
    out << line;
  }
  if (const figures* p = find("BM_PutRecords", 1); p != nullptr && p->has_bytes_per_record) {
    std::snprintf(line, sizeof line, "  %-44s %6.1f   goal <= %.0f    %s\n", "BM_PutRecords bytes_per_record",
                  p->bytes_per_record, 160.0, p->bytes_per_record <= 160.0 ? "pass" : "FAIL");
    print_header();
    out << line;
  }
  if (const figures* p = find("BM_ReopenDurable", 1); p != nullptr && p->has_reopen_fraction) {
    std::snprintf(line, sizeof line, "  %-44s %6.3f   goal <= 0.02   %s\n", "BM_ReopenDurable open / write time",
                  p->reopen_fraction, p->reopen_fraction <= 0.02 ? "pass" : "FAIL");
    print_header();
    out << line;
  }
  out.flush();
}

}  // namespace rill::bench
