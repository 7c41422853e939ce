//! The KPPN hub's room: admitting devices, taking in what they send, delivering
//! receipts, the registration authority, and processing documents.

pub mod admit;
pub mod authority;
pub mod checkpoint;
pub mod delivery;
pub mod ingest;
pub mod limits;
pub mod monitor;
pub mod operators;
pub mod processing;
pub mod publish;
pub mod registry;
pub mod replica;
pub mod revoke;
