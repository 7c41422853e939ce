//! The trust a node holds: the certificates it knows, and revocations as each node keeps
//! them (the hub records what its CSO revoked, every other node what it learned from the
//! hub, in the trust stream or, for its operators, its notices stream). A revocation
//! speaks from its own time on: what the hub received before it stays valid.

use storage::{Store, StoreError, Txn};
use sync_protocol::{
    Address, CertRevocation, Certificate, Credential, Item, NodeId, Revocation, Revoked,
    SignedItem, Timestamp,
};

use crate::{
    node::Node,
    schema::{CERTS, REVOCATIONS},
};

pub use crate::records::RevocationRecord;

/// The id of a certificate request this node holds, not yet answered by a certificate,
/// for the NIP `nip` as `jabatan` of `satker`: one person asks for one role of a satker
/// once at a time (a person may hold a role in two satker, each its own certificate).
pub fn pending_request(
    store: &Store,
    satker: &str,
    nip: &str,
    jabatan: sync_protocol::Jabatan,
) -> Result<Option<String>, StoreError> {
    for (id, rec) in crate::schema::REQUESTS.list(store, "")? {
        if rec.serial.is_some() || rec.jabatan != jabatan || rec.satker != satker {
            continue;
        }
        let item = store
            .item(&rec.address)?
            .and_then(|b| SignedItem::open(&b).ok());
        if let Some(Item::CertRequest(r)) = item.map(|i| i.item) {
            if r.subject.nip == nip {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

impl RevocationRecord {
    /// Whether it covers what the hub received at `received`.
    pub fn applies_to(&self, received: Timestamp) -> bool {
        received >= self.at
    }

    /// How a refusal names it: when and why.
    pub fn describe(&self) -> String {
        sync_protocol::revoked_on(self.at, &self.reason)
    }

    /// How a message to the person at this node names it: when, in `zone`, and why.
    pub fn describe_in(&self, zone: &str) -> String {
        crate::clock::revoked_on(self.at, &self.reason, zone)
    }
}

fn key(target: &Revoked) -> String {
    match target {
        Revoked::Device(id) => format!("device/{}", id.to_hex()),
        Revoked::Certificate(serial) => format!("cert/{serial}"),
        // By activation: the same username may be activated again after a revocation.
        Revoked::Operator { activation, .. } => {
            format!("operator/{}", activation.to_hex())
        }
    }
}

/// Records a revocation in the same write as its item.
pub fn record(t: &mut Txn<'_>, r: &Revocation, address: Address) {
    REVOCATIONS.put(
        t,
        &key(&r.target),
        &RevocationRecord {
            address,
            at: r.at,
            reason: r.reason.clone(),
        },
    );
}

/// The revocation of a device, if any.
pub fn of_device(store: &Store, id: &NodeId) -> Result<Option<RevocationRecord>, StoreError> {
    REVOCATIONS.get(store, &key(&Revoked::Device(*id)))
}

/// The revocation of a certificate, if any.
pub fn of_certificate(store: &Store, serial: &str) -> Result<Option<RevocationRecord>, StoreError> {
    REVOCATIONS.get(store, &key(&Revoked::Certificate(serial.to_string())))
}

/// The revocation of an operator's activation, if any.
pub fn of_operator(
    store: &Store,
    activation: &Address,
) -> Result<Option<RevocationRecord>, StoreError> {
    REVOCATIONS.get(store, &operator_key(activation))
}

/// The revocation of an operator's activation as this write would see it.
pub fn of_operator_in(
    t: &Txn<'_>,
    activation: &Address,
) -> Result<Option<RevocationRecord>, StoreError> {
    REVOCATIONS.get_in(t, &operator_key(activation))
}

fn operator_key(activation: &Address) -> String {
    key(&Revoked::Operator {
        satker: String::new(),
        username: String::new(),
        activation: *activation,
    })
}

/// The certificate with `serial`, if this node holds it.
pub fn certificate(node: &Node, serial: &str) -> Result<Option<Certificate>, StoreError> {
    let Some(rec) = CERTS.get(&node.store, serial)? else {
        return Ok(None);
    };
    let certificate = crate::decoded::get(&node.store, &rec.address, |item| match item {
        Item::Certificate(c) => Ok(Some(c)),
        _ => Ok(None),
    })?;
    Ok(certificate.and_then(|c| (*c).clone()))
}

/// The certificate with `serial` and its revocation, as the judge takes them.
pub fn credential(node: &Node, serial: &str) -> Result<Option<Credential>, StoreError> {
    let Some(certificate) = certificate(node, serial)? else {
        return Ok(None);
    };
    let revocation = of_certificate(&node.store, serial)?.map(|r| CertRevocation {
        at: r.at,
        reason: r.reason,
    });
    Ok(Some(Credential {
        certificate,
        revocation,
    }))
}

/// The credentials of every serial in `serials` this node holds, each once.
pub fn credentials<'a>(
    node: &Node,
    serials: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Credential>, StoreError> {
    let mut out: Vec<Credential> = Vec::new();
    for serial in serials {
        if out.iter().any(|c| c.certificate.serial == serial) {
            continue;
        }
        if let Some(c) = credential(node, serial)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Where an operator stands, as `espm operators` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Its activation request waits for the CSO.
    Pending,
    /// Activated and not revoked.
    Active,
    /// Its activation was revoked.
    Revoked(RevocationRecord),
    /// Active, but locked on this device after wrong codes.
    Locked(Timestamp),
}

impl Standing {
    /// The contract's status word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::Pending => "pending",
            Standing::Active => "active",
            Standing::Revoked(_) => "revoked",
            Standing::Locked(_) => "locked",
        }
    }
}

/// Pending, active or revoked, from the activation and its revocation: the one rule.
pub fn standing_of(
    activation: Option<&Address>,
    revoked: impl FnOnce(&Address) -> Result<Option<RevocationRecord>, StoreError>,
) -> Result<Standing, StoreError> {
    Ok(match activation {
        None => Standing::Pending,
        Some(a) => match revoked(a)? {
            Some(r) => Standing::Revoked(r),
            None => Standing::Active,
        },
    })
}
