//! The espm node runtime: roles (hub, satker, auditor), the QUIC transport that drives
//! the sans-IO reconciliation session, the local control socket, and every command of
//! the `espm` CLI.
//!
//! This is the only crate with async code and sockets. It must never accept an item it
//! has not verified, never acknowledge before the store is flushed, and never panic on
//! anything a peer or a user sends.

#![warn(missing_docs)]

pub mod attachments;
pub mod auditor;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod demo;
pub mod device;
pub mod docs;
pub mod drafts;
pub mod error;
pub mod hub;
pub mod live;
pub mod lockout;
pub mod node;
pub mod policy;
pub mod records;
pub mod satker;
pub mod schema;
pub mod serve;
#[cfg(test)]
pub(crate) mod testkit;
pub mod transport;
pub mod trust;
pub mod verdict;
