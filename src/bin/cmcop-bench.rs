//! cmcop-bench: load generator (being written).
fn main() {}
