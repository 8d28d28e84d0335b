//! `list` and `count`: the command-line filters as a `HistoryQuery`.

use execstore::{ExecutionStorage, HistoryQuery, Order, RedbStorage};
use serde_json::json;

use crate::args::{FilterArgs, ListArgs, When};
use crate::inspect::summaries_table;
use crate::output::Out;

/// The filters as a query, times relative to `now` (epoch millis).
fn to_query(filter: &FilterArgs, now: i64) -> HistoryQuery {
    let millis = |when: When| match when {
        When::Ago(ago) => now.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)),
        When::At(at) => at,
    };
    HistoryQuery {
        statuses: filter.status.clone(),
        dag_name: filter.dag.clone(),
        script_path: filter.script.clone(),
        script_prefix: filter.prefix.clone(),
        started_after: filter.since.map(millis),
        started_before: filter.before.map(millis),
        ..HistoryQuery::default()
    }
}

fn is_unfiltered(filter: &FilterArgs) -> bool {
    to_query(filter, 0) == HistoryQuery::default()
}

pub fn list(storage: &RedbStorage, args: &ListArgs, out: &mut Out) -> anyhow::Result<()> {
    if args.offset > 0 {
        anyhow::ensure!(
            is_unfiltered(&args.filter) && !args.oldest,
            "--offset pages the unfiltered list only; use the printed --cursor to page a filtered one"
        );
        let page = storage.list(args.limit, args.offset)?;
        return if out.json {
            out.json_pretty(&json!({ "items": page }))
        } else {
            summaries_table(&page, out)
        };
    }
    let mut query = to_query(&args.filter, execstore::now_millis()).limit(args.limit);
    if args.oldest {
        query = query.order(Order::Oldest);
    }
    if let Some(cursor) = &args.cursor {
        query = query.cursor(cursor.parse()?);
    }
    let page = storage.query(&query)?;
    let next = page.next.as_ref().map(ToString::to_string);
    if out.json {
        return out.json_pretty(&json!({ "items": page.items, "next": next }));
    }
    summaries_table(&page.items, out)?;
    match next {
        Some(next) => Ok(out.line(format!("next: {next}"))?),
        None => Ok(()),
    }
}

pub fn count(storage: &RedbStorage, filter: &FilterArgs, out: &mut Out) -> anyhow::Result<()> {
    let count = storage.count(&to_query(filter, execstore::now_millis()))?;
    if out.json {
        return out.json_pretty(&json!({ "count": count }));
    }
    Ok(out.line(count)?)
}
