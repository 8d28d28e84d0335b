//! The record model: Constellation's JSON shape, and the helpers on records.

use std::collections::BTreeMap;

use execstore::{
    should_sample, DagVizIr, EdgeKind, ExecutionSource, ExecutionStatus, ExecutionSummary,
    NodeKind, StoredExecution, VizStatus,
};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A record exactly as Constellation's circe encoders write it: every field present,
/// `null` for `None`, a full `dagVizIR`.
fn circe_record() -> Value {
    json!({
        "executionId": "5f0c8a52-8d1e-4a39-9a0e-2f4d8f1b7c11",
        "dagName": "customer-enrichment",
        "scriptPath": "scripts/enrich.cst",
        "startTime": 1732400000000_i64,
        "endTime": null,
        "inputs": {"customerId": "c-42", "limit": 10},
        "outputs": null,
        "status": "Running",
        "nodeResults": {
            "fetch": {"nodeId": "fetch", "status": "Completed", "value": {"name": "Ada"}, "durationMs": 12, "error": null},
            "score": {"nodeId": "score", "status": "Failed", "value": null, "durationMs": null, "error": "timeout"}
        },
        "dagVizIR": {
            "nodes": [
                {"id": "in", "kind": "Input", "label": "customerId", "typeSignature": "String",
                 "position": {"x": 0.0, "y": 10.5}, "executionState": null},
                {"id": "fetch", "kind": "Operation", "label": "FetchCustomer", "typeSignature": "{ name: String }",
                 "position": null,
                 "executionState": {"status": "Completed", "value": {"name": "Ada"}, "durationMs": 12, "error": null}},
                {"id": "join", "kind": "StringInterp", "label": "greeting", "typeSignature": "String",
                 "position": null, "executionState": {"status": "Pending", "value": null, "durationMs": null, "error": null}}
            ],
            "edges": [
                {"id": "e1", "source": "in", "target": "fetch", "label": "id", "kind": "Data"},
                {"id": "e2", "source": "fetch", "target": "join", "label": null, "kind": "Optional"}
            ],
            "groups": [{"id": "g1", "label": "lookup", "nodeIds": ["in", "fetch"], "collapsed": true}],
            "metadata": {"title": "enrich", "layoutDirection": "LR",
                         "bounds": {"minX": 0.0, "minY": 0.0, "maxX": 300.0, "maxY": 120.0}}
        },
        "sampleRate": 0.25,
        "source": "VSCodeExtension"
    })
}

#[test]
fn decodes_a_circe_encoded_record() -> TestResult {
    let record: StoredExecution = serde_json::from_value(circe_record())?;
    assert_eq!(record.execution_id, "5f0c8a52-8d1e-4a39-9a0e-2f4d8f1b7c11");
    assert_eq!(record.script_path.as_deref(), Some("scripts/enrich.cst"));
    assert_eq!((record.end_time, record.outputs.as_ref()), (None, None));
    assert_eq!(
        (record.status, record.source),
        (ExecutionStatus::Running, ExecutionSource::VSCodeExtension)
    );
    assert_eq!(record.node_results["score"].error.as_deref(), Some("timeout"));
    assert_eq!(record.node_results["score"].value, None);
    assert_eq!(record.sample_rate, 0.25);

    let viz = record.dag_viz_ir.as_ref().ok_or("dagVizIR not decoded")?;
    assert_eq!(
        viz.nodes.iter().map(|n| n.kind).collect::<Vec<_>>(),
        [NodeKind::Input, NodeKind::Operation, NodeKind::StringInterp]
    );
    assert_eq!(viz.nodes[1].execution_state.as_ref().map(|s| s.status), Some(VizStatus::Completed));
    assert_eq!(viz.edges[1].kind, EdgeKind::Optional);
    assert!(viz.groups[0].collapsed);
    assert_eq!(viz.metadata.layout_direction, "LR");
    assert_eq!(viz.metadata.bounds.map(|b| b.max_x), Some(300.0));
    Ok(())
}

#[test]
fn our_json_is_constellations_shape_and_round_trips() -> TestResult {
    let record: StoredExecution = serde_json::from_value(circe_record())?;
    let ours = serde_json::to_value(&record)?;
    assert_eq!(
        ours,
        circe_record(),
        "we write every field, null for None, in Constellation's names"
    );
    let back: StoredExecution = serde_json::from_value(ours)?;
    assert_eq!(back, record);
    Ok(())
}

#[test]
fn absent_optionals_and_defaults_decode() -> TestResult {
    let minimal = json!({
        "executionId": "e1", "dagName": "d", "startTime": 5, "status": "Completed", "source": "API",
        "nodeResults": {"n": {"nodeId": "n", "status": "Completed"}},
        "dagVizIR": {"nodes": [{"id": "a", "kind": "Literal", "label": "1", "typeSignature": "Int"}],
                     "edges": [{"id": "e", "source": "a", "target": "a"}]}
    });
    let record: StoredExecution = serde_json::from_value(minimal)?;
    assert_eq!((record.script_path, record.end_time, record.outputs), (None, None, None));
    assert!(record.inputs.is_empty());
    assert_eq!(record.sample_rate, 1.0);
    assert_eq!(record.node_results["n"].value, None);
    let viz = record.dag_viz_ir.ok_or("no viz")?;
    assert_eq!((viz.edges[0].kind, viz.edges[0].label.as_deref()), (EdgeKind::Data, None));
    assert_eq!(viz.metadata.layout_direction, "TB");
    assert!(viz.groups.is_empty() && viz.nodes[0].position.is_none());
    Ok(())
}

#[test]
fn unknown_enum_values_are_errors() {
    let mut bad = circe_record();
    bad["status"] = json!("Exploded");
    assert!(serde_json::from_value::<StoredExecution>(bad).is_err());
    let mut bad = circe_record();
    bad["source"] = json!("api");
    assert!(serde_json::from_value::<StoredExecution>(bad).is_err());
}

#[test]
fn enums_serialize_as_constellation_strings() -> TestResult {
    assert_eq!(serde_json::to_value(ExecutionSource::API)?, json!("API"));
    assert_eq!(serde_json::to_value(ExecutionSource::VSCodeExtension)?, json!("VSCodeExtension"));
    assert_eq!(serde_json::to_value(ExecutionStatus::Failed)?, json!("Failed"));
    assert_eq!(serde_json::to_value(NodeKind::HigherOrder)?, json!("HigherOrder"));
    assert_eq!(ExecutionStatus::Running.to_string(), "Running");
    Ok(())
}

#[test]
fn new_execution_is_running_now_with_a_uuid() -> TestResult {
    let before = execstore::now_millis();
    let e = StoredExecution::new("d", None, BTreeMap::new(), ExecutionSource::Dashboard);
    let after = execstore::now_millis();
    let id = uuid::Uuid::parse_str(&e.execution_id)?;
    assert_eq!(id.get_version_num(), 4);
    assert!((before..=after).contains(&e.start_time));
    assert_eq!(
        (e.status, e.sample_rate, e.end_time, e.duration_ms()),
        (ExecutionStatus::Running, 1.0, None, None)
    );
    let other = StoredExecution::new("d", None, BTreeMap::new(), ExecutionSource::Dashboard);
    assert_ne!(e.execution_id, other.execution_id);
    Ok(())
}

#[test]
fn duration_is_end_minus_start() {
    let mut e = StoredExecution::new("d", None, BTreeMap::new(), ExecutionSource::API);
    e.start_time = 1_000;
    e.end_time = Some(1_250);
    assert_eq!(e.duration_ms(), Some(250));
}

fn with_outputs(outputs: Option<Vec<(&str, Value)>>) -> ExecutionSummary {
    let mut e = StoredExecution::new("d", Some("s".into()), BTreeMap::new(), ExecutionSource::API);
    e.outputs = outputs.map(|o| o.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    ExecutionSummary::from(&e)
}

#[test]
fn output_preview_follows_constellations_rule() {
    assert_eq!(with_outputs(None).output_preview, None);
    assert_eq!(with_outputs(Some(vec![])).output_preview, None);
    let small = with_outputs(Some(vec![("z", json!(1)), ("a", json!({"k": [1, 2]}))]));
    assert_eq!(small.output_preview.as_deref(), Some(r#"a: {"k":[1,2]}"#));
    let exactly_50 = "x".repeat(48); // 50 characters with its quotes
    let kept = with_outputs(Some(vec![("o", json!(exactly_50))]));
    assert_eq!(kept.output_preview, Some(format!("o: \"{exactly_50}\"")));
    let cut = with_outputs(Some(vec![("o", json!("é".repeat(60)))]));
    assert_eq!(cut.output_preview, Some(format!("o: \"{}...", "é".repeat(49))));
}

#[test]
fn summary_counts_nodes_and_copies_fields() -> TestResult {
    let record: StoredExecution = serde_json::from_value(circe_record())?;
    let summary = ExecutionSummary::from(&record);
    assert_eq!(summary.node_count, 2);
    assert_eq!(
        (summary.execution_id.as_str(), summary.dag_name.as_str()),
        (record.execution_id.as_str(), "customer-enrichment")
    );
    assert_eq!(
        (summary.start_time, summary.end_time, summary.status),
        (record.start_time, None, ExecutionStatus::Running)
    );
    Ok(())
}

#[test]
fn vscode_runs_are_always_sampled() {
    assert!((0..1000).all(|_| should_sample(ExecutionSource::VSCodeExtension, Some(0.0), 0.0)));
}

#[test]
fn sampling_uses_script_rate_before_config_rate() {
    assert!((0..1000).all(|_| !should_sample(ExecutionSource::API, Some(0.0), 1.0)));
    assert!((0..1000).all(|_| should_sample(ExecutionSource::Dashboard, Some(1.0), 0.0)));
    assert!((0..1000).all(|_| !should_sample(ExecutionSource::API, None, 0.0)));
    assert!((0..1000).all(|_| should_sample(ExecutionSource::API, None, 1.0)));
}

#[test]
fn sampling_draws_at_the_rate() {
    // 20,000 draws at 0.3: the count lies within ±1,000 of 6,000 with overwhelming probability.
    let kept = (0..20_000).filter(|_| should_sample(ExecutionSource::API, Some(0.3), 1.0)).count();
    assert!((5_000..7_000).contains(&kept), "kept {kept} of 20000 at rate 0.3");
}

#[test]
fn viz_default_is_empty_top_to_bottom() {
    let viz = DagVizIr::default();
    assert!(viz.nodes.is_empty() && viz.edges.is_empty());
    assert_eq!(viz.metadata.layout_direction, "TB");
}

/// Found by the `json_record` fuzz target: without correctly rounded float parsing, the
/// text `91E111` decoded to a float that printed and re-parsed as a different one.
#[test]
fn floats_round_trip_exactly_through_json() -> TestResult {
    for text in
        ["91E111", "9.1e112", "0.1", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308"]
    {
        let json = format!(
            r#"{{"executionId":"f","dagName":"d","startTime":1,"status":"Running","source":"API","inputs":{{"x":{text}}}}}"#
        );
        let first: StoredExecution = serde_json::from_str(&json)?;
        let again: StoredExecution = serde_json::from_str(&serde_json::to_string(&first)?)?;
        assert_eq!(again, first, "{text}");
    }
    Ok(())
}
