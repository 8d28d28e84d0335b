//! Filtered history queries with keyset pagination: [`HistoryQuery`] says what to match
//! and where to resume, [`Page`] holds the matches and the [`Cursor`] of the next page.
//!
//! Results are ordered by `(start_time, execution_id)`, newest or oldest first. A cursor is
//! a position in that order, not an offset: a page holds the matches strictly after it, so
//! runs stored or deleted while a caller pages are never returned twice and never make
//! another run be skipped.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::{ExecutionSource, ExecutionStatus, ExecutionSummary};

/// The largest page a query returns; a larger `limit` is refused.
pub const MAX_QUERY_LIMIT: usize = 1_000;

/// The page size of [`HistoryQuery::new`].
pub const DEFAULT_QUERY_LIMIT: usize = 50;

/// Which end of the history a query starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Order {
    /// Latest `start_time` first (ties: larger id first).
    #[default]
    Newest,
    /// Earliest `start_time` first (ties: smaller id first).
    Oldest,
}

/// What to match and which page to return. Filters combine with AND; `statuses` matches
/// any of its entries (empty: every status).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// Statuses to match; empty matches every status.
    pub statuses: Vec<ExecutionStatus>,
    /// Exact DAG name.
    pub dag_name: Option<String>,
    /// Exact script path.
    pub script_path: Option<String>,
    /// Script paths starting with this.
    pub script_prefix: Option<String>,
    /// What started the run.
    pub source: Option<ExecutionSource>,
    /// Runs that started at or after this time (epoch millis, inclusive).
    pub started_after: Option<i64>,
    /// Runs that started before this time (epoch millis, exclusive).
    pub started_before: Option<i64>,
    /// Newest or oldest first.
    pub order: Order,
    /// Page size, 1 to [`MAX_QUERY_LIMIT`].
    pub limit: usize,
    /// Resume after this position (from [`Page::next`] of the same query).
    pub cursor: Option<Cursor>,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        HistoryQuery {
            statuses: Vec::new(),
            dag_name: None,
            script_path: None,
            script_prefix: None,
            source: None,
            started_after: None,
            started_before: None,
            order: Order::Newest,
            limit: DEFAULT_QUERY_LIMIT,
            cursor: None,
        }
    }
}

impl HistoryQuery {
    /// Every run, newest first, [`DEFAULT_QUERY_LIMIT`] per page.
    pub fn new() -> Self {
        HistoryQuery::default()
    }

    /// Adds a status to match.
    #[must_use]
    pub fn status(mut self, status: ExecutionStatus) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// Adds statuses to match.
    #[must_use]
    pub fn statuses(self, statuses: impl IntoIterator<Item = ExecutionStatus>) -> Self {
        statuses.into_iter().fold(self, HistoryQuery::status)
    }

    /// Matches one DAG name exactly.
    #[must_use]
    pub fn dag_name(mut self, dag_name: impl Into<String>) -> Self {
        self.dag_name = Some(dag_name.into());
        self
    }

    /// Matches one script path exactly.
    #[must_use]
    pub fn script_path(mut self, script_path: impl Into<String>) -> Self {
        self.script_path = Some(script_path.into());
        self
    }

    /// Matches script paths starting with `prefix`.
    #[must_use]
    pub fn script_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.script_prefix = Some(prefix.into());
        self
    }

    /// Matches one source.
    #[must_use]
    pub fn source(mut self, source: ExecutionSource) -> Self {
        self.source = Some(source);
        self
    }

    /// Matches runs that started at or after `millis`.
    #[must_use]
    pub fn started_after(mut self, millis: i64) -> Self {
        self.started_after = Some(millis);
        self
    }

    /// Matches runs that started before `millis`.
    #[must_use]
    pub fn started_before(mut self, millis: i64) -> Self {
        self.started_before = Some(millis);
        self
    }

    /// Newest or oldest first.
    #[must_use]
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The page size.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Resumes after `cursor`.
    #[must_use]
    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Whether `summary` passes every filter (the cursor and order aside).
    pub fn matches(&self, summary: &ExecutionSummary) -> bool {
        let script = summary.script_path.as_deref();
        (self.statuses.is_empty() || self.statuses.contains(&summary.status))
            && self.dag_name.as_deref().is_none_or(|dag| dag == summary.dag_name)
            && self.script_path.as_deref().is_none_or(|path| script == Some(path))
            && self
                .script_prefix
                .as_deref()
                .is_none_or(|p| script.is_some_and(|s| s.starts_with(p)))
            && self.source.is_none_or(|source| source == summary.source)
            && self.started_after.is_none_or(|after| summary.start_time >= after)
            && self.started_before.is_none_or(|before| summary.start_time < before)
    }

    /// Whether the position `(start_time, id)` comes after the cursor in this order.
    pub(crate) fn is_past_cursor(&self, start_time: i64, id: &str) -> bool {
        self.cursor.as_ref().is_none_or(|cursor| match self.order {
            Order::Newest => (start_time, id) < (cursor.start_time, cursor.execution_id.as_str()),
            Order::Oldest => (start_time, id) > (cursor.start_time, cursor.execution_id.as_str()),
        })
    }

    /// Whether only the DAG name and statuses filter, so counters answer `count`.
    pub(crate) fn is_counted_by_counters(&self) -> bool {
        self.script_path.is_none()
            && self.script_prefix.is_none()
            && self.source.is_none()
            && self.started_after.is_none()
            && self.started_before.is_none()
    }

    /// Refuses a limit of 0 or above [`MAX_QUERY_LIMIT`], and a cursor of the other order.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_QUERY_LIMIT {
            return Err(Error::InvalidArgument(format!(
                "query limit {} is not between 1 and {MAX_QUERY_LIMIT}",
                self.limit
            )));
        }
        match &self.cursor {
            Some(cursor) if cursor.order != self.order => Err(Error::InvalidArgument(format!(
                "cursor {cursor} was made for {:?} order, the query asks for {:?}",
                cursor.order, self.order
            ))),
            _ => Ok(()),
        }
    }
}

/// A position in a query's order, to resume after: opaque, URL-safe text through
/// [`Display`](fmt::Display) and [`FromStr`]. It stays valid across writes, reopenings and
/// processes; it belongs to the order it was made for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    order: Order,
    start_time: i64,
    execution_id: String,
}

impl Cursor {
    /// The position just after `(start_time, execution_id)` in `order`.
    pub fn after(order: Order, start_time: i64, execution_id: impl Into<String>) -> Self {
        Cursor { order, start_time, execution_id: execution_id.into() }
    }

    /// The start time of the position.
    pub fn start_time(&self) -> i64 {
        self.start_time
    }

    /// The execution id of the position.
    pub fn execution_id(&self) -> &str {
        &self.execution_id
    }
}

/// `n` or `o`, the start time in decimal, then the id's bytes in hex, joined by `.`:
/// only URL-safe characters.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            Order::Newest => 'n',
            Order::Oldest => 'o',
        };
        write!(f, "{order}.{}.", self.start_time)?;
        self.execution_id.bytes().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidArgument(format!("cursor {text:?}: {reason}"));
        let mut parts = text.splitn(3, '.');
        let order = match parts.next() {
            Some("n") => Order::Newest,
            Some("o") => Order::Oldest,
            _ => return Err(bad("does not start with n. or o.")),
        };
        let start_time =
            parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad("no start time"))?;
        let hex = parts.next().ok_or_else(|| bad("no execution id"))?;
        let execution_id =
            decode_hex(hex).ok_or_else(|| bad("the execution id is not hex of UTF-8"))?;
        let cursor = Cursor { order, start_time, execution_id };
        // One text per position: signs, leading zeros and upper-case hex are refused, so a
        // cursor can be compared or cached by its text.
        if cursor.to_string() != text {
            return Err(bad("not in the form execstore writes"));
        }
        Ok(cursor)
    }
}

fn decode_hex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A page of a query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The matches, in the query's order.
    pub items: Vec<ExecutionSummary>,
    /// Where the next page starts; `None` when nothing after this page can match.
    /// A page may hold fewer than `limit` items (even none) and still have a `next`,
    /// when a backend bounds the work of one call.
    pub next: Option<Cursor>,
}

/// The statuses a filter names, or every status when it names none.
pub(crate) fn statuses_or_all(statuses: &[ExecutionStatus]) -> &[ExecutionStatus] {
    if statuses.is_empty() {
        &ExecutionStatus::ALL
    } else {
        statuses
    }
}

/// Builds a page from candidates in the query's order (already past the cursor): takes
/// matches up to the limit, stops after examining `budget` candidates, and sets `next`.
pub(crate) fn collect_page<I>(query: &HistoryQuery, candidates: I, budget: usize) -> Result<Page>
where
    I: IntoIterator<Item = Result<ExecutionSummary>>,
{
    let mut items = Vec::with_capacity(query.limit.min(MAX_QUERY_LIMIT));
    let mut last_examined = None;
    for (examined, candidate) in candidates.into_iter().enumerate() {
        let summary = candidate?;
        if examined >= budget {
            let next = last_examined.map(|(start, id)| Cursor::after(query.order, start, id));
            return Ok(Page { items, next });
        }
        if !query.matches(&summary) {
            last_examined = Some((summary.start_time, summary.execution_id));
            continue;
        }
        if items.len() == query.limit {
            let next = items.last().map(|s: &ExecutionSummary| {
                Cursor::after(query.order, s.start_time, s.execution_id.clone())
            });
            return Ok(Page { items, next });
        }
        last_examined = Some((summary.start_time, summary.execution_id.clone()));
        items.push(summary);
    }
    Ok(Page { items, next: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_reads_back_from_its_text(newest: bool, start: i64, id in "\\PC{0,40}") {
            let order = if newest { Order::Newest } else { Order::Oldest };
            let cursor = Cursor::after(order, start, id);
            prop_assert_eq!(cursor.to_string().parse::<Cursor>()?, cursor);
        }

        #[test]
        fn any_text_is_refused_or_is_the_text_of_its_cursor(text in "[nox]\\.[-+]?0?[0-9]{1,3}\\.([0-9a-fA-F+]{2}){0,4}|\\PC{0,24}") {
            if let Ok(cursor) = text.parse::<Cursor>() {
                prop_assert_eq!(cursor.to_string(), text);
            }
        }
    }
}
