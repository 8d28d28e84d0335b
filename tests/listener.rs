//! The listener SPI: the no-op listener and the composite's fan-out and panic isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use execstore::{CompositeListener, ExecutionListener, NoopListener};
use uuid::Uuid;

/// Records every callback as a line.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
}

impl Recorder {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl ExecutionListener for Recorder {
    fn on_execution_start(&self, _: Uuid, dag: &str) {
        self.push(format!("start {dag}"));
    }
    fn on_module_start(&self, _: Uuid, _: Uuid, name: &str) {
        self.push(format!("module start {name}"));
    }
    fn on_module_complete(&self, _: Uuid, _: Uuid, name: &str, ms: u64) {
        self.push(format!("module complete {name} {ms}"));
    }
    fn on_module_failed(
        &self,
        _: Uuid,
        _: Uuid,
        name: &str,
        e: &(dyn std::error::Error + 'static),
    ) {
        self.push(format!("module failed {name} {e}"));
    }
    fn on_execution_complete(&self, _: Uuid, dag: &str, ok: bool, ms: u64) {
        self.push(format!("complete {dag} {ok} {ms}"));
    }
    fn on_execution_cancelled(&self, _: Uuid, dag: &str) {
        self.push(format!("cancelled {dag}"));
    }
}

/// Panics on every callback.
struct Panicker;

impl ExecutionListener for Panicker {
    fn on_execution_start(&self, _: Uuid, _: &str) {
        panic!("listener bug");
    }
    fn on_module_start(&self, _: Uuid, _: Uuid, _: &str) {
        panic!("listener bug");
    }
    fn on_module_complete(&self, _: Uuid, _: Uuid, _: &str, _: u64) {
        panic!("listener bug");
    }
    fn on_module_failed(&self, _: Uuid, _: Uuid, _: &str, _: &(dyn std::error::Error + 'static)) {
        panic!("listener bug");
    }
    fn on_execution_complete(&self, _: Uuid, _: &str, _: bool, _: u64) {
        panic!("listener bug");
    }
    fn on_execution_cancelled(&self, _: Uuid, _: &str) {
        panic!("listener bug");
    }
}

/// Implements only the five required callbacks.
struct Minimal;

impl ExecutionListener for Minimal {
    fn on_execution_start(&self, _: Uuid, _: &str) {}
    fn on_module_start(&self, _: Uuid, _: Uuid, _: &str) {}
    fn on_module_complete(&self, _: Uuid, _: Uuid, _: &str, _: u64) {}
    fn on_module_failed(&self, _: Uuid, _: Uuid, _: &str, _: &(dyn std::error::Error + 'static)) {}
    fn on_execution_complete(&self, _: Uuid, _: &str, _: bool, _: u64) {}
}

fn every_callback(listener: &dyn ExecutionListener) {
    let (run, module) = (Uuid::new_v4(), Uuid::new_v4());
    let error = std::io::Error::other("disk full");
    listener.on_execution_start(run, "etl");
    listener.on_module_start(run, module, "load");
    listener.on_module_complete(run, module, "load", 12);
    listener.on_module_failed(run, module, "save", &error);
    listener.on_execution_complete(run, "etl", false, 40);
    listener.on_execution_cancelled(run, "etl");
}

const EXPECTED: [&str; 6] = [
    "start etl",
    "module start load",
    "module complete load 12",
    "module failed save disk full",
    "complete etl false 40",
    "cancelled etl",
];

#[test]
fn composite_calls_every_member_in_order() {
    let (first, second) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let composite = CompositeListener::new(vec![first.clone(), second.clone()]);
    every_callback(&composite);
    assert_eq!(first.lines(), EXPECTED);
    assert_eq!(second.lines(), EXPECTED);
    assert_eq!(composite.panics(), 0);
}

#[test]
fn a_panicking_member_stops_neither_the_others_nor_the_caller() {
    let (before, after) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
    let composite = CompositeListener::new(vec![before.clone(), Arc::new(Panicker), after.clone()]);
    every_callback(&composite);
    every_callback(&composite);
    let twice: Vec<&str> = EXPECTED.iter().chain(EXPECTED.iter()).copied().collect();
    assert_eq!(before.lines(), twice);
    assert_eq!(after.lines(), twice);
    assert_eq!(composite.panics(), 12);
}

#[test]
fn cancellation_defaults_to_nothing_and_noop_ignores_everything() {
    let recorder = Arc::new(Recorder::default());
    let composite =
        CompositeListener::new(vec![Arc::new(Minimal), Arc::new(NoopListener), recorder.clone()]);
    every_callback(&composite);
    every_callback(&NoopListener);
    every_callback(&Minimal);
    assert_eq!(recorder.lines(), EXPECTED);
    assert_eq!(composite.panics(), 0);
}

#[test]
fn listeners_are_shareable_across_threads() {
    let recorder = Arc::new(Recorder::default());
    let composite: Arc<dyn ExecutionListener> =
        Arc::new(CompositeListener::new(vec![recorder.clone()]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let listener = Arc::clone(&composite);
            std::thread::spawn(move || every_callback(listener.as_ref()))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(recorder.lines().len(), 24);
}
