//! `RetentionPolicy`: how much history a store keeps, and `PruneReport`: what applying it removed.

use std::time::Duration;

use crate::model::ExecutionStatus;

/// Which records a store keeps; set with
/// [`RedbStorageBuilder::retention`](crate::RedbStorageBuilder::retention).
///
/// Every limit is off by default. How each is applied:
/// - `max_executions` and `keep_per_script` are exact after every write, in the write's own
///   transaction (a write exceeds them by the few records it added);
/// - a record stored or updated while already older than the age limit of its status is
///   removed by that write; records that age while the store sits are removed in bounded
///   batches by a background thread and by [`RedbStorage::prune`](crate::RedbStorage::prune);
/// - `max_size_bytes` and `audit_max_age` are applied in bounded batches in the background
///   and by `prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct RetentionPolicy {
    max_ages: [Option<Duration>; 3],
    keep_per_script: Option<u64>,
    max_executions: Option<u64>,
    max_size_bytes: Option<u64>,
    audit_max_age: Option<Duration>,
}

impl RetentionPolicy {
    /// A policy that keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes records of `status` whose start time is older than now minus `age`
    /// (e.g. failures after 90 days, completions after 7).
    pub fn max_age(mut self, status: ExecutionStatus, age: Duration) -> Self {
        *self.age_slot(status) = Some(age);
        self
    }

    /// The same age limit for every status.
    pub fn max_age_all(mut self, age: Duration) -> Self {
        self.max_ages = [Some(age); 3];
        self
    }

    /// Keeps only the newest `n` records (by start time) of each script path; records
    /// without a script path are not counted. `0` is treated as `1`.
    pub fn keep_per_script(mut self, n: u64) -> Self {
        self.keep_per_script = Some(n.max(1));
        self
    }

    /// Keeps at most `n` records in all, removing the oldest by start time. `0` is treated as `1`.
    pub fn max_executions(mut self, n: u64) -> Self {
        self.max_executions = Some(n.max(1));
        self
    }

    /// Removes the oldest records while the live data of the file (redb's stored and
    /// metadata bytes) exceeds `bytes`. redb reuses the pages freed, so the file stops
    /// growing; giving the space back to the file system takes a compaction (see
    /// [`RedbStorage::compact_file`](crate::RedbStorage::compact_file)).
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_size_bytes = Some(bytes);
        self
    }

    /// Removes audit events (in whole chunks) whose newest event is older than now minus `age`.
    pub fn audit_max_age(mut self, age: Duration) -> Self {
        self.audit_max_age = Some(age);
        self
    }

    /// The age limit of `status`, if any.
    pub fn age_of(&self, status: ExecutionStatus) -> Option<Duration> {
        self.max_ages.get(status_index(status)).copied().flatten()
    }

    /// Whether a record of `status` started at `start_time` is past its age limit at `now`
    /// (all in Unix milliseconds).
    pub(crate) fn expired(&self, status: ExecutionStatus, start_time: i64, now: i64) -> bool {
        self.age_of(status).is_some_and(|age| start_time < cutoff(now, age))
    }

    /// The per-script limit, if any.
    pub fn per_script(&self) -> Option<u64> {
        self.keep_per_script
    }

    /// The limit on the number of records, if any.
    pub fn executions_limit(&self) -> Option<u64> {
        self.max_executions
    }

    /// The limit on live bytes, if any.
    pub fn size_limit(&self) -> Option<u64> {
        self.max_size_bytes
    }

    /// The audit age limit, if any.
    pub fn audit_age(&self) -> Option<Duration> {
        self.audit_max_age
    }

    /// Sets or clears the record limit (the builder's `max_executions`).
    pub(crate) fn set_max_executions(&mut self, n: Option<u64>) {
        self.max_executions = n.map(|n| n.max(1));
    }

    /// Sets or clears the age limit of every status (the builder's `max_age`).
    pub(crate) fn set_max_age_all(&mut self, age: Option<Duration>) {
        self.max_ages = [age; 3];
    }

    /// The limits a write cannot check itself: without the count limits.
    pub(crate) fn without_count_limits(self) -> Self {
        RetentionPolicy { keep_per_script: None, max_executions: None, ..self }
    }

    /// Whether some limit needs the background thread (those that time or size trigger).
    pub(crate) fn needs_background(&self) -> bool {
        self.max_ages.iter().any(Option::is_some)
            || self.max_size_bytes.is_some()
            || self.audit_max_age.is_some()
    }

    fn age_slot(&mut self, status: ExecutionStatus) -> &mut Option<Duration> {
        let [running, completed, failed] = &mut self.max_ages;
        match status {
            ExecutionStatus::Running => running,
            ExecutionStatus::Completed => completed,
            ExecutionStatus::Failed => failed,
        }
    }
}

fn status_index(status: ExecutionStatus) -> usize {
    match status {
        ExecutionStatus::Running => 0,
        ExecutionStatus::Completed => 1,
        ExecutionStatus::Failed => 2,
    }
}

/// The start-time cutoff of an age limit on a clock reading `now_millis`.
pub(crate) fn cutoff(now_millis: i64, age: Duration) -> i64 {
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    now_millis.saturating_sub(age)
}

/// What one application of a [`RetentionPolicy`] removed, rule by rule. A record is
/// counted under the first rule that removed it (in the order of the fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Records past the age limit of their status.
    pub by_age: u64,
    /// Records beyond the newest N of their script.
    pub per_script: u64,
    /// Records beyond the total limit.
    pub beyond_max: u64,
    /// Records removed, oldest first, to bring the live data under the size limit.
    pub for_size: u64,
    /// Audit chunks removed or rewritten (events of removed runs, events past their age).
    pub audit_chunks: u64,
    /// Write transactions committed; each removes at most a bounded batch.
    pub transactions: u64,
}

impl PruneReport {
    /// Records removed by every rule together.
    pub fn removed(&self) -> u64 {
        self.by_age + self.per_script + self.beyond_max + self.for_size
    }

    /// Adds another batch's counts.
    pub(crate) fn add(&mut self, other: PruneReport) {
        self.by_age += other.by_age;
        self.per_script += other.per_script;
        self.beyond_max += other.beyond_max;
        self.for_size += other.for_size;
        self.audit_chunks += other.audit_chunks;
        self.transactions += other.transactions;
    }

    /// Records and audit chunks removed (0: the batch found nothing to do).
    pub(crate) fn work(&self) -> u64 {
        self.removed() + self.audit_chunks
    }
}
