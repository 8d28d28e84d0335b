//! Read-only commands: `stats`, `list`, `show`, `audit`.

use anyhow::{anyhow, Context};
use execstore::{
    AuditConfig, AuditEvent, ExecutionStorage, ExecutionSummary, RedbStorage, StoredExecution,
    StoredNodeResult,
};
use uuid::Uuid;

use crate::ids;
use crate::output::{duration, or_dash, outcome, timestamp, Cell, Out};

pub fn stats(storage: &RedbStorage, out: &mut Out) -> anyhow::Result<()> {
    let stats = storage.stats()?;
    if out.json {
        return out.json_pretty(&stats);
    }
    out.fields(&[
        ("file", storage.path().display().to_string()),
        ("executions", stats.total_executions.to_string()),
        ("running", stats.running_executions.to_string()),
        ("completed", stats.completed_executions.to_string()),
        ("failed", stats.failed_executions.to_string()),
        ("oldest", or_dash(stats.oldest_execution_time.map(timestamp))),
        ("newest", or_dash(stats.newest_execution_time.map(timestamp))),
        ("capacity", stats.max_capacity.map_or("unbounded".to_owned(), |c| c.to_string())),
    ])?;
    Ok(())
}

/// Summaries as a table, newest first.
pub fn summaries_table(page: &[ExecutionSummary], out: &mut Out) -> anyhow::Result<()> {
    let rows = page
        .iter()
        .map(|s| {
            vec![
                Cell::from(s.execution_id.as_str()),
                Cell::from(s.dag_name.as_str()),
                Cell::from(or_dash(s.script_path.as_deref())),
                out.status(s.status),
                Cell::from(timestamp(s.start_time)),
                Cell::from(or_dash(s.end_time.map(|end| duration(end - s.start_time)))),
                Cell::from(s.node_count.to_string()),
                Cell::from(or_dash(s.output_preview.as_deref())),
            ]
        })
        .collect();
    let header = ["ID", "DAG", "SCRIPT", "STATUS", "STARTED", "TOOK", "NODES", "OUTPUT"];
    out.table(&header, rows)?;
    Ok(())
}

pub fn show(storage: &RedbStorage, id: &str, out: &mut Out) -> anyhow::Result<()> {
    let id = ids::resolve(storage, id)?;
    let record = storage.get(&id)?.ok_or_else(|| anyhow!("no execution with id {id:?}"))?;
    if out.json {
        return out.json_pretty(record.as_ref());
    }
    out.fields(&[
        ("id", record.execution_id.clone()),
        ("dag", record.dag_name.clone()),
        ("script", or_dash(record.script_path.as_deref())),
        ("status", out.status(record.status).text().to_owned()),
        ("source", record.source.to_string()),
        ("started", timestamp(record.start_time)),
        ("ended", or_dash(record.end_time.map(timestamp))),
        ("took", or_dash(record.duration_ms().map(duration))),
        ("sample rate", record.sample_rate.to_string()),
    ])?;
    values(out, "inputs", record.inputs.iter())?;
    values(out, "outputs", record.outputs.iter().flatten())?;
    nodes(&record, out)?;
    dag(&record, out)
}

fn values<'a>(
    out: &mut Out,
    title: &str,
    values: impl Iterator<Item = (&'a String, &'a serde_json::Value)>,
) -> anyhow::Result<()> {
    out.line(format!("\n{title}:"))?;
    let mut any = false;
    for (key, value) in values {
        out.line(format!("  {key} = {value}"))?;
        any = true;
    }
    if !any {
        out.line("  (none)")?;
    }
    Ok(())
}

fn nodes(record: &StoredExecution, out: &mut Out) -> anyhow::Result<()> {
    out.line("\nnode results:")?;
    let rows = ordered_nodes(record)
        .into_iter()
        .map(|node| {
            let result = node.error.clone().or_else(|| node.value.as_ref().map(|v| v.to_string()));
            vec![
                Cell::from(format!("  {}", node.node_id)),
                out.status(node.status),
                Cell::from(or_dash(node.duration_ms.map(duration))),
                Cell::from(or_dash(result)),
            ]
        })
        .collect();
    out.table(&["  NODE", "STATUS", "TOOK", "VALUE / ERROR"], rows)?;
    Ok(())
}

/// Node results in the DAG's order when the run recorded its DAG, else by node id.
fn ordered_nodes(record: &StoredExecution) -> Vec<&StoredNodeResult> {
    let mut nodes: Vec<_> = record.node_results.values().collect();
    if let Some(viz) = &record.dag_viz_ir {
        let rank = |id: &str| viz.nodes.iter().position(|n| n.id == id).unwrap_or(usize::MAX);
        nodes.sort_by_key(|node| rank(&node.node_id));
    }
    nodes
}

fn dag(record: &StoredExecution, out: &mut Out) -> anyhow::Result<()> {
    let Some(viz) = &record.dag_viz_ir else {
        out.line("\nDAG: not recorded")?;
        return Ok(());
    };
    let title = viz.metadata.title.as_deref().unwrap_or(&record.dag_name);
    out.line(format!(
        "\nDAG {title}: {} nodes, {} edges, {} groups, layout {}",
        viz.nodes.len(),
        viz.edges.len(),
        viz.groups.len(),
        viz.metadata.layout_direction
    ))?;
    for edge in &viz.edges {
        out.line(format!("  {} -> {} ({:?})", edge.source, edge.target, edge.kind))?;
    }
    Ok(())
}

pub fn audit(storage: &RedbStorage, id: &str, out: &mut Out) -> anyhow::Result<()> {
    let execution_id = audit_id(storage, id)?;
    let log = storage.audit_log(AuditConfig::default())?;
    let events = log.events_for(execution_id)?;
    log.close()?;
    // A run stored without a listener (imported, say) has no events: that is not an error.
    if events.is_empty() && storage.get(&execution_id.to_string())?.is_none() {
        return Err(anyhow!("no execution and no audit events with id {execution_id}"));
    }
    if out.json {
        return out.json_pretty(&events);
    }
    if events.is_empty() {
        out.line(format!("no audit events recorded for execution {execution_id}"))?;
        return Ok(());
    }
    timeline(&events, out)
}

/// The run whose events to show: a stored run (by id or prefix), or any UUID, since
/// events outlive a pruned run.
fn audit_id(storage: &RedbStorage, given: &str) -> anyhow::Result<Uuid> {
    let id = match ids::resolve(storage, given) {
        Ok(id) => id,
        Err(error) => return Uuid::parse_str(given).map_err(|_| error),
    };
    Uuid::parse_str(&id)
        .with_context(|| format!("execution {id:?} has no audit events: they are kept by UUID"))
}

fn timeline(events: &[AuditEvent], out: &mut Out) -> anyhow::Result<()> {
    let start = events.first().map_or(0, |e| e.timestamp);
    let rows = events
        .iter()
        .map(|e| {
            let outcome = match outcome(e) {
                (text, Some(colour)) => out.coloured(text, colour),
                (text, None) => Cell::from(text),
            };
            vec![
                Cell::from(e.seq.to_string()),
                Cell::from(format!("+{}", duration(e.timestamp - start))),
                Cell::from(e.kind.as_str()),
                Cell::from(or_dash(e.module_name.as_deref().or(e.dag_name.as_deref()))),
                Cell::from(or_dash(e.duration_ms.map(|ms| duration(ms as i64)))),
                outcome,
            ]
        })
        .collect();
    out.table(&["SEQ", "AT", "EVENT", "MODULE / DAG", "TOOK", "RESULT"], rows)?;
    Ok(())
}
