//! The `rookery` binary's building blocks, as a library so tests drive the
//! same wiring as the binary.

pub mod app;
pub mod bench;
pub mod formation;
pub mod lambda;
pub mod load;
pub mod openapi;
pub mod seed;
pub mod server;
