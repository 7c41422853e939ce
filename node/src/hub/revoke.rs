//! The registration authority withdraws trust: `espm devices revoke` for a lost or
//! stolen device, `espm certs revoke` for a signer who may no longer sign.

use sync_protocol::{Item, NodeId, Revocation, Revoked, SecretKey, StreamId, Timestamp};

use crate::{
    error::{NodeError, Result},
    hub::limits::REVOKED_REASON,
    hub::publish::issue,
    node::Node,
    trust,
};

/// The trimmed reason, or the refusal of an empty one: every revocation keeps its reason.
pub(super) fn reason_given(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(NodeError::user(
            "give the reason with --reason, e.g. --reason \"laptop stolen on 2026-11-20\"; it is kept with the revocation",
        ));
    }
    Ok(reason)
}

/// Issues the revocation into `stream` (the trust stream, so every node gets it before
/// anything else at its next sync, or one satker's notices when only it needs it), and
/// records it here in the same write.
pub(super) fn publish(
    node: &Node,
    key: &SecretKey,
    target: Revoked,
    reason: &str,
    stream: StreamId,
) -> Result<Revocation> {
    let r = Revocation {
        target,
        at: node.now(),
        reason: reason.to_string(),
    };
    node.store.write(|t| {
        let sealed = issue(t, key, Item::Revocation(r.clone()), Some(&stream))?;
        trust::record(t, &r, sealed.address);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(r)
}

/// A device the hub refuses from `at` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedDevice {
    /// The device.
    pub node_id: NodeId,
    /// From when.
    pub at: Timestamp,
    /// The time zone its times are shown in to people.
    pub zone: String,
}

/// A certificate that signs nothing new from `at` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Its serial.
    pub serial: String,
    /// From when.
    pub at: Timestamp,
    /// The time zone its times are shown in to people.
    pub zone: String,
}

/// Blocks a lost or stolen device and closes its live connections: `espm devices revoke`.
pub fn device(
    node: &Node,
    id: NodeId,
    reason: &str,
    passphrase: Option<&str>,
) -> Result<RevokedDevice> {
    node.require_hub("devices revoke")?;
    let reason = reason_given(reason)?;
    if crate::schema::DEVICES
        .get(&node.store, &id.to_hex())?
        .is_none()
    {
        return Err(NodeError::user(format!(
            "device {id} is not enrolled at this hub, so there is nothing to revoke"
        )));
    }
    if let Some(r) = trust::of_device(&node.store, &id)? {
        return Err(NodeError::user(format!(
            "device {id} was already {}",
            r.describe_in(&node.zone()?)
        )));
    }
    let key = node.authority(passphrase)?;
    let r = publish(node, &key, Revoked::Device(id), reason, StreamId::Trust)?;
    // Published first: a connection that registers from now on finds the revocation.
    node.live.close_device(&id, REVOKED_REASON);
    Ok(RevokedDevice {
        node_id: id,
        at: r.at,
        zone: node.zone()?,
    })
}

/// Withdraws a signer's certificate: `espm certs revoke`.
pub fn certificate(
    node: &Node,
    serial: &str,
    reason: &str,
    passphrase: Option<&str>,
) -> Result<RevokedCertificate> {
    node.require_hub("certs revoke")?;
    let serial = &crate::prefix::resolve(node, crate::schema::CERTS, serial, "certificate")?;
    let reason = reason_given(reason)?;
    if crate::schema::CERTS.get(&node.store, serial)?.is_none() {
        return Err(NodeError::user(format!(
            "no certificate with serial '{serial}' was issued by this hub; serials look like 019-000001"
        )));
    }
    if let Some(r) = trust::of_certificate(&node.store, serial)? {
        return Err(NodeError::user(format!(
            "certificate {serial} was already {}",
            r.describe_in(&node.zone()?)
        )));
    }
    let key = node.authority(passphrase)?;
    let r = publish(
        node,
        &key,
        Revoked::Certificate(serial.to_string()),
        reason,
        StreamId::Trust,
    )?;
    Ok(RevokedCertificate {
        serial: serial.to_string(),
        at: r.at,
        zone: node.zone()?,
    })
}
