//! `espm init` and `espm id`.

use std::path::Path;

use serde_json::json;

use super::{
    render::{output, Render},
    run::Output,
};
use crate::{
    cli::Init,
    config,
    error::Result,
    node::Node,
    setup::{self, Created, Identity},
};

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
        } => config::HubSettings {
            kppn,
            name,
            tz,
            listen,
            service_hours,
            after_hours_quota: *after_hours_quota,
            attachment_expiry,
        }
        .check()?,
        Init::Satker {
            satker,
            hub,
            hub_id,
        } => config::satker(satker, hub, hub_id)?,
        Init::Auditor { hub, hub_id } => config::auditor(hub, hub_id)?,
    };
    Ok(output(&setup::create(dir, config, passphrase)?))
}

/// This node's id and role.
pub fn id(node: &Node) -> Output {
    output(&setup::identity(node))
}

impl Render for Created {
    fn json(&self) -> serde_json::Value {
        json!({ "node_id": self.node_id.to_hex() })
    }

    fn text(&self) -> String {
        format!(
            "Created a {} node in {}.\nNode id: {} (fingerprint {})\n{}",
            self.role,
            self.dir.display(),
            self.node_id.to_hex(),
            self.node_id.fingerprint(),
            if self.role == "hub" {
                "Give this id to every satker and auditor (`--hub-id`). Start it with `espm serve`.\nThe authority key that enrolls devices and issues certificates is sealed under the CSO's passphrase; every registration command asks for it."
            } else {
                "Ask the KPPN administrator to enroll this id (`espm enroll`), then run `espm sync`."
            }
        )
    }

    fn answer(&self) -> String {
        self.node_id.to_hex()
    }
}

impl Render for Identity {
    fn json(&self) -> serde_json::Value {
        json!({ "node_id": self.node_id.to_hex(), "role": self.role })
    }

    /// Bare, so it can be pasted verbatim.
    fn text(&self) -> String {
        self.node_id.to_hex()
    }

    fn detail(&self) -> String {
        format!(
            "{}\nrole: {}\nfingerprint: {}",
            self.node_id.to_hex(),
            self.role,
            self.node_id.fingerprint()
        )
    }
}
