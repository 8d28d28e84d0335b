//! Tail sampling: keep every run that did not succeed and a fraction of those that did,
//! decided when a run completes rather than when it starts.

use crate::error::{Error, Result};
use crate::model::{ExecutionStatus, StoredExecution};

/// Keeps every running and failed run, and `fraction` of completed ones.
///
/// The decision is a pure function of the execution id (its BLAKE3 hash against the
/// fraction), so every process, backend and retry decides the same way for the same run.
/// A kept completed run has its `sample_rate` multiplied by the fraction, so statistics
/// over the kept runs can weigh each by `1 / sample_rate`.
///
/// Applied by `store` and `store_many` to records that are `Completed`, and by `update`
/// when it moves a run to `Completed`: a dropped run is removed (or not stored) in the same
/// transaction. The call still succeeds and returns what it would have returned, so the
/// engine needs no special case; [`TailSampling::keeps`] tells which runs are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSampling {
    fraction: f64,
}

impl TailSampling {
    /// Keeps `fraction` (0.0 to 1.0) of completed runs. Anything else, NaN included, is an
    /// [`Error::InvalidArgument`].
    pub fn keep_completed(fraction: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidArgument(format!(
                "tail sampling fraction {fraction} is not between 0 and 1"
            )));
        }
        Ok(TailSampling { fraction })
    }

    /// The fraction of completed runs kept.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// Whether a completed run with this id is kept.
    pub fn keeps(&self, execution_id: &str) -> bool {
        let hash = blake3::hash(execution_id.as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(hash.as_bytes().get(..8).unwrap_or(&[0; 8]));
        // The top 53 bits as a uniform number in [0, 1).
        let position = (u64::from_le_bytes(head) >> 11) as f64 / (1u64 << 53) as f64;
        position < self.fraction
    }

    /// Applies the policy to a run that has just completed: `false` if it is dropped,
    /// otherwise `true` with its `sample_rate` scaled.
    pub(crate) fn admit(&self, execution: &mut StoredExecution) -> bool {
        if !self.keeps(&execution.execution_id) {
            return false;
        }
        execution.sample_rate *= self.fraction;
        true
    }

    /// Applies the policy to a record being stored: only `Completed` ones are sampled.
    pub(crate) fn admit_stored(&self, execution: &mut StoredExecution) -> bool {
        execution.status != ExecutionStatus::Completed || self.admit(execution)
    }

    /// Applies the policy to a record `update` changed from `before`: only a move to
    /// `Completed` is sampled.
    pub(crate) fn admit_updated(
        &self,
        before: ExecutionStatus,
        execution: &mut StoredExecution,
    ) -> bool {
        let completes =
            before != ExecutionStatus::Completed && execution.status == ExecutionStatus::Completed;
        !completes || self.admit(execution)
    }
}
