//! What an auditor does offline, and any node can: verify everything it holds.

pub mod verify;
