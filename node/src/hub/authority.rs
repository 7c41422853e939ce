//! The registration authority on the hub: enrolling devices, issuing certificates.

use serde_json::json;
use storage::Table;
use sync_protocol::{
    certificate::Certificate,
    enrollment::{DeviceEnrollment, DeviceRole},
    stream::StreamId,
    Item, NodeId, SignedItem, Timestamp,
};

use crate::cli::run::Output;
use crate::{
    cli::EnrollArgs,
    config::NodeConfig,
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::{CertRecord, DeviceRecord, RequestRecord},
    trust,
};

/// Certificates are valid for two years from issue.
const CERT_VALIDITY_MS: i64 = 2 * 365 * 24 * 3600 * 1000;

/// `espm enroll`
pub fn enroll(node: &Node, a: EnrollArgs, passphrase: Option<&str>) -> Result<Output> {
    node.require_hub("enroll")?;
    let id: NodeId = a.node_id.parse().map_err(|_| {
        NodeError::user(format!(
            "'{}' is not a node id; copy it exactly as `espm id` prints it on the device",
            a.node_id
        ))
    })?;
    let role = match (a.satker, a.auditor) {
        (Some(s), false) => {
            if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(NodeError::user(format!(
                    "satker code '{s}' must be letters and digits"
                )));
            }
            DeviceRole::Satker { satker: s }
        }
        (None, true) if !a.scope.is_empty() => DeviceRole::Auditor { scope: a.scope },
        _ => {
            return Err(NodeError::user(
                "give either --satker CODE or --auditor --scope CODE[,CODE…]",
            ))
        }
    };
    if id == node.node_id() {
        return Err(NodeError::user(
            "that is the hub's own id; enroll the satker or auditor device's id",
        ));
    }
    if let Some(r) = trust::of_device(&node.store, &id)? {
        return Err(NodeError::user(format!(
            "device {id} was {}; a revoked device stays blocked. Make a new node on the device (`espm init`) and enroll its new id",
            r.describe()
        )));
    }
    let existing: Option<DeviceRecord> = node.store.get(Table::Device, &id.to_hex())?;
    match existing {
        Some(d) if d.role == role => {}
        Some(_) => {
            return Err(NodeError::user(
                "this device is already enrolled with another role or scope",
            ));
        }
        None => {
            let key = node.authority(passphrase)?;
            node.store.write(|t| {
                let e = DeviceEnrollment {
                    node_id: id,
                    role: role.clone(),
                    enrolled_at: node.now(),
                };
                let sealed = issue(t, &key, Item::Enrollment(e), Some(&StreamId::Trust))?;
                t.put(
                    Table::Device,
                    &id.to_hex(),
                    &DeviceRecord {
                        address: sealed.address,
                        role: role.clone(),
                    },
                );
                Ok(())
            })?;
            node.store.flush()?;
        }
    }
    let hex = id.to_hex();
    Ok(match role {
        DeviceRole::Satker { satker } => Output::new(
            json!({ "node_id": hex, "satker": satker }),
            format!("Enrolled device {hex} for satker {satker}."),
        ),
        DeviceRole::Auditor { scope } => Output::new(
            json!({ "node_id": hex, "scope": scope }),
            format!(
                "Enrolled auditor device {hex}, read-only, for satker {}.",
                scope.join(", ")
            ),
        ),
    })
}

/// `espm certs requests`
pub fn requests(node: &Node) -> Result<Output> {
    node.require_hub("certs requests")?;
    let pending: Vec<(String, RequestRecord)> = node
        .store
        .list::<RequestRecord>(Table::Request, "")?
        .into_iter()
        .filter(|(_, r)| r.serial.is_none())
        .collect();
    let json: Vec<_> = pending
        .iter()
        .map(|(id, r)| json!({ "request_id": id, "name": r.name, "jabatan": r.jabatan.as_str(), "satker": r.satker }))
        .collect();
    let mut text = String::new();
    if pending.is_empty() {
        text.push_str("No pending certificate requests.");
    } else {
        text.push_str(&format!(
            "{:<18} {:<28} {:<14} {}\n",
            "REQUEST", "NAME", "JABATAN", "SATKER"
        ));
        for (id, r) in &pending {
            text.push_str(&format!(
                "{:<18} {:<28} {:<14} {}\n",
                id,
                r.name,
                r.jabatan.title(),
                r.satker
            ));
        }
    }
    Ok(Output::new(json.into(), text.trim_end()))
}

/// `espm certs approve`
pub fn approve(node: &Node, request_id: &str, passphrase: Option<&str>) -> Result<Output> {
    node.require_hub("certs approve")?;
    let NodeConfig::Hub(hub) = &node.config else {
        unreachable!("require_hub checked the role")
    };
    let mut rec: RequestRecord = node.store.get(Table::Request, request_id)?.ok_or_else(|| {
        NodeError::user(format!(
            "no certificate request '{request_id}'; `espm certs requests` lists the pending ones"
        ))
    })?;
    if let Some(serial) = &rec.serial {
        return Err(NodeError::user(format!(
            "request {request_id} was already approved as certificate {serial}"
        )));
    }
    let bytes = node
        .store
        .item(&rec.address)?
        .ok_or_else(|| NodeError::user("the request's item is missing from the store"))?;
    let Item::CertRequest(req) = SignedItem::open(&bytes)?.item else {
        return Err(NodeError::user(format!(
            "{request_id} is not a certificate request"
        )));
    };
    let key = node.authority(passphrase)?;
    let serial = node.store.write(|t| {
        let n = t.next_counter("cert-serial")?;
        let serial = format!("{}-{n:06}", hub.kppn);
        let now = node.now();
        let cert = Certificate {
            serial: serial.clone(),
            subject: req.subject.clone(),
            satker: req.satker.clone(),
            kppn: hub.kppn.clone(),
            key: req.key,
            request: rec.address,
            valid_from: now,
            valid_until: Timestamp(now.0 + CERT_VALIDITY_MS),
        };
        let sealed = issue(
            t,
            &key,
            Item::Certificate(cert),
            Some(&StreamId::Notices(req.satker.clone())),
        )?;
        t.put(
            Table::Cert,
            &serial,
            &CertRecord {
                address: sealed.address,
                request_id: request_id.to_string(),
            },
        );
        rec.serial = Some(serial.clone());
        t.put(Table::Request, request_id, &rec);
        Ok(serial)
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "serial": serial }),
        format!(
            "Issued certificate {serial} to {} ({}) of satker {}. It reaches the satker at its next sync.",
            req.subject.name,
            req.subject.jabatan.title(),
            req.satker
        ),
    ))
}
