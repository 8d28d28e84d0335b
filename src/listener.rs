//! The listener SPI: `ExecutionListener`, `NoopListener`, `CompositeListener`.
