//! The registration authority on the hub: enrolling devices, issuing certificates.
//! Every act here needs the authority key, unsealed with the CSO's passphrase.

use sync_protocol::{
    CertRequest, Certificate, DeviceEnrollment, DeviceRole, FieldSchemaTable, FieldSchemas,
    HubIdentity, Item, Jabatan, NodeId, Policy, PolicyTable, SecretKey, SignedItem, StreamId,
    Subject, Timestamp, AUTHORITY_BINDING_DOMAIN,
};

use crate::{
    config::NodeConfig,
    error::{NodeError, Result},
    hub::publish::issue,
    node::Node,
    records::{CertRecord, DeviceRecord, RequestRecord},
    trust,
};

/// Certificates are valid for two years from issue.
const CERT_VALIDITY_MS: i64 = 2 * 365 * 24 * 3600 * 1000;

/// A device the hub admits from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// Its node id.
    pub node_id: NodeId,
    /// Its role and scope.
    pub role: DeviceRole,
}

/// A certificate request waiting for the CSO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCert {
    /// The requester's name.
    pub name: String,
    /// NIP/NRP.
    pub nip: String,
    /// Official e-mail.
    pub email: String,
    /// The role asked for.
    pub jabatan: Jabatan,
    /// The satker.
    pub satker: String,
}

/// The pending certificate requests, by request id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertRequests(pub Vec<(String, PendingCert)>);

/// A certificate just issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Its serial.
    pub serial: String,
    /// Who it certifies.
    pub subject: Subject,
    /// For which satker.
    pub satker: String,
}

/// Enrolls the device `id` as `role`: `espm enroll`. Enrolling it again with the same
/// role changes nothing; a revoked device stays refused.
pub fn enroll(
    node: &Node,
    id: NodeId,
    role: DeviceRole,
    passphrase: Option<&str>,
) -> Result<Enrolled> {
    enroll_with(node, id, role, || node.authority(passphrase))
}

/// [`enroll`] with the authority key from `authority`, called only when a new
/// enrollment is signed: lets one unsealing serve many enrollments (the benchmark's).
pub fn enroll_with(
    node: &Node,
    id: NodeId,
    role: DeviceRole,
    authority: impl FnOnce() -> Result<SecretKey>,
) -> Result<Enrolled> {
    node.require_hub("enroll")?;
    if id == node.node_id() {
        return Err(NodeError::user(
            "that is the hub's own id; enroll the satker or auditor device's id",
        ));
    }
    if let Some(r) = trust::of_device(&node.store, &id)? {
        return Err(NodeError::user(format!(
            "device {id} was {}; a revoked device stays blocked. Make a new node on the device (`espm init`) and enroll its new id",
            r.describe_in(&node.zone()?)
        )));
    }
    let existing: Option<DeviceRecord> = crate::schema::DEVICES.get(&node.store, &id.to_hex())?;
    match existing {
        Some(d) if d.role == role => {}
        Some(_) => {
            return Err(NodeError::user(
                "this device is already enrolled with another role or scope",
            ));
        }
        None => {
            let key = authority()?;
            let now = node.now();
            node.store.write(|t| {
                let e = DeviceEnrollment {
                    node_id: id,
                    role: role.clone(),
                    enrolled_at: now,
                };
                let sealed = issue(t, &key, Item::Enrollment(e), Some(&StreamId::Trust))?;
                crate::schema::DEVICES.put(
                    t,
                    &id.to_hex(),
                    &DeviceRecord {
                        address: sealed.address,
                        role: role.clone(),
                        last_seen: None,
                    },
                );
                Ok(())
            })?;
            node.store.flush()?;
        }
    }
    Ok(Enrolled { node_id: id, role })
}

/// The request a request record names, read from the store.
fn request_item(node: &Node, rec: &RequestRecord) -> Result<Option<CertRequest>> {
    let Some(bytes) = node.store.item(&rec.address)? else {
        return Ok(None);
    };
    Ok(match SignedItem::open(&bytes)?.item {
        Item::CertRequest(r) => Some(r),
        _ => None,
    })
}

/// The certificate requests the CSO has not approved: `espm certs requests`.
pub fn requests(node: &Node) -> Result<CertRequests> {
    node.require_hub("certs requests")?;
    let mut pending = Vec::new();
    for (id, rec) in crate::schema::REQUESTS.list(&node.store, "")? {
        if rec.serial.is_some() {
            continue;
        }
        let (nip, email) = match request_item(node, &rec)? {
            Some(r) => (r.subject.nip, r.subject.email),
            None => Default::default(),
        };
        pending.push((
            id,
            PendingCert {
                name: rec.name,
                nip,
                email,
                jabatan: rec.jabatan,
                satker: rec.satker,
            },
        ));
    }
    Ok(CertRequests(pending))
}

/// Issues the certificate a request asked for: `espm certs approve`.
pub fn approve(node: &Node, request_id: &str, passphrase: Option<&str>) -> Result<Issued> {
    approve_with(node, request_id, || node.authority(passphrase))
}

/// [`approve`] with the authority key from `authority`, called once the request is
/// found approvable: lets one unsealing serve many approvals (the benchmark's).
pub fn approve_with(
    node: &Node,
    request_id: &str,
    authority: impl FnOnce() -> Result<SecretKey>,
) -> Result<Issued> {
    node.require_hub("certs approve")?;
    let request_id = &crate::prefix::resolve(
        node,
        crate::schema::REQUESTS,
        request_id,
        "certificate request",
    )?;
    let NodeConfig::Hub(hub) = &node.config else {
        unreachable!("require_hub checked the role")
    };
    let mut rec: RequestRecord = crate::schema::REQUESTS
        .get(&node.store, request_id)?
        .ok_or_else(|| {
            NodeError::user(format!(
            "no certificate request '{request_id}'; `espm certs requests` lists the pending ones"
        ))
        })?;
    if let Some(serial) = &rec.serial {
        return Err(NodeError::user(format!(
            "request {request_id} was already approved as certificate {serial}"
        )));
    }
    let req = request_item(node, &rec)?.ok_or_else(|| {
        NodeError::user(format!(
            "{request_id} is not a certificate request the hub holds"
        ))
    })?;
    let key = authority()?;
    let now = node.now();
    let serial = node.store.write(|t| {
        let n = t.next_counter("cert-serial")?;
        let serial = format!("{}-{n:06}", hub.kppn);
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
        crate::schema::CERTS.put(
            t,
            &serial,
            &CertRecord {
                address: sealed.address,
                request_id: request_id.to_string(),
            },
        );
        rec.serial = Some(serial.clone());
        crate::schema::REQUESTS.put(t, request_id, &rec);
        Ok(serial)
    })?;
    node.store.flush()?;
    Ok(Issued {
        serial,
        subject: req.subject,
        satker: req.satker,
    })
}

/// Makes a new hub's first statements with its authority key: its identity (binding its
/// node key, authority key and service key) and the signing policy table, in the trust
/// stream, where every device reads them first.
pub fn found(node: &Node, authority_key: &SecretKey) -> Result<()> {
    let NodeConfig::Hub(h) = &node.config else {
        return Err(NodeError::user("only a hub has an authority key"));
    };
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
        crate::schema::HUB_IDENTITY.put(t, &sealed.address);
        // The hub owns the signing policy table and distributes it after its
        // identity, so a device knows the authority key before the table arrives.
        // The one place the defaults of DESIGN.md §3 enter a store.
        let table = PolicyTable {
            issued_at: node.now(),
            policy: Policy::default(),
        };
        crate::hub::publish::issue_policy(t, authority_key, table)?;
        // Likewise the document fields; the one place their defaults enter a store.
        let fields = FieldSchemaTable {
            issued_at: node.now(),
            schemas: FieldSchemas::default(),
        };
        crate::hub::publish::issue_field_schemas(t, authority_key, fields)?;
        Ok(())
    })?;
    node.store.flush()?;
    Ok(())
}
