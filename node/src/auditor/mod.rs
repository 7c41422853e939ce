//! What an auditor does offline, and any node can: verify everything it holds.

pub mod direct;
pub mod verify;
