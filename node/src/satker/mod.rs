//! A satker device's room: drafts, signing, submission, operators and signers.

pub mod compose;
pub mod documents;
pub mod listen;
pub mod operators;
pub mod share;
pub mod signers;
pub mod signing;
pub mod submit;
pub mod upload;
pub mod withdraw;
