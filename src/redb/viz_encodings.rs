//! Encoded visualizations by content, so writing a run does not encode again the
//! visualization every run of its script shares (and every update of a run carries on).
//!
//! A write looks its visualization up by a fingerprint of its names and counts, and reuses
//! a kept encoding only when the kept value is identical to it: equal, and with the same
//! bits in every float (`==` takes `0.0` for `-0.0`, which encode differently), so a reused
//! encoding is byte for byte the one encoding would give.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use super::viz_blobs::{self, VizHash};
use crate::error::Result;
use crate::model::Json;
use crate::viz::{Bounds, DagVizIr, Position};

/// Distinct visualizations kept encoded: one per script or DAG shape in use.
pub(crate) const VIZ_ENCODINGS_KEPT: usize = 256;

/// Larger encodings are not kept, which bounds the memory the cache holds to
/// [`VIZ_ENCODINGS_KEPT`] times this (plus the decoded copies).
const KEEP_UP_TO_BYTES: usize = 16 << 10;

/// A visualization with its encoding and the hash naming its blob.
#[derive(Debug)]
struct Encoded {
    viz: DagVizIr,
    bytes: Vec<u8>,
    hash: VizHash,
}

/// An LRU map from fingerprint to the encodings kept under it; capacity 0 keeps nothing.
#[derive(Debug)]
pub(crate) struct VizEncodings {
    kept: Option<Mutex<LruCache<u64, Vec<Arc<Encoded>>>>>,
}

impl VizEncodings {
    pub(crate) fn new(capacity: usize) -> Self {
        VizEncodings { kept: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))) }
    }

    /// The blob hash and bytes of `viz`, encoded by `encode` only when no identical
    /// visualization is kept.
    pub(crate) fn encoded(
        &self,
        viz: &DagVizIr,
        encode: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<(VizHash, Vec<u8>)> {
        let print = self.kept.is_some().then(|| fingerprint(viz));
        if let Some(found) = print.and_then(|print| self.find(print, viz)) {
            return Ok((found.hash, found.bytes.clone()));
        }
        let bytes = encode()?;
        let hash = viz_blobs::hash(&bytes);
        if let Some(print) = print.filter(|_| bytes.len() <= KEEP_UP_TO_BYTES) {
            self.keep(print, Encoded { viz: viz.clone(), bytes: bytes.clone(), hash });
        }
        Ok((hash, bytes))
    }

    fn find(&self, print: u64, viz: &DagVizIr) -> Option<Arc<Encoded>> {
        let candidates = self.lock()?.get(&print).cloned()?;
        candidates.into_iter().find(|kept| identical(&kept.viz, viz))
    }

    /// Keeps `encoded` beside the other shapes under its fingerprint (distinct shapes that
    /// share one are rare; a few are kept, the newest first).
    fn keep(&self, print: u64, encoded: Encoded) {
        const PER_FINGERPRINT: usize = 4;
        if let Some(mut kept) = self.lock() {
            let shapes = kept.get_or_insert_mut(print, Vec::new);
            shapes.insert(0, Arc::new(encoded));
            shapes.truncate(PER_FINGERPRINT);
        }
    }

    /// Poisoning only means another thread panicked while holding the lock; the map itself
    /// is always whole.
    fn lock(&self) -> Option<MutexGuard<'_, LruCache<u64, Vec<Arc<Encoded>>>>> {
        self.kept.as_ref().map(|m| m.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// A hash of what tells shapes apart cheaply: the title, the counts, and the nodes' ids
/// and labels (DAGs generated from one template often differ only in those).
fn fingerprint(viz: &DagVizIr) -> u64 {
    let mut hasher = DefaultHasher::new();
    viz.metadata.title.hash(&mut hasher);
    (viz.nodes.len(), viz.edges.len(), viz.groups.len()).hash(&mut hasher);
    for node in &viz.nodes {
        (&node.id, &node.label).hash(&mut hasher);
    }
    hasher.finish()
}

/// Whether `a` and `b` encode to the same bytes: equal, with the same bits in every float.
fn identical(a: &DagVizIr, b: &DagVizIr) -> bool {
    a == b
        && a.metadata.bounds.map(bounds_bits) == b.metadata.bounds.map(bounds_bits)
        && a.nodes.iter().zip(&b.nodes).all(|(x, y)| {
            x.position.map(position_bits) == y.position.map(position_bits)
                && match (&x.execution_state, &y.execution_state) {
                    (Some(x), Some(y)) => match (&x.value, &y.value) {
                        (Some(x), Some(y)) => json_identical(x, y),
                        _ => true,
                    },
                    _ => true,
                }
        })
}

fn position_bits(p: Position) -> [u64; 2] {
    [p.x.to_bits(), p.y.to_bits()]
}

fn bounds_bits(b: Bounds) -> [u64; 4] {
    [b.min_x.to_bits(), b.min_y.to_bits(), b.max_x.to_bits(), b.max_y.to_bits()]
}

/// For two equal JSON values: whether their floats have the same bits and their objects
/// the same key order (maps that preserve insertion order compare equal in any order).
fn json_identical(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        (Json::Array(x), Json::Array(y)) => x.iter().zip(y).all(|(x, y)| json_identical(x, y)),
        (Json::Object(x), Json::Object(y)) => {
            x.iter().zip(y).all(|((kx, x), (ky, y))| kx == ky && json_identical(x, y))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use serde_json::json;

    use super::*;
    use crate::error::Error;
    use crate::redb::codec::encode;
    use crate::viz::{ExecutionState, NodeKind, VizNode, VizStatus};

    fn shape(title: &str, x: f64, value: Json) -> DagVizIr {
        let mut viz = DagVizIr::default();
        viz.metadata.title = Some(title.to_owned());
        viz.nodes.push(VizNode {
            id: "n1".to_owned(),
            kind: NodeKind::Operation,
            label: "score".to_owned(),
            type_signature: "Float".to_owned(),
            position: Some(Position { x, y: 1.5 }),
            execution_state: Some(ExecutionState {
                status: VizStatus::Completed,
                value: Some(value),
                duration_ms: Some(7),
                error: None,
            }),
        });
        viz
    }

    /// Encodes `viz` through `cache`, counting encodes in `encodes`; checks the result
    /// against encoding it afresh.
    fn encoded(cache: &VizEncodings, viz: &DagVizIr, encodes: &Cell<u32>) -> Result<Vec<u8>> {
        let (hash, bytes) = cache.encoded(viz, || {
            encodes.set(encodes.get() + 1);
            encode("viz", viz)
        })?;
        assert_eq!(bytes, encode("viz", viz)?, "a reused encoding differs from a fresh one");
        assert_eq!(hash, viz_blobs::hash(&bytes));
        Ok(bytes)
    }

    #[test]
    fn an_identical_shape_is_encoded_once() -> Result<()> {
        let (cache, encodes) = (VizEncodings::new(8), Cell::new(0));
        let a = shape("a", 1.0, json!({"p": 0.25}));
        encoded(&cache, &a, &encodes)?;
        encoded(&cache, &a.clone(), &encodes)?;
        assert_eq!(encodes.get(), 1);
        encoded(&cache, &shape("b", 1.0, json!({"p": 0.25})), &encodes)?;
        encoded(&cache, &shape("a", 2.0, json!({"p": 0.25})), &encodes)?;
        assert_eq!(encodes.get(), 3);
        Ok(())
    }

    #[test]
    fn shapes_equal_but_not_identical_are_encoded_each_as_it_is() -> Result<()> {
        let (cache, encodes) = (VizEncodings::new(8), Cell::new(0));
        let plus = shape("a", 0.0, json!({"p": 0.0, "q": [1.5]}));
        let minus_position = shape("a", -0.0, json!({"p": 0.0, "q": [1.5]}));
        let minus_value = shape("a", 0.0, json!({"p": -0.0, "q": [1.5]}));
        assert!(plus == minus_position && plus == minus_value, "the case == cannot tell apart");
        let distinct = [&plus, &minus_position, &minus_value]
            .map(|viz| encoded(&cache, viz, &encodes))
            .into_iter()
            .collect::<Result<std::collections::BTreeSet<_>>>()?;
        assert_eq!((encodes.get(), distinct.len()), (3, 3));
        Ok(())
    }

    #[test]
    fn capacity_zero_keeps_nothing_and_a_failed_encode_keeps_nothing() -> Result<()> {
        let (none, encodes) = (VizEncodings::new(0), Cell::new(0));
        let a = shape("a", 1.0, json!(1));
        encoded(&none, &a, &encodes)?;
        encoded(&none, &a, &encodes)?;
        assert_eq!(encodes.get(), 2);

        let cache = VizEncodings::new(8);
        let failing = || Err(Error::Encode { what: "viz".into(), reason: "refused".into() });
        assert!(cache.encoded(&a, failing).is_err());
        let encodes = Cell::new(0);
        encoded(&cache, &a, &encodes)?;
        assert_eq!(encodes.get(), 1);
        Ok(())
    }

    #[test]
    fn many_shapes_under_one_fingerprint_are_each_found() -> Result<()> {
        let (cache, encodes) = (VizEncodings::new(8), Cell::new(0));
        // Same title, ids and labels: one fingerprint; they differ in a node's position.
        let shapes: Vec<_> = (0..3).map(|k| shape("a", f64::from(k), json!(null))).collect();
        for viz in shapes.iter().chain(&shapes) {
            encoded(&cache, viz, &encodes)?;
        }
        assert_eq!(encodes.get(), 3);
        Ok(())
    }
}
