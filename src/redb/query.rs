//! `query` and `count` over the indexes: one index range per call, chosen by the most
//! selective filter the indexes serve, the other filters checked on each entry.

use std::ops::Bound;

use redb::{ReadOnlyTable, ReadTransaction};

use super::dag_counts;
use super::read::StatusCounters;
use super::summary_value::decode_summary;
use super::tables::{BY_FIELD, BY_SCRIPT, BY_START, FIELD_DAG, FIELD_SOURCE, FIELD_STATUS, META};
use crate::error::{Error, Result, StorageResultExt};
use crate::model::ExecutionSummary;
use crate::query::{collect_page, statuses_or_all, HistoryQuery, Order, Page};

/// The most index entries one [`query`](crate::ExecutionStorage::query) call of
/// [`RedbStorage`](crate::RedbStorage) examines. When the filters its index does not serve
/// reject that many entries, the call returns the matches found so far (possibly none) and
/// a cursor at the last entry examined, so one call never walks a large index.
pub const QUERY_SCAN_LIMIT: usize = 10_000;

const OP: &str = "query";

/// A page of `query`.
pub(crate) fn query(txn: &ReadTransaction, query: &HistoryQuery) -> Result<Page> {
    let Some(span) = Span::of(query) else { return Ok(Page::default()) };
    let indexes = Indexes::open(txn)?;
    let page = collect_page(query, indexes.candidates(query, &span)?, QUERY_SCAN_LIMIT);
    page
}

/// `count`: counters when only the DAG name and statuses filter, else a walk of the range of
/// the index `query` would use.
pub(crate) fn count(txn: &ReadTransaction, filter: &HistoryQuery) -> Result<u64> {
    let statuses = statuses_or_all(&filter.statuses);
    if filter.is_counted_by_counters() {
        return match &filter.dag_name {
            Some(dag) => dag_counts::count(txn, dag, statuses),
            None => {
                let counters = StatusCounters::read(&txn.open_table(META).during(OP)?, OP)?;
                Ok(statuses.iter().map(|&s| counters.get(s)).sum())
            }
        };
    }
    let unpaged = HistoryQuery { cursor: None, ..filter.clone() };
    let Some(span) = Span::of(&unpaged) else { return Ok(0) };
    let indexes = Indexes::open(txn)?;
    let mut matched = 0;
    for summary in indexes.candidates(&unpaged, &span)? {
        matched += u64::from(unpaged.matches(&summary?));
    }
    Ok(matched)
}

/// The index a query walks.
enum Plan<'q> {
    /// `by_script_keys` of one script.
    Script(&'q str),
    /// `by_field` under one (field, value).
    Field(u8, &'q str),
    /// `by_start`, every record.
    Start,
}

fn plan(query: &HistoryQuery) -> Plan<'_> {
    if let Some(script) = &query.script_path {
        return Plan::Script(script);
    }
    if let Some(dag) = &query.dag_name {
        return Plan::Field(FIELD_DAG, dag);
    }
    if let [status] = query.statuses.as_slice() {
        return Plan::Field(FIELD_STATUS, status.as_str());
    }
    match query.source {
        Some(source) => Plan::Field(FIELD_SOURCE, source.as_str()),
        None => Plan::Start,
    }
}

/// The `(start_time, id)` positions a query may return: its time filters and its cursor.
struct Span {
    low: Bound<(i64, String)>,
    high: Bound<(i64, String)>,
}

impl Span {
    /// `None` when no position can match.
    fn of(query: &HistoryQuery) -> Option<Span> {
        let cursor = query.cursor.as_ref().map(|c| (c.start_time(), c.execution_id().to_owned()));
        let after = query.started_after.map(|t| Bound::Included((t, String::new())));
        let before = query.started_before.map(|t| Bound::Excluded((t, String::new())));
        let (mut low, mut high) =
            (after.unwrap_or(Bound::Unbounded), before.unwrap_or(Bound::Unbounded));
        match (query.order, cursor) {
            (Order::Newest, Some(at)) => high = tighter(high, Bound::Excluded(at), true),
            (Order::Oldest, Some(at)) => low = tighter(low, Bound::Excluded(at), false),
            (_, None) => {}
        }
        let empty = match (&low, &high) {
            (Bound::Included(l), Bound::Included(h)) => l > h,
            (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => {
                l >= h
            }
            _ => false,
        };
        (!empty).then_some(Span { low, high })
    }

    /// The span over keys built by `key`, with `open` standing for an unbounded end.
    fn keys<'s, K>(
        &'s self,
        key: impl Fn(i64, &'s str) -> K,
        open: (Bound<K>, Bound<K>),
    ) -> (Bound<K>, Bound<K>) {
        let map = |bound: &'s Bound<(i64, String)>, open: Bound<K>| match bound {
            Bound::Included((t, id)) => Bound::Included(key(*t, id)),
            Bound::Excluded((t, id)) => Bound::Excluded(key(*t, id)),
            Bound::Unbounded => open,
        };
        (map(&self.low, open.0), map(&self.high, open.1))
    }
}

/// The tighter of two bounds on the same side (`upper`: the smaller one).
fn tighter(
    current: Bound<(i64, String)>,
    other: Bound<(i64, String)>,
    upper: bool,
) -> Bound<(i64, String)> {
    let key = |b: &Bound<(i64, String)>| match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    match (key(&current), key(&other)) {
        (None, _) => other,
        (_, None) => current,
        (Some(a), Some(b)) if a == b => Bound::Excluded(a),
        (Some(a), Some(b)) if (a < b) == upper => current,
        _ => other,
    }
}

struct Indexes {
    by_start: ReadOnlyTable<(i64, &'static str), &'static [u8]>,
    by_field: ReadOnlyTable<(u8, &'static str, i64, &'static str), ()>,
    by_script: ReadOnlyTable<(&'static str, i64, &'static str), ()>,
}

type Candidates<'a> = Box<dyn Iterator<Item = Result<ExecutionSummary>> + 'a>;

impl Indexes {
    fn open(txn: &ReadTransaction) -> Result<Indexes> {
        Ok(Indexes {
            by_start: txn.open_table(BY_START).during(OP)?,
            by_field: txn.open_table(BY_FIELD).during(OP)?,
            by_script: txn.open_table(BY_SCRIPT).during(OP)?,
        })
    }

    /// The summaries in the query's index range, in its order.
    fn candidates<'a>(&'a self, query: &'a HistoryQuery, span: &'a Span) -> Result<Candidates<'a>> {
        let order = query.order;
        match plan(query) {
            Plan::Start => {
                let open = (Bound::Unbounded, Bound::Unbounded);
                let range = self.by_start.range(span.keys(|t, id| (t, id), open)).during(OP)?;
                Ok(ordered(range, order, |entry| {
                    let (key, summary) = entry.during(OP)?;
                    let (start, id) = key.value();
                    decode_summary(start, id, summary.value())
                }))
            }
            Plan::Field(field, value) => {
                let open = (
                    Bound::Included((field, value, i64::MIN, "")),
                    Bound::Included((field, value, i64::MAX, "\u{10FFFF}")),
                );
                let keys = span.keys(|t, id| (field, value, t, id), open);
                let range = self.by_field.range(keys).during(OP)?;
                Ok(ordered(range, order, move |entry| {
                    let (key, _) = entry.during(OP)?;
                    let (_, _, start, id) = key.value();
                    self.summary(start, id)
                }))
            }
            Plan::Script(script) => {
                let open = (
                    Bound::Included((script, i64::MIN, "")),
                    Bound::Included((script, i64::MAX, "\u{10FFFF}")),
                );
                let range =
                    self.by_script.range(span.keys(|t, id| (script, t, id), open)).during(OP)?;
                Ok(ordered(range, order, move |entry| {
                    let (key, _) = entry.during(OP)?;
                    let (_, start, id) = key.value();
                    self.summary(start, id)
                }))
            }
        }
    }

    fn summary(&self, start: i64, id: &str) -> Result<ExecutionSummary> {
        let key = || format!("by_start/({start}, {id})");
        match self.by_start.get((start, id)).during(OP)? {
            Some(bytes) => decode_summary(start, id, bytes.value()),
            None => Err(Error::Corrupt {
                key: key(),
                reason: "an index entry without its summary".to_owned(),
            }),
        }
    }
}

/// `range` in `order`, each entry mapped by `summary`.
fn ordered<'a, I, T>(
    range: I,
    order: Order,
    summary: impl FnMut(T) -> Result<ExecutionSummary> + 'a,
) -> Candidates<'a>
where
    I: DoubleEndedIterator<Item = T> + 'a,
{
    match order {
        Order::Newest => Box::new(range.rev().map(summary)),
        Order::Oldest => Box::new(range.map(summary)),
    }
}
