//! The execstore command-line tool.
fn main() {}
