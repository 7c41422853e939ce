//! Making a node: `espm init` creates a node of a role in a data directory, and a new
//! hub founds its identity and policy table. Above the rooms, since a hub's founding
//! belongs to the hub while the data directory belongs to every role.

use std::path::{Path, PathBuf};

use sync_protocol::NodeId;

use crate::{config::NodeConfig, error::Result, node::Node};

/// A node just created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Its id.
    pub node_id: NodeId,
    /// `hub`, `satker` or `auditor`.
    pub role: &'static str,
    /// Its data directory.
    pub dir: PathBuf,
}

/// This node's id and role: `espm id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its id.
    pub node_id: NodeId,
    /// `hub`, `satker` or `auditor`.
    pub role: &'static str,
}

/// Creates a node with `config` in `dir`; a hub's authority key is sealed under the
/// CSO's `passphrase`, and the hub issues its identity and policy table at once.
pub fn create(dir: &Path, config: NodeConfig, passphrase: Option<&str>) -> Result<Created> {
    let (node, authority_key) = Node::create(dir, config, passphrase)?;
    if let Some(authority_key) = &authority_key {
        crate::hub::authority::found(&node, authority_key)?;
    }
    Ok(Created {
        node_id: node.node_id(),
        role: node.config.role(),
        dir: dir.to_path_buf(),
    })
}

/// This node's id and role.
pub fn identity(node: &Node) -> Identity {
    Identity {
        node_id: node.node_id(),
        role: node.config.role(),
    }
}
