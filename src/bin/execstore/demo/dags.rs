//! The DAGs of the simulated engine.

/// A DAG: its name, its script, its modules in an order that respects its edges, and the
/// edges between `input`, the modules and `output`.
pub struct Dag {
    pub name: &'static str,
    pub script: &'static str,
    pub modules: &'static [&'static str],
    pub edges: &'static [(&'static str, &'static str)],
}

pub const DAGS: [Dag; 5] = [
    Dag {
        name: "nightly-etl",
        script: "pipelines/etl.cst",
        modules: &["extract", "validate", "transform", "dedupe", "load"],
        edges: &[
            ("input", "extract"),
            ("extract", "validate"),
            ("validate", "transform"),
            ("validate", "dedupe"),
            ("transform", "load"),
            ("dedupe", "load"),
            ("load", "output"),
        ],
    },
    Dag {
        name: "fraud-score",
        script: "models/fraud.cst",
        modules: &["features", "rules", "score", "threshold"],
        edges: &[
            ("input", "features"),
            ("features", "rules"),
            ("features", "score"),
            ("rules", "threshold"),
            ("score", "threshold"),
            ("threshold", "output"),
        ],
    },
    Dag {
        name: "daily-report",
        script: "reports/daily.cst",
        modules: &["query", "aggregate", "render", "email"],
        edges: &[
            ("input", "query"),
            ("query", "aggregate"),
            ("aggregate", "render"),
            ("render", "email"),
            ("email", "output"),
        ],
    },
    Dag {
        name: "image-resize",
        script: "media/resize.cst",
        modules: &["fetch", "resize", "thumbnail", "upload"],
        edges: &[
            ("input", "fetch"),
            ("fetch", "resize"),
            ("fetch", "thumbnail"),
            ("resize", "upload"),
            ("thumbnail", "upload"),
            ("upload", "output"),
        ],
    },
    Dag {
        name: "sentiment",
        script: "nlp/sentiment.cst",
        modules: &["tokenize", "embed", "classify"],
        edges: &[
            ("input", "tokenize"),
            ("tokenize", "embed"),
            ("embed", "classify"),
            ("classify", "output"),
        ],
    },
];
