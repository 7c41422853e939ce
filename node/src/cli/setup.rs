//! `espm init` and `espm id`.

use std::{net::SocketAddr, path::Path};

use serde_json::json;
use sync_protocol::NodeId;

use super::{
    render::{output, Render},
    run::Output,
};
use crate::{
    cli::Init,
    config::{parse_duration_ms, parse_service_hours, HubConfig, NodeConfig},
    error::{NodeError, Result},
    node::Node,
};

fn parse_hub_id(text: &str) -> Result<NodeId> {
    text.parse().map_err(|_| {
        NodeError::user(format!(
            "'{text}' is not a hub id; copy it exactly as `espm id` prints it on the hub"
        ))
    })
}

fn check_addr(text: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    match text.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => Ok(()),
        _ => Err(NodeError::user(format!(
            "'{text}' is not a host:port address"
        ))),
    }
}

/// Creates a node of the requested role in `dir`; a hub's authority key is sealed
/// under the CSO's `passphrase`.
pub fn init(dir: &Path, init: &Init, passphrase: Option<&str>) -> Result<Output> {
    let config = match init {
        Init::Hub {
            kppn,
            name,
            tz,
            listen,
            service_hours,
            after_hours_quota,
            attachment_expiry,
        } => {
            jiff::tz::TimeZone::get(tz).map_err(|_| {
                NodeError::user(format!(
                    "'{tz}' is not a time zone; use Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT)"
                ))
            })?;
            listen.parse::<SocketAddr>().map_err(|_| {
                NodeError::user(format!(
                    "--listen '{listen}' must be an IP:port such as 0.0.0.0:4433"
                ))
            })?;
            let (open_minute, close_minute) =
                parse_service_hours(service_hours).map_err(NodeError::User)?;
            if kppn.trim().is_empty() {
                return Err(NodeError::user("--kppn must not be empty"));
            }
            NodeConfig::Hub(HubConfig {
                kppn: kppn.clone(),
                name: name.clone(),
                tz: tz.clone(),
                listen: listen.clone(),
                open_minute,
                close_minute,
                after_hours_quota: *after_hours_quota,
                attachment_expiry_ms: parse_duration_ms(attachment_expiry)
                    .map_err(|e| NodeError::user(format!("--attachment-expiry: {e}")))?,
            })
        }
        Init::Satker {
            satker,
            hub,
            hub_id,
        } => {
            crate::config::check_satker_code(satker)?;
            check_addr(hub)?;
            NodeConfig::Satker {
                satker: satker.clone(),
                hub: hub.clone(),
                hub_id: parse_hub_id(hub_id)?,
            }
        }
        Init::Auditor { hub, hub_id } => {
            check_addr(hub)?;
            NodeConfig::Auditor {
                hub: hub.clone(),
                hub_id: parse_hub_id(hub_id)?,
            }
        }
    };
    let (node, authority_key) = Node::create(dir, config, passphrase)?;
    if let Some(authority_key) = &authority_key {
        crate::hub::authority::found(&node, authority_key)?;
    }
    Ok(output(&Created {
        node_id: node.node_id(),
        role: node.config.role(),
        dir: dir.to_path_buf(),
    }))
}

/// A node just created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Its id.
    pub node_id: NodeId,
    /// `hub`, `satker` or `auditor`.
    pub role: &'static str,
    /// Its data directory.
    pub dir: std::path::PathBuf,
}

/// This node's id and role: `espm id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its id.
    pub node_id: NodeId,
    /// `hub`, `satker` or `auditor`.
    pub role: &'static str,
}

/// This node's id and role.
pub fn id(node: &Node) -> Output {
    output(&Identity {
        node_id: node.node_id(),
        role: node.config.role(),
    })
}

impl Render for Created {
    fn json(&self) -> serde_json::Value {
        json!({ "node_id": self.node_id.to_hex() })
    }

    fn text(&self) -> String {
        format!(
            "Created a {} node in {}.\nNode id: {}\n{}",
            self.role,
            self.dir.display(),
            self.node_id.to_hex(),
            if self.role == "hub" {
                "Give this id to every satker and auditor (`--hub-id`). Start it with `espm serve`.\nThe authority key that enrolls devices and issues certificates is sealed under the CSO's passphrase; every registration command asks for it."
            } else {
                "Ask the KPPN administrator to enroll this id (`espm enroll`), then run `espm sync`."
            }
        )
    }
}

impl Render for Identity {
    fn json(&self) -> serde_json::Value {
        json!({ "node_id": self.node_id.to_hex(), "role": self.role })
    }

    fn text(&self) -> String {
        format!("{} ({})", self.node_id.to_hex(), self.role)
    }
}
