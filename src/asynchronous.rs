//! `AsyncStorage`: the tokio facade.
