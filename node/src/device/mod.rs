//! A node that dials the hub (a satker's device or an auditor): its side of the sync,
//! what it takes from the hub, and the notices it applies.

pub mod info;
pub mod notice;
pub mod receive;
pub mod replica;
pub mod sync;
