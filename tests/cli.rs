//! The `execstore` binary end to end: spawned as a user would run it.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn execstore(db: &Path, args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(env!("CARGO_BIN_EXE_execstore"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
}

/// Runs a command that must succeed and returns its standard output. In a pipe a
/// successful command writes nothing to stderr: no progress bar, no noise.
fn ok(db: &Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let output = execstore(db, args)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    Ok(String::from_utf8(output.stdout)?)
}

/// `execstore --db DB import -` with `input` on its standard input.
fn import_from_stdin(db: &Path, input: &[u8]) -> Result<Output, Box<dyn std::error::Error>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_execstore"))
        .arg("--db")
        .arg(db)
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or("stdin")?.write_all(input)?;
    Ok(child.wait_with_output()?)
}

/// Runs a command that must fail and returns its standard error.
fn fails(db: &Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let output = execstore(db, args)?;
    assert!(!output.status.success(), "{args:?} succeeded");
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    Ok(String::from_utf8(output.stderr)?)
}

fn json(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(text)
}

#[test]
fn demo_then_stats_list_show_and_audit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("demo.redb");
    let demo = ok(&db, &["demo", "--runs", "60"])?;
    assert!(demo.contains("simulated 60 runs"), "{demo}");
    let stats = json(&ok(&db, &["--json", "stats"])?)?;
    assert_eq!(stats["totalExecutions"], 60);
    let counted = ["runningExecutions", "completedExecutions", "failedExecutions"]
        .iter()
        .map(|k| stats[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert_eq!(counted, 60);
    assert!(stats["failedExecutions"].as_u64() > Some(0), "the demo simulates failures");

    let list = json(&ok(&db, &["--json", "list", "--limit", "5"])?)?;
    let page = list["items"].as_array().ok_or("list has items")?;
    assert_eq!(page.len(), 5);
    let starts: Vec<i64> = page.iter().filter_map(|s| s["startTime"].as_i64()).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first: {starts:?}");
    let table = ok(&db, &["list", "--script", "pipelines/etl.cst", "--limit", "3"])?;
    let rows: Vec<&str> = table.lines().skip(1).filter(|l| !l.starts_with("next: ")).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows.iter().all(|l| l.contains("pipelines/etl.cst")), "{table}");

    let id = page[0]["executionId"].as_str().ok_or("id")?;
    let shown = ok(&db, &["show", id])?;
    assert!(shown.contains(id) && shown.contains("node results:"), "{shown}");
    let record = json(&ok(&db, &["--json", "show", id])?)?;
    assert_eq!(record["executionId"], id);
    assert!(record["nodeResults"].as_object().is_some_and(|n| !n.is_empty()), "{record}");
    let all = all_runs(&db)?;
    let mut with_viz = 0;
    for summary in &all {
        let id = summary["executionId"].as_str().ok_or("id")?;
        let record = json(&ok(&db, &["--json", "show", id])?)?;
        if let Some(nodes) = record["dagVizIR"]["nodes"].as_array() {
            // Every module plus input and output; a failed run has results for fewer.
            assert!(nodes.len() >= summary["nodeCount"].as_u64().ok_or("count")? as usize + 2);
            with_viz += 1;
            if with_viz == 1 {
                let shown = ok(&db, &["show", id])?;
                assert!(shown.contains(" -> "), "edges are listed: {shown}");
                // Node results come in the DAG's order, not alphabetically.
                let results = record["nodeResults"].as_object().ok_or("results")?;
                let expected: Vec<&str> = nodes
                    .iter()
                    .filter_map(|n| n["id"].as_str())
                    .filter(|id| results.contains_key(*id))
                    .collect();
                let listed: Vec<&str> = shown
                    .lines()
                    .skip_while(|l| !l.starts_with("node results:"))
                    .skip(2)
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                assert_eq!(listed, expected, "{shown}");
            }
        }
    }
    assert!((30..60).contains(&with_viz), "some runs record their DAG: {with_viz} of 60");

    let prefix = id.get(..8).ok_or("short id")?;
    assert_eq!(json(&ok(&db, &["--json", "show", prefix])?)?["executionId"], id, "unique prefix");
    assert_eq!(ok(&db, &["audit", prefix])?, ok(&db, &["audit", id])?);
    let timeline = json(&ok(&db, &["--json", "audit", id])?)?;
    let events = timeline.as_array().ok_or("audit is an array")?;
    assert_eq!(events.first().map(|e| &e["eventType"]), Some(&"execution.started".into()));
    assert!(events.iter().all(|e| e["executionId"] == id));
    let table = ok(&db, &["audit", id])?;
    assert!(table.contains("module.started"), "{table}");
    Ok(())
}

#[test]
fn export_import_export_is_identical() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (first, second) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    ok(&first, &["demo", "--runs", "40"])?;
    let exported = ok(&first, &["export"])?;
    assert_eq!(exported.lines().count(), 40);
    let file = dir.path().join("runs.jsonl");
    let report = json(&ok(&first, &["--json", "export", "-o", file.to_str().ok_or("path")?])?)?;
    assert_eq!(report["exported"], 40);
    assert_eq!(std::fs::read_to_string(&file)?, exported);
    assert!(!dir.path().join("runs.jsonl.partial").exists());
    let report = ok(&second, &["import", file.to_str().ok_or("path")?])?;
    assert!(report.contains("imported 40"), "{report}");
    assert_eq!(ok(&second, &["export"])?, exported);
    let third = dir.path().join("c.redb");
    let piped = import_from_stdin(&third, exported.as_bytes())?;
    assert!(piped.status.success() && piped.stderr.is_empty(), "{piped:?}");
    assert_eq!(ok(&third, &["export"])?, exported);
    let piped = import_from_stdin(&third, b"{\"executionId\": 7}\n")?;
    assert_eq!(piped.status.code(), Some(1));
    assert!(String::from_utf8(piped.stderr)?.contains("standard input: line 1: skipped: "));
    let imported_id = json(exported.lines().next().ok_or("a line")?)?["executionId"].clone();
    let imported_id = imported_id.as_str().ok_or("id")?;
    assert!(ok(&second, &["audit", imported_id])?.contains("no audit events recorded"));
    assert_eq!(json(&ok(&second, &["--json", "audit", imported_id])?)?, serde_json::json!([]));
    let audit = ok(&first, &["export", "--audit"])?;
    for line in audit.lines() {
        let event = json(line)?;
        assert!(event["eventType"].is_string() && event["executionId"].is_string());
    }
    assert!(audit.lines().count() > 40);
    Ok(())
}

#[test]
fn import_reports_a_bad_line_and_imports_its_neighbours() -> TestResult {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.redb");
    ok(&source, &["demo", "--runs", "5"])?;
    let mut lines: Vec<String> = ok(&source, &["export"])?.lines().map(str::to_owned).collect();
    lines.insert(2, r#"{"executionId": "broken", "dagName": 42}"#.to_owned());
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, lines.join("\n"))?;
    let target = dir.path().join("target.redb");
    let output = execstore(&target, &["import", file.to_str().ok_or("path")?])?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("mixed.jsonl: line 3: skipped: invalid type"), "{stderr}");
    assert!(String::from_utf8(output.stdout)?.contains("imported 5 executions, 1 failed"));
    assert_eq!(json(&ok(&target, &["--json", "stats"])?)?["totalExecutions"], 5);
    let output = execstore(&target, &["--json", "import", file.to_str().ok_or("path")?])?;
    let report = json(&String::from_utf8(output.stdout)?)?;
    assert_eq!((report["imported"].as_u64(), report["failed"].as_u64()), (Some(5), Some(1)));
    assert_eq!(report["rejected"][0]["at"], "line 3");
    assert_eq!(json(&ok(&target, &["--json", "stats"])?)?["totalExecutions"], 5, "same ids");

    let array = format!("[{}]", lines.join(","));
    std::fs::write(&file, array)?;
    let again = dir.path().join("array.redb");
    let stderr = fails(&again, &["import", file.to_str().ok_or("path")?])?;
    assert!(stderr.contains("element 3"), "{stderr}");
    assert_eq!(json(&ok(&again, &["--json", "stats"])?)?["totalExecutions"], 5);
    Ok(())
}

#[test]
fn import_spans_several_chunks_and_skips_only_bad_lines() -> TestResult {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.redb");
    ok(&source, &["demo", "--runs", "1"])?;
    let template = json(ok(&source, &["export"])?.trim())?;
    let mut lines: Vec<String> = Vec::new();
    for i in 0..1_203 {
        let mut record = template.clone();
        record["executionId"] = format!("run-{i:04}").into();
        lines.push(match i {
            700 => "{not json".to_owned(),
            1_100 => String::new(),
            _ => serde_json::to_string(&record)?,
        });
    }
    let file = dir.path().join("many.jsonl");
    std::fs::write(&file, lines.join("\r\n"))?;
    let target = dir.path().join("target.redb");
    let output = execstore(&target, &["import", file.to_str().ok_or("path")?])?;
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("many.jsonl: line 701: skipped: "), "{stderr}");
    assert_eq!(stderr.matches("skipped: ").count(), 1, "a blank line is not an error: {stderr}");
    assert_eq!(json(&ok(&target, &["--json", "stats"])?)?["totalExecutions"], 1_201);
    let shown = json(&ok(&target, &["--json", "show", "run-0701"])?)?;
    assert_eq!(shown["dagName"], template["dagName"]);
    // The same records as one JSON array: streamed too, the bad element skipped alone.
    let array = dir.path().join("many.json");
    // In an array only well-formed elements can be skipped: broken syntax ends the array.
    lines.retain(|line| !line.is_empty());
    *lines.get_mut(700).ok_or("line")? = r#"{"executionId": 7}"#.to_owned();
    std::fs::write(&array, format!("[\n{}\n]", lines.join(",\n")))?;
    let from_array = dir.path().join("from-array.redb");
    let output = execstore(&from_array, &["import", array.to_str().ok_or("path")?])?;
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains("many.json: element 701: skipped: "), "{stderr}");
    assert_eq!(ok(&from_array, &["export"])?, ok(&target, &["export"])?);
    // A broken array stops at the fault, after the chunks before it.
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, format!("[{}", lines.get(..600).ok_or("lines")?.join(",")))?;
    let stderr = fails(&dir.path().join("cut.redb"), &["import", cut.to_str().ok_or("path")?])?;
    assert!(
        stderr.contains("cut.json is not a JSON array (500 imported before the fault)"),
        "{stderr}"
    );
    // A prefix of several ids (run-1200 to run-1202) names none of them.
    let stderr = fails(&target, &["show", "run-120"])?;
    assert!(stderr.contains("several executions have ids starting with \"run-120\""), "{stderr}");
    assert!(fails(&target, &["audit", "run-0701"])?.contains("kept by UUID"));
    Ok(())
}

#[test]
fn import_keeps_large_values_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source.redb");
    ok(&source, &["demo", "--runs", "1"])?;
    let mut record = json(ok(&source, &["export"])?.trim())?;
    record["inputs"]["document"] = "x".repeat(50_000).into();
    let file = dir.path().join("large.jsonl");
    std::fs::write(&file, serde_json::to_string(&record)?)?;
    let target = dir.path().join("target.redb");
    ok(&target, &["import", file.to_str().ok_or("path")?])?;
    let id = record["executionId"].as_str().ok_or("id")?;
    let shown = json(&ok(&target, &["--json", "show", id])?)?;
    assert_eq!(shown["inputs"]["document"].as_str().map(str::len), Some(50_000));
    Ok(())
}

#[test]
fn bad_ids_and_files_are_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    let stderr = fails(&db, &["stats"])?;
    assert!(stderr.contains("h.redb does not exist"), "{stderr}");
    assert!(!db.exists(), "a read-only command does not create the file");
    ok(&db, &["demo", "--runs", "1"])?;
    let stderr = fails(&db, &["show", "no-such-id"])?;
    assert!(stderr.starts_with("error: ") && stderr.contains("no-such-id"), "{stderr}");
    assert!(fails(&db, &["audit", "not-a-uuid"])?.contains("no execution with id \"not-a-uuid\""));
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert!(fails(&db, &["audit", unknown])?.contains("no execution and no audit events"));
    let missing = dir.path().join("missing/dir/h.redb");
    assert!(fails(&missing, &["demo"])?.contains("parent directory does not exist"));
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "not a database at all\n".repeat(100))?;
    assert!(fails(&foreign, &["list"])?.contains("is not an execstore database"));
    assert_eq!(std::fs::read_to_string(&foreign)?, "not a database at all\n".repeat(100));
    let held = execstore::RedbStorage::open(&db)?;
    let stderr = fails(&db, &["list"])?;
    assert!(stderr.contains("already open") && stderr.contains("stop the application"), "{stderr}");
    drop(held);
    ok(&db, &["list"])?;
    let usage = execstore(&db, &["prune"])?;
    assert_eq!(usage.status.code(), Some(2), "usage errors exit with 2");
    Ok(())
}

#[test]
fn prune_dry_run_then_prune_and_compact() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    ok(&db, &["demo", "--runs", "30"])?;
    let dry = json(&ok(&db, &["--json", "prune", "--keep", "10", "--dry-run"])?)?;
    assert_eq!((dry["removed"].as_u64(), dry["remaining"].as_u64()), (Some(20), Some(10)));
    assert_eq!(json(&ok(&db, &["--json", "stats"])?)?["totalExecutions"], 30);
    assert!(ok(&db, &["prune", "--keep", "10"])?.contains("removed 20 of 30"));
    assert!(ok(&db, &["prune", "--older-than", "30d"])?.contains("removed 0 of 10"));
    assert!(ok(&db, &["compact"])?.contains("bytes"));
    assert!(ok(&db, &["verify"])?.contains("10 executions checked"));
    assert_eq!(json(&ok(&db, &["--json", "stats"])?)?["totalExecutions"], 10);
    Ok(())
}

/// Every run of a history as `list --json` shows it, page by page with `--cursor`.
fn all_runs(db: &Path) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    paged(db, &[])
}

/// Every run `list --json <filters>` shows, following the `next` cursors in pages of 7.
fn paged(
    db: &Path,
    filters: &[&str],
) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["--json", "list", "--limit", "7"];
        args.extend_from_slice(filters);
        if let Some(cursor) = &cursor {
            args.extend(["--cursor", cursor.as_str()]);
        }
        let page = json(&ok(db, &args)?)?;
        runs.extend(page["items"].as_array().ok_or("list --json prints items")?.iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(runs),
        }
    }
}

#[test]
fn list_filters_page_with_a_cursor_and_count_agrees() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    ok(&db, &["demo", "--runs", "50"])?;
    let everything = all_runs(&db)?;
    assert_eq!(everything.len(), 50);
    let failed = paged(&db, &["--status", "failed"])?;
    assert!(!failed.is_empty() && failed.iter().all(|s| s["status"] == "Failed"));
    let expected_failed = everything.iter().filter(|s| s["status"] == "Failed").count();
    assert_eq!(failed.len(), expected_failed);
    assert_eq!(ok(&db, &["count", "--status", "Failed"])?.trim(), expected_failed.to_string());
    let dag = everything[0]["dagName"].as_str().ok_or("dag name")?;
    let of_dag = paged(&db, &["--dag", dag, "--status", "Running,Completed,Failed"])?;
    assert_eq!(of_dag.len(), everything.iter().filter(|s| s["dagName"] == dag).count());
    assert_eq!(ok(&db, &["count", "--dag", dag])?.trim(), of_dag.len().to_string());
    let oldest = paged(&db, &["--oldest"])?;
    let newest_ids: Vec<_> = everything.iter().map(|s| s["executionId"].clone()).collect();
    let mut oldest_ids: Vec<_> = oldest.iter().map(|s| s["executionId"].clone()).collect();
    oldest_ids.reverse();
    assert_eq!(oldest_ids, newest_ids);
    assert_eq!(paged(&db, &["--since", "3650days"])?.len(), 50);
    assert!(paged(&db, &["--before", "3650days"])?.is_empty());
    assert!(paged(&db, &["--prefix", "no/such/"])?.is_empty());
    let table = ok(&db, &["list", "--limit", "3"])?;
    assert!(table.lines().last().is_some_and(|l| l.starts_with("next: ")), "{table}");
    assert!(fails(&db, &["list", "--cursor", "n.1.zz"])?.contains("cursor"));
    for (args, message) in [
        (["list", "--status", "Lost"], "not Running, Completed or Failed"),
        (["list", "--since", "yesterday-ish"], "neither a duration"),
    ] {
        let usage = execstore(&db, &args)?;
        assert_eq!(usage.status.code(), Some(2), "{args:?} is a usage error");
        assert!(String::from_utf8(usage.stderr)?.contains(message), "{args:?}");
    }
    Ok(())
}

#[test]
fn prune_applies_several_rules_as_one_policy_and_a_dry_run_counts_each() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    ok(&db, &["demo", "--runs", "80"])?;
    let runs = all_runs(&db)?;
    let failed = runs.iter().filter(|r| r["status"] == "Failed").count() as u64;
    let mut per_script = std::collections::BTreeMap::<String, u64>::new();
    for run in &runs {
        if let Some(script) = run["scriptPath"].as_str() {
            *per_script.entry(script.to_owned()).or_default() += 1;
        }
    }
    let over: u64 = per_script.values().map(|c| c.saturating_sub(2)).sum();
    assert!(failed > 0 && over > 0, "the demo has failures and repeated scripts");
    let rules = ["prune", "--failed-older-than", "1s", "--keep-per-script", "2"];
    let dry = json(&ok(&db, &[&["--json"], &rules[..], &["--dry-run"]].concat())?)?;
    assert_eq!((dry["byAge"].as_u64(), dry["perScript"].as_u64()), (Some(failed), Some(over)));
    assert_eq!(all_runs(&db)?.len(), runs.len(), "a dry run removes nothing");

    let done = json(&ok(&db, &[&["--json"][..], &rules[..]].concat())?)?;
    let left = all_runs(&db)?;
    assert_eq!(done["remaining"].as_u64(), Some(left.len() as u64));
    assert_eq!(done["byAge"].as_u64(), Some(failed), "age is applied first");
    assert!(left.iter().all(|r| r["status"] != "Failed"));
    for script in per_script.keys() {
        let kept = left.iter().filter(|r| r["scriptPath"] == script.as_str()).count();
        assert!(kept <= 2, "{script} kept {kept}");
    }
    assert!(ok(&db, &["verify"])?.contains(&format!("{} executions checked", left.len())));
    Ok(())
}

#[test]
fn prune_max_size_keeps_the_newest_under_the_limit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    ok(&db, &["demo", "--runs", "300"])?;
    let newest = all_runs(&db)?.first().ok_or("runs")?["executionId"].clone();
    let dry = json(&ok(&db, &["--json", "prune", "--max-size", "256KiB", "--dry-run"])?)?;
    assert!(dry["forSize"].as_u64().is_some_and(|n| n > 0), "{dry}");
    let done = json(&ok(&db, &["--json", "prune", "--max-size", "256KiB"])?)?;
    assert!(done["forSize"].as_u64().is_some_and(|n| n > 0 && n < 300), "{done}");
    let left = all_runs(&db)?;
    assert_eq!(left.first().map(|r| &r["executionId"]), Some(&newest), "the oldest go first");
    let bad = execstore(&db, &["prune", "--max-size", "lots"])?;
    assert_eq!(bad.status.code(), Some(2), "a size that does not parse is a usage error");
    Ok(())
}

#[test]
fn a_closed_pipe_exits_quietly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("h.redb");
    ok(&db, &["demo", "--runs", "300"])?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_execstore"))
        .arg("--db")
        .arg(&db)
        .arg("export")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    drop(child.stdout.take()); // the reader goes away before the export is written
    let output = child.wait_with_output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

/// The seqs of `audit --follow` JSON Lines output.
fn followed_seqs(text: &str) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
    let mut seqs = Vec::new();
    for line in text.lines() {
        seqs.push(json(line)?["seq"].as_u64().ok_or("an event with a seq")?);
    }
    Ok(seqs)
}

#[test]
fn audit_follow_prints_committed_events_from_where_it_is_told() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("history.redb");
    ok(&db, &["demo", "--runs", "20"])?;
    let all = followed_seqs(&ok(&db, &["--json", "export", "--audit"])?)?;
    assert!(all.len() > 60, "{} demo events", all.len());
    let from_start = ["--json", "audit", "--follow", "--from-start", "--limit", "60"];
    assert_eq!(followed_seqs(&ok(&db, &from_start)?)?, all[..60]);
    // A forwarder that handled up to seq 41 resumes with the next one.
    let resumed = ok(&db, &["--json", "audit", "--follow", "--after", "41", "--limit", "5"])?;
    assert_eq!(followed_seqs(&resumed)?, [42, 43, 44, 45, 46]);
    let text = ok(&db, &["audit", "--follow", "--from-start", "--limit", "3"])?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("1  ") && lines[0].contains("execution.started"), "{text}");
    for usage in [&["audit"][..], &["audit", "--after", "3"], &["audit", "some-id", "--follow"]] {
        let output = execstore(&db, usage)?;
        assert_eq!(output.status.code(), Some(2), "{usage:?} is a usage error");
        assert!(String::from_utf8(output.stderr)?.contains("Usage: execstore audit"), "{usage:?}");
    }
    Ok(())
}
