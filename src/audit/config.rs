//! How an `AuditLog` queues and batches.

use std::time::Duration;

/// What a callback does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// The caller waits for room: nothing is lost (the default).
    #[default]
    Block,
    /// The event is refused and counted in [`AuditLog::dropped`](crate::AuditLog::dropped).
    DropNewest,
}

/// Queue and batching settings of an [`AuditLog`](crate::AuditLog).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditConfig {
    /// Events the queue holds before the overflow policy applies (default 65,536).
    pub queue_capacity: usize,
    /// Most events committed in one write transaction (default 16,384).
    pub max_batch: usize,
    /// Longest the writer waits for more events before committing a batch (default 2 ms).
    pub max_delay: Duration,
    /// What a callback does on a full queue (default [`OverflowPolicy::Block`]).
    pub overflow: OverflowPolicy,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            queue_capacity: 65_536,
            max_batch: 16_384,
            max_delay: Duration::from_millis(2),
            overflow: OverflowPolicy::Block,
        }
    }
}

impl AuditConfig {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        if self.queue_capacity == 0 || self.max_batch == 0 {
            return Err(crate::Error::InvalidArgument(format!(
                "audit queue_capacity and max_batch must be at least 1 (got {} and {})",
                self.queue_capacity, self.max_batch
            )));
        }
        Ok(())
    }
}
