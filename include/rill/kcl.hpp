// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A KCL-style consumer: a group of workers (one `kcl::scheduler` each) shares
// the shards of a stream through a lease table (rill/lease.hpp). Each shard is
// processed by one worker at a time, through a `shard_record_processor` the
// application writes; progress is checkpointed in the lease, so a restart or a
// failover resumes where processing stopped; children start only after every
// parent reached SHARD_END. Written against `rill::kinesis` only.
//
//   rill::kcl::config c;
//   c.stream_name = "clicks";
//   c.worker_identifier = "worker-1";
//   c.kinesis = &engine;                       // any rill::kinesis; not owned
//   c.lease_store = rill::kcl::make_memory_lease_store();
//   c.clock = clock;                           // the engine's clock
//   c.shard_record_processor_factory = [] { return std::make_unique<my_processor>(); };
//   auto worker = rill::kcl::scheduler::create(std::move(c));
//   (*worker)->start();
//   ...
//   (void)(*worker)->graceful_shutdown();
//
// Every timer (renewals, lease taking, shard sync, polling, backoffs) runs on a
// scheduler made from `config::clock`: on a `rill::manual_clock` a whole group
// of workers is deterministic and runs inside `advance()`. docs/consumer.md
// describes the leases, the checkpoints and the state machine.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"
#include "rill/kpl.hpp"
#include "rill/lease.hpp"
#include "rill/metrics.hpp"

namespace rill::kcl {

/// A user record as the processor sees it (KCL KinesisClientRecord): KPL
/// aggregates are deaggregated, each member with its sub-sequence number; a
/// plain record has sub-sequence number 0 and `aggregated == false`. The views
/// are valid during the process_records call only: copy what you keep.
using kinesis_client_record = kpl::user_record;

/// The position of a record: its sequence number and sub-sequence number.
extended_sequence_number extended_sequence_number_of(const kinesis_client_record& r);

enum class initial_position : std::uint8_t { latest, trim_horizon, at_timestamp };

/// Where a shard without a checkpoint starts (KCL InitialPositionInStreamExtended).
struct initial_position_in_stream_extended {
  initial_position position = initial_position::trim_horizon;
  /// Required for AT_TIMESTAMP.
  std::optional<rill::timestamp> timestamp{};
};

class record_processor_checkpointer;

/// A checkpoint written as pending (two-phase): commit it with checkpoint().
///
/// Thread safety: as record_processor_checkpointer.
class prepared_checkpointer {
 public:
  virtual ~prepared_checkpointer() = default;
  /// The pending position.
  [[nodiscard]] virtual extended_sequence_number pending_checkpoint() const = 0;
  /// Commits it (clears pendingCheckpoint). Errors as checkpoint().
  [[nodiscard]] virtual result<void> checkpoint() = 0;
};

/// Writes the shard's checkpoint into its lease.
///
/// Thread safety: may be called from any thread; calls are serialized with the
/// worker's own work (they block while a processor callback runs on another
/// thread). Ownership: shared; it outlives its lease harmlessly (calls then fail
/// with ShutdownException).
/// Errors of every method: ShutdownException (the worker no longer holds the
/// lease: lost, stolen, handed off or expired; nothing is written),
/// InvalidArgumentException (a malformed position, or one before the last
/// checkpoint or after the last record delivered), InternalFailure (the lease
/// store failed; nothing is written).
class record_processor_checkpointer {
 public:
  virtual ~record_processor_checkpointer() = default;
  /// Checkpoints the last record delivered (SHARD_END inside shard_ended).
  [[nodiscard]] virtual result<void> checkpoint() = 0;
  /// Checkpoints at this record (its sequence and sub-sequence number).
  [[nodiscard]] virtual result<void> checkpoint(const kinesis_client_record& record) = 0;
  /// Checkpoints at (sequence_number, sub_sequence_number).
  [[nodiscard]] virtual result<void> checkpoint(const std::string& sequence_number,
                                                std::int64_t sub_sequence_number = 0) = 0;
  /// Writes pendingCheckpoint (and state) at the last record delivered, or at the given position.
  [[nodiscard]] virtual result<std::shared_ptr<prepared_checkpointer>> prepare_checkpoint(
      std::optional<std::string> application_state = std::nullopt) = 0;
  [[nodiscard]] virtual result<std::shared_ptr<prepared_checkpointer>> prepare_checkpoint(
      const std::string& sequence_number, std::int64_t sub_sequence_number,
      std::optional<std::string> application_state = std::nullopt) = 0;
  /// The checkpoint last written (or read at initialization).
  [[nodiscard]] virtual extended_sequence_number last_checkpoint_value() const = 0;
  /// The largest position checkpoint() may write: the last record delivered.
  [[nodiscard]] virtual extended_sequence_number largest_permitted_checkpoint_value() const = 0;
};

struct initialization_input {
  std::string shard_id{};
  /// Where processing resumes: the checkpoint, or the initial position.
  kcl::extended_sequence_number extended_sequence_number{};
  /// A prepared checkpoint left by an earlier owner, with its state.
  std::optional<kcl::extended_sequence_number> pending_checkpoint_sequence_number{};
  std::optional<std::string> pending_checkpoint_state{};
};

struct process_records_input {
  /// In (sequence, sub-sequence) order; members of KPL aggregates outside the
  /// shard's hash range are left out (the producer re-sends them to the right shard).
  std::span<const kinesis_client_record> records{};
  std::int64_t millis_behind_latest = 0;
  std::shared_ptr<record_processor_checkpointer> checkpointer{};
};

struct lease_lost_input {};

struct shard_ended_input {
  /// checkpoint() here writes SHARD_END, which the children wait for.
  std::shared_ptr<record_processor_checkpointer> checkpointer{};
};

struct shutdown_requested_input {
  /// The lease is still held: checkpoint now (graceful shutdown or handoff).
  std::shared_ptr<record_processor_checkpointer> checkpointer{};
};

/// The application's code for one shard (KCL ShardRecordProcessor). One
/// instance per shard per lease tenure; its methods are called one at a time, on
/// the worker's scheduler thread (inside advance() on a manual clock).
///
/// Lifecycle: initialize, then process_records any number of times, then
/// exactly one of: shard_ended (the shard is closed and fully delivered; the
/// processor must checkpoint, else shard_ended is called again after a backoff
/// and the children wait), lease_lost (the lease is gone: do not checkpoint),
/// or shutdown_requested (graceful shutdown or handoff: checkpoint now) followed
/// by lease_lost once the lease is released.
///
/// A method that throws: the exception is caught, logged and counted
/// (metric `ProcessRecords.Exceptions`); see config::process_records_retry_attempts
/// and docs/consumer.md for what happens to the batch.
class shard_record_processor {
 public:
  virtual ~shard_record_processor() = default;
  virtual void initialize(const initialization_input& input) = 0;
  virtual void process_records(const process_records_input& input) = 0;
  virtual void lease_lost(const lease_lost_input& input) = 0;
  virtual void shard_ended(const shard_ended_input& input) = 0;
  virtual void shutdown_requested(const shutdown_requested_input& input) = 0;
};

// ---------------------------------------------------------------------------
// Retrieval: how a shard's records reach the scheduler (KCL RetrievalConfig):
// polling (GetRecords, the default) or enhanced fan-out (SubscribeToShard).

/// Where a retrieval starts.
struct retrieval_start {
  /// config::application_name (the default fan-out consumer name).
  std::string application_name{};
  std::string stream_name{};
  std::string shard_id{};
  /// TRIM_HORIZON, LATEST, AT_TIMESTAMP, or a sequence number (AT_SEQUENCE_NUMBER).
  extended_sequence_number position{};
  std::optional<rill::timestamp> timestamp{};
  std::int32_t max_records = 10000;
};

/// Delivers one shard's records in order, one batch per call.
///
/// Thread safety: one caller at a time (the scheduler's shard consumer).
class record_retrieval {
 public:
  virtual ~record_retrieval() = default;
  /// The next batch (possibly empty). A batch without next_shard_iterator ends
  /// the shard; its child_shards name the children. Errors: those of
  /// get_shard_iterator / get_records; the scheduler backs off and calls again,
  /// and the retrieval resumes after the last record it returned.
  [[nodiscard]] virtual result<get_records_result> get_next_batch() = 0;
  /// How long the scheduler waits before the next call, given whether the last
  /// batch had records; nullopt: config::idle_time_between_reads_in_millis
  /// (polling). A push-style retrieval asks to be called again at once while data flows.
  [[nodiscard]] virtual std::optional<duration> next_call_delay(bool had_records) const {
    (void)had_records;
    return std::nullopt;
  }
};

/// Makes a retrieval per shard.
///
/// Thread safety: create() may be called from any thread.
class retrieval_factory {
 public:
  virtual ~retrieval_factory() = default;
  /// `kinesis` outlives the retrieval.
  [[nodiscard]] virtual std::unique_ptr<record_retrieval> create(rill::kinesis& kinesis,
                                                                 const retrieval_start& start) = 0;
};

/// Polling with GetRecords (KCL PollingConfig); refreshes an expired iterator
/// after the last record returned.
std::shared_ptr<retrieval_factory> make_polling_retrieval_factory();

/// Enhanced fan-out retrieval (KCL 2.x FanOutConfig), through the public
/// rill::kinesis calls only: describe_stream_summary (the stream ARN),
/// describe_stream_consumer / register_stream_consumer (the consumer, named
/// after the application unless configured), subscribe_to_shard per lease.
struct fan_out_config {
  /// The consumer to register or reuse; empty: config::application_name.
  std::string consumer_name{};
  /// A consumer registered beforehand (KCL consumerArn): no registration calls.
  std::optional<std::string> consumer_arn{};
  /// While a subscription has nothing to deliver, the scheduler looks again
  /// this often (rill's subscriptions are pulled; AWS pushes over HTTP/2).
  duration idle_poll_interval{200};
};

/// A shard's retrieval subscribes from the lease's checkpoint (AT_SEQUENCE_NUMBER,
/// or the initial position) and, whenever its subscription ends (5-minute life,
/// taken over by another subscriber: ResourceInUseException, any error), subscribes
/// again with AFTER_SEQUENCE_NUMBER from the last continuation sequence number,
/// so nothing is skipped or repeated within a lease tenure. The event with a null
/// continuation ends the shard, with its child shards. Registration: the first
/// retrieval of a stream describes the consumer and registers it if absent
/// (ResourceInUseException from a concurrent registration by another worker is
/// retried); while the consumer is CREATING, get_next_batch returns
/// ResourceInUseException and the scheduler backs off. Errors of get_next_batch:
/// those of the calls above. Thread safety: the factory may be shared by workers.
std::shared_ptr<retrieval_factory> make_fan_out_retrieval_factory(fan_out_config c = {});

// ---------------------------------------------------------------------------

/// How a worker evens out the leases of the group.
enum class lease_balancing : std::uint8_t {
  /// Every worker holds ceil(leases / workers) (KCL 2.x taker).
  lease_count,
  /// Workers steal to even out the sum of their leases' throughputKBps (KCL 3.x
  /// style, without CPU metrics); unowned and expired leases are still spread by count.
  throughput,
};

/// The configuration of one worker. Names are the snake_case of the KCL's
/// (ConfigsBuilder, LeaseManagementConfig, CoordinatorConfig, PollingConfig).
struct config {
  std::string application_name = "rill-kcl";
  /// Required.
  std::string stream_name{};
  /// Required; unique in the group. A restarted worker with the same identifier
  /// takes back its leases at once instead of waiting for them to expire.
  std::string worker_identifier{};
  /// Required; not owned, must outlive the scheduler.
  rill::kinesis* kinesis = nullptr;
  /// Required; shared by the group.
  std::shared_ptr<kcl::lease_store> lease_store{};
  /// Required: the clock every timer runs on (the engine's).
  std::shared_ptr<rill::clock> clock{};
  /// Required: makes one processor per shard tenure.
  std::function<std::unique_ptr<shard_record_processor>()> shard_record_processor_factory{};

  /// Used for leases created for shards without one. Children of a closed
  /// shard always start at TRIM_HORIZON (AT_TIMESTAMP if that is the position).
  initial_position_in_stream_extended initial_position_in_stream{};

  /// A lease not renewed for this long is expired (KCL failoverTimeMillis).
  duration failover_time_millis{10'000};
  duration epsilon_millis{25};
  /// Renewals every failover/3 - epsilon; lease taking every (failover + epsilon) * 2.
  /// How often shards are listed to create leases for new ones.
  duration shard_sync_interval_millis{60'000};
  std::int32_t max_leases_for_worker = INT32_MAX;
  std::int32_t max_leases_to_steal_at_one_time = 1;
  lease_balancing balancing = lease_balancing::lease_count;
  /// Throughput balancing: a worker steals when below the average by more than this.
  double rebalance_threshold_percentage = 10;
  /// KCL 3.x graceful handoff: a lease moved for balancing or shutdown is first
  /// offered to its owner to checkpoint (checkpointOwner); forced after the timeout
  /// (never earlier than the failover time, so the old owner cannot still be processing).
  bool graceful_lease_handoff_enabled = true;
  duration graceful_lease_handoff_timeout_millis{30'000};

  /// Polling: the pause between GetRecords calls, and the batch limit.
  duration idle_time_between_reads_in_millis{1'500};
  std::int32_t max_records = 10'000;
  /// How often a child waiting on its parents looks again.
  duration parent_shard_poll_interval_millis{10'000};
  /// The pause before retrying a failed task.
  duration task_backoff_time_millis{500};
  bool call_process_records_even_for_empty_record_list = false;
  /// A batch whose process_records threw is delivered again (same records,
  /// after task_backoff_time_millis) this many times, then skipped and reported.
  std::int32_t process_records_retry_attempts = 2;

  /// How records are read (KCL RetrievalConfig): make_polling_retrieval_factory()
  /// (null: this) or make_fan_out_retrieval_factory() (enhanced fan-out).
  std::shared_ptr<retrieval_factory> retrieval{};
  /// KCL metrics (namespace "KinesisClientLibrary"); null: none.
  std::shared_ptr<metrics_registry> metrics{};
  /// Seeds the choice among equal candidates; 0: derived from worker_identifier.
  std::uint64_t random_seed = 0;
};

/// What a worker is doing with one shard (for reports and tests).
struct shard_info {
  std::string shard_id{};
  /// "WAITING_ON_PARENT_SHARDS", "INITIALIZING", "PROCESSING", "SHUTDOWN_REQUESTED",
  /// "SHUTTING_DOWN", or "PENDING_HANDOFF" (assigned to this worker, old owner still finishing).
  std::string state{};
  extended_sequence_number checkpoint{};
};

/// One worker of a group (KCL Scheduler).
///
/// Thread safety: every method may be called from any thread; they are
/// serialized with the worker's tasks. Do not call them from inside a
/// processor callback, except the checkpointer's.
class scheduler {
 public:
  /// Validates `c`. Errors: ValidationException (a required member missing or a
  /// value out of range).
  [[nodiscard]] static result<std::unique_ptr<scheduler>> create(config c);
  /// Stops at once, like a crash as far as the group can tell: processors get
  /// no call and the leases stay owned until they expire.
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  /// Starts shard sync, lease taking and renewal (first run at once). Idempotent.
  void start();
  /// Graceful shutdown (KCL startGracefulShutdown): stops taking leases; every
  /// processor gets shutdown_requested (and may checkpoint), then its lease is
  /// released at once (not after the failover time) and it gets lease_lost.
  /// Returns when done; the worker is stopped. Errors: InternalFailure if the
  /// lease store failed to release a lease (it then expires as usual).
  result<void> graceful_shutdown();
  /// Stops at once (as the destructor does).
  void shutdown();

  [[nodiscard]] const std::string& worker_identifier() const noexcept;
  /// The shards this worker holds or is being handed, by shard id.
  [[nodiscard]] std::vector<shard_info> shards() const;

 private:
  struct core;
  explicit scheduler(std::shared_ptr<core> c);
  std::shared_ptr<core> core_;
};

}  // namespace rill::kcl
