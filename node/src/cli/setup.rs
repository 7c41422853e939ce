//! `espm init` and `espm id`.

use std::{net::SocketAddr, path::Path};

use serde_json::json;
use storage::Table;
use sync_protocol::{
    enrollment::{HubIdentity, AUTHORITY_BINDING_DOMAIN},
    policy::{Policy, PolicyTable},
    stream::StreamId,
    Item, NodeId,
};

use super::run::Output;
use crate::{
    cli::Init,
    config::{parse_duration_ms, parse_service_hours, HubConfig, NodeConfig},
    error::{NodeError, Result},
    hub::publish::issue,
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
    if let (NodeConfig::Hub(h), Some(authority_key)) = (&node.config, &authority_key) {
        let authority = authority_key.public();
        let identity = HubIdentity {
            kppn: h.kppn.clone(),
            name: h.name.clone(),
            tz: h.tz.clone(),
            node_id: node.node_id(),
            authority,
            service: node.service_key("init hub")?.public(),
            binding_sig: node
                .key
                .sign(AUTHORITY_BINDING_DOMAIN, &authority.0)
                .to_vec(),
        };
        node.store.write(|t| {
            let sealed = issue(
                t,
                authority_key,
                Item::HubIdentity(identity),
                Some(&StreamId::Trust),
            )?;
            t.put(Table::Meta, "hub_identity", &sealed.address);
            // The hub owns the signing policy table and distributes it after its
            // identity, so a device knows the authority key before the table arrives.
            // The one place the defaults of DESIGN.md §3 enter a store.
            let table = PolicyTable {
                issued_at: node.now(),
                policy: Policy::default(),
            };
            crate::hub::publish::issue_policy(t, authority_key, table)?;
            Ok(())
        })?;
        node.store.flush()?;
    }
    let id = node.node_id().to_hex();
    let text = format!(
        "Created a {} node in {}.\nNode id: {id}\n{}",
        node.config.role(),
        dir.display(),
        match &node.config {
            NodeConfig::Hub(_) => "Give this id to every satker and auditor (`--hub-id`). Start it with `espm serve`.\nThe authority key that enrolls devices and issues certificates is sealed under the CSO's passphrase; every registration command asks for it.".to_string(),
            _ => "Ask the KPPN administrator to enroll this id (`espm enroll`), then run `espm sync`.".to_string(),
        }
    );
    Ok(Output::new(json!({ "node_id": id }), text))
}

/// This node's id and role.
pub fn id(node: &Node) -> Output {
    let id = node.node_id().to_hex();
    Output::new(
        json!({ "node_id": id, "role": node.config.role() }),
        format!("{id} ({})", node.config.role()),
    )
}
