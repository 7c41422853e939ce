//! What a person types for an identifier (a node id, a request id, a serial): the whole
//! identifier, or a unique prefix of one this node holds. An ambiguous prefix is refused
//! with the matches listed, so the person can type more of the one they mean.

use serde::{de::DeserializeOwned, Serialize};
use storage::Typed;
use sync_protocol::NodeId;

use crate::{
    error::{NodeError, Result},
    node::Node,
};

/// The fewest characters taken as a prefix; shorter text must be a whole identifier, so
/// a stray `0` never picks a device or a certificate.
pub const MIN_PREFIX_CHARS: usize = 4;

/// The most matches an ambiguous prefix's refusal lists.
const MAX_LISTED: usize = 10;

/// The key of `table` that `typed` names: itself when stored (or too short to be a
/// prefix, or matching nothing, so the caller's own "no such" message applies), else
/// the one key it is a prefix of. Refuses a prefix of several keys, naming them.
pub fn resolve<V: Serialize + DeserializeOwned>(
    node: &Node,
    table: Typed<V>,
    typed: &str,
    what: &'static str,
) -> Result<String> {
    if typed.chars().count() < MIN_PREFIX_CHARS || table.get(&node.store, typed)?.is_some() {
        return Ok(typed.to_string());
    }
    let mut matches = Vec::new();
    for entry in table.iter(&node.store, typed) {
        let (key, _) = entry?;
        matches.push(key);
        if matches.len() > MAX_LISTED {
            break;
        }
    }
    match matches.len() {
        0 => Ok(typed.to_string()),
        1 => Ok(matches.remove(0)),
        _ => Err(NodeError::Ambiguous {
            what,
            typed: typed.to_string(),
            more: matches.len() > MAX_LISTED,
            matches: matches.into_iter().take(MAX_LISTED).collect(),
        }),
    }
}

/// The enrolled device that `typed` names, by its whole node id or a unique prefix of
/// one: `devices revoke`.
pub fn device(node: &Node, typed: &str) -> Result<NodeId> {
    let typed = typed.trim();
    let full = resolve(node, crate::schema::DEVICES, typed, "enrolled device")?;
    full.parse().map_err(|_| {
        NodeError::user(format!(
            "'{typed}' is not a node id; copy it exactly as `espm id` printed it on the device"
        ))
    })
}

#[cfg(test)]
mod tests;
