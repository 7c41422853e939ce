//! The espm node runtime: roles (hub, satker, auditor), the QUIC transport that drives
//! the sans-IO reconciliation session, the local control socket, and every command of
//! the `espm` CLI.
//!
//! This is the only crate with async code and sockets. It must never accept an item it
//! has not verified, never acknowledge before the store is flushed, and never panic on
//! anything a peer or a user sends.

#![warn(missing_docs)]

// The rooms, one per role, and the front-ends over them are the crate's public
// modules; the shared parts below them are private, and what a caller may name of them
// is the pub use list at the end.
pub mod auditor;
pub mod backup;
pub mod device;
pub mod hub;
pub mod satker;
pub mod transport;

pub mod bench;
pub mod cli;
pub mod control;
pub mod demo;
pub mod export;
pub mod serve;
pub mod setup;

mod attachments;
mod clock;
mod config;
mod decoded;
mod docs;
mod drafts;
mod error;
mod fields;
mod live;
mod lockout;
mod node;
mod nomor;
mod policy;
mod prefix;
pub mod proof;
mod records;
mod replica;
mod schema;
#[cfg(test)]
mod testkit;
mod trust;
mod verdict;

pub use clock::{Clock, FixedClock, WallClock};
pub use config::NodeConfig;
pub use error::{NodeError, Result};
pub use node::Node;
