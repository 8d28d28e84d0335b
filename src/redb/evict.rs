//! Eviction inside one write transaction: the oldest records overall, of a status, or of a
//! script, each found at the front of an index range in O(log n) and removed with
//! [`Tables::remove`], so every index, counter and reference moves with it.

use redb::ReadableTable;

use super::tables::FIELD_STATUS;
use super::write::Tables;
use crate::error::{Result, StorageResultExt};
use crate::model::ExecutionStatus;

impl Tables<'_> {
    /// Removes up to `budget` of the oldest records while there are more than `max`;
    /// returns how many it removed.
    pub(crate) fn evict_beyond(&mut self, max: u64, budget: u64) -> Result<u64> {
        let mut total = self.counters()?.total();
        let mut removed = 0;
        while total > max && removed < budget {
            if !self.remove_oldest(None)? {
                break;
            }
            total -= 1;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes up to `budget` records of `status` whose start time is before `cutoff`;
    /// returns how many.
    pub(crate) fn evict_status_older_than(
        &mut self,
        status: ExecutionStatus,
        cutoff: i64,
        budget: u64,
    ) -> Result<u64> {
        let mut removed = 0;
        while removed < budget {
            let Some((start, id)) = self.oldest_of_status(status, cutoff)? else { break };
            if !self.remove(&id)? {
                // An index entry without its record: drop it so eviction advances.
                let key = (FIELD_STATUS, status.as_str(), start, id.as_str());
                self.by_field.remove(key).during(self.operation)?;
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes up to `budget` of the oldest records of `script` while it has more than
    /// `keep`; returns how many.
    pub(crate) fn evict_script_beyond(
        &mut self,
        script: &str,
        keep: u64,
        budget: u64,
    ) -> Result<u64> {
        let mut count = self.script_count(script)?;
        let mut removed = 0;
        // No string sorts between `script` and `script + "\0"` (see `read::list_by_script`).
        let next_script = format!("{script}\0");
        while count > keep && removed < budget {
            let range = (script, i64::MIN, "")..(next_script.as_str(), i64::MIN, "");
            let id = match self.by_script.range(range).during(self.operation)?.next() {
                Some(entry) => entry.during(self.operation)?.0.value().2.to_owned(),
                None => break,
            };
            if !self.remove(&id)? {
                // A stray index entry: `verify` reports it; stop rather than spin on it.
                break;
            }
            count -= 1;
            removed += 1;
        }
        Ok(removed)
    }

    /// The (start time, id) of the oldest record of `status` started before `cutoff`.
    fn oldest_of_status(
        &self,
        status: ExecutionStatus,
        cutoff: i64,
    ) -> Result<Option<(i64, String)>> {
        let range = (FIELD_STATUS, status.as_str(), i64::MIN, "")
            ..(FIELD_STATUS, status.as_str(), cutoff, "");
        let Some(entry) = self.by_field.range(range).during(self.operation)?.next() else {
            return Ok(None);
        };
        let (key, _) = entry.during(self.operation)?;
        let (_, _, start, id) = key.value();
        Ok(Some((start, id.to_owned())))
    }

    /// How many records `script` has, as this transaction has it so far.
    pub(crate) fn script_count(&self, script: &str) -> Result<u64> {
        let stored =
            self.script_counts.get(script).during(self.operation)?.map_or(0, |v| v.value());
        Ok(stored.saturating_add_signed(self.script_deltas.get(script)))
    }

    /// Up to `limit` scripts (after `after`, in order) that have more than `keep` records
    /// as committed before this transaction.
    pub(crate) fn scripts_over(
        &self,
        keep: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let range = match after {
            Some(after) => self
                .script_counts
                .range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => self.script_counts.range::<&str>(..),
        };
        let mut over = Vec::new();
        for entry in range.during(self.operation)? {
            let (script, count) = entry.during(self.operation)?;
            if count.value() > keep {
                over.push(script.value().to_owned());
                if over.len() == limit {
                    break;
                }
            }
        }
        Ok(over)
    }

    /// Removes the record with the oldest start time (ties: smallest id), if there is one
    /// and it started before `cutoff`.
    pub(crate) fn remove_oldest(&mut self, cutoff: Option<i64>) -> Result<bool> {
        let oldest = self.by_start.first().during(self.operation)?;
        let Some((start, id)) = oldest.map(|(key, _)| {
            let (start, id) = key.value();
            (start, id.to_owned())
        }) else {
            return Ok(false);
        };
        if cutoff.is_some_and(|cutoff| start >= cutoff) {
            return Ok(false);
        }
        if !self.remove(&id)? {
            // An index entry without its record: drop the stray entry so eviction advances.
            self.by_start.remove((start, id.as_str())).during(self.operation)?;
        }
        Ok(true)
    }
}
