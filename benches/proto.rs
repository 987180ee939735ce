//! Placeholder until the wire-core benchmark lands.
fn main() {}
