//! Where a record sits in the indexes and counters, and moving it from one place to
//! another rewriting only the entries that differ: an update that changes a status touches
//! the status entries, not the DAG, source or script ones.

use super::fields::field_values;
use super::read::Locator;
use super::write::Tables;
use crate::error::{Result, StorageResultExt};
use crate::model::{ExecutionSource, ExecutionStatus, StoredExecution};

/// The fields of a record that decide its index keys and counters.
pub(crate) struct Placement<'a> {
    start_time: i64,
    script_path: Option<&'a str>,
    dag_name: &'a str,
    status: ExecutionStatus,
    source: ExecutionSource,
}

impl<'a> Placement<'a> {
    pub(crate) fn of_locator(at: &'a Locator) -> Self {
        let script_path = at.script_path.as_deref();
        Placement {
            start_time: at.start_time,
            script_path,
            dag_name: &at.dag_name,
            status: at.status,
            source: at.source,
        }
    }

    pub(crate) fn of_record(record: &'a StoredExecution) -> Self {
        Placement {
            start_time: record.start_time,
            script_path: record.script_path.as_deref(),
            dag_name: &record.dag_name,
            status: record.status,
            source: record.source,
        }
    }

    fn script_key(&self) -> Option<(&'a str, i64)> {
        self.script_path.map(|script| (script, self.start_time))
    }

    fn field_keys(&self) -> [(u8, &'a str, i64); 3] {
        field_values(self.dag_name, self.status, self.source).map(|(f, v)| (f, v, self.start_time))
    }
}

impl Tables<'_> {
    /// Moves record `id` from `old` to `new` in every index and counter; `None` on either
    /// side inserts or removes it. `summary` is the new `by_start` value.
    pub(crate) fn place(
        &mut self,
        id: &str,
        old: Option<&Placement<'_>>,
        new: Option<(&Placement<'_>, &[u8])>,
    ) -> Result<()> {
        let op = self.operation;
        let new_place = new.map(|(place, _)| place);
        if let Some(old) = old.filter(|o| new_place.is_none_or(|n| n.start_time != o.start_time)) {
            self.by_start.remove((old.start_time, id)).during(op)?;
        }
        if let Some((new, summary)) = new {
            self.by_start.insert((new.start_time, id), summary).during(op)?;
        }
        let (old_script, new_script) =
            (old.and_then(Placement::script_key), new_place.and_then(Placement::script_key));
        if old_script != new_script {
            if let Some((script, start)) = old_script {
                self.by_script.remove((script, start, id)).during(op)?;
                self.script_deltas.add(script, -1);
            }
            if let Some((script, start)) = new_script {
                self.by_script.insert((script, start, id), ()).during(op)?;
                self.script_deltas.add(script, 1);
            }
        }
        self.move_fields(id, old, new_place)?;
        if let Some(old) = old {
            self.count(old, -1);
        }
        if let Some(new) = new_place {
            self.count(new, 1);
        }
        Ok(())
    }

    fn move_fields(
        &mut self,
        id: &str,
        old: Option<&Placement<'_>>,
        new: Option<&Placement<'_>>,
    ) -> Result<()> {
        let op = self.operation;
        let (old_keys, new_keys) = (old.map(Placement::field_keys), new.map(Placement::field_keys));
        for i in 0..3 {
            let old_key = old_keys.and_then(|keys| keys.get(i).copied());
            let new_key = new_keys.and_then(|keys| keys.get(i).copied());
            if old_key == new_key {
                continue;
            }
            if let Some((field, value, start)) = old_key {
                self.by_field.remove((field, value, start, id)).during(op)?;
            }
            if let Some((field, value, start)) = new_key {
                self.by_field.insert((field, value, start, id), ()).during(op)?;
            }
        }
        Ok(())
    }

    fn count(&mut self, place: &Placement<'_>, delta: i64) {
        self.deltas.add(place.status, delta);
        self.dag_deltas.add(place.dag_name, place.status, delta);
        self.minute_deltas.add(place.start_time, delta);
    }
}
