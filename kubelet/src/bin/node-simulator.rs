//! `node-simulator`: N simulated nodes driven through the real API.

fn main() {}
