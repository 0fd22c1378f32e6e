//! The `stamp` binary: parse, run, exit code.
fn main() {}
