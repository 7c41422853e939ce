//! The signed envelope every stored and synced item travels in.
//!
//! An item's bytes are `Envelope { v, kind, body, author, sig }` in canonical CBOR; its
//! content address is the SHA-256 of exactly those bytes. The signature covers the exact
//! body bytes under a per-kind domain, so verification never re-serializes anything.

use serde::{Deserialize, Serialize};

use crate::{
    certificate::{CertRequest, Certificate},
    checkpoint::{Checkpoint, Inclusions},
    document::DocumentSnapshot,
    encoding::{from_canonical, to_canonical, FORMAT_VERSION},
    enrollment::{DeviceEnrollment, HubIdentity},
    fields::FieldSchemaTable,
    operator::{OperatorActivation, OperatorRequest},
    policy::PolicyTable,
    receipt::Receipt,
    revocation::Revocation,
    signature::DocSignature,
    status::StatusUpdate,
    submission::Submission,
    Address, ProtocolError, PublicKey, SecretKey,
};

/// Which body an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ItemKind {
    /// The hub's identity: its service key, bound by the authority.
    HubIdentity = 1,
    /// A device's enrollment by the registration authority.
    Enrollment = 2,
    /// A signer's certificate request.
    CertRequest = 3,
    /// A signer's certificate.
    Certificate = 4,
    /// A frozen document snapshot.
    Snapshot = 5,
    /// A signer's signature on a snapshot.
    Signature = 6,
    /// An operator's submission of signed documents.
    Submission = 7,
    /// The hub's receipt for a submitted document.
    Receipt = 8,
    /// The hub's status update on a document's processing.
    Status = 9,
    /// A revocation of a device, certificate or operator.
    Revocation = 10,
    /// A satker's request to activate an operator.
    OperatorRequest = 11,
    /// The KPPN's activation of an operator.
    OperatorActivation = 12,
    /// The hub authority's signing policy table.
    PolicyTable = 13,
    /// The hub authority's field schema table.
    FieldSchemaTable = 14,
    /// The hub's signed checkpoint of its log.
    Checkpoint = 15,
    /// The hub's inclusion proofs for a satker's receipts against a checkpoint.
    Inclusions = 16,
}

impl ItemKind {
    /// Every kind, in the order a thin link should carry them: trust and receipts first.
    pub const ALL: [ItemKind; 16] = [
        ItemKind::HubIdentity,
        ItemKind::Enrollment,
        ItemKind::CertRequest,
        ItemKind::Certificate,
        ItemKind::Snapshot,
        ItemKind::Signature,
        ItemKind::Submission,
        ItemKind::Receipt,
        ItemKind::Status,
        ItemKind::Revocation,
        ItemKind::OperatorRequest,
        ItemKind::OperatorActivation,
        ItemKind::PolicyTable,
        ItemKind::FieldSchemaTable,
        ItemKind::Checkpoint,
        ItemKind::Inclusions,
    ];

    /// A short English name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::HubIdentity => "hub identity",
            ItemKind::Enrollment => "device enrollment",
            ItemKind::CertRequest => "certificate request",
            ItemKind::Certificate => "certificate",
            ItemKind::Snapshot => "document snapshot",
            ItemKind::Signature => "document signature",
            ItemKind::Submission => "submission",
            ItemKind::Receipt => "receipt",
            ItemKind::Status => "status update",
            ItemKind::Revocation => "revocation",
            ItemKind::OperatorRequest => "operator activation request",
            ItemKind::OperatorActivation => "operator activation",
            ItemKind::PolicyTable => "signing policy table",
            ItemKind::FieldSchemaTable => "field schema table",
            ItemKind::Checkpoint => "log checkpoint",
            ItemKind::Inclusions => "inclusion proofs",
        }
    }

    fn from_u8(v: u8) -> Option<Self> {
        ItemKind::ALL.into_iter().find(|k| *k as u8 == v)
    }

    fn domain(self) -> Vec<u8> {
        format!("espm/{FORMAT_VERSION}/item/{}", self as u8).into_bytes()
    }
}

/// A decoded item body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// The hub's identity.
    HubIdentity(HubIdentity),
    /// A device's enrollment.
    Enrollment(DeviceEnrollment),
    /// A signer's certificate request.
    CertRequest(CertRequest),
    /// A signer's certificate.
    Certificate(Certificate),
    /// A frozen document snapshot.
    Snapshot(DocumentSnapshot),
    /// A signature on a snapshot.
    Signature(DocSignature),
    /// A submission of signed documents.
    Submission(Submission),
    /// A receipt for a submitted document.
    Receipt(Receipt),
    /// A status update on a document.
    Status(StatusUpdate),
    /// A revocation.
    Revocation(Revocation),
    /// An operator activation request.
    OperatorRequest(OperatorRequest),
    /// An operator activation.
    OperatorActivation(OperatorActivation),
    /// The hub authority's signing policy table.
    PolicyTable(PolicyTable),
    /// The hub authority's field schema table.
    FieldSchemaTable(FieldSchemaTable),
    /// The hub's signed checkpoint of its log.
    Checkpoint(Checkpoint),
    /// The hub's inclusion proofs against a checkpoint.
    Inclusions(Inclusions),
}

impl Item {
    /// The kind of this body.
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::HubIdentity(_) => ItemKind::HubIdentity,
            Item::Enrollment(_) => ItemKind::Enrollment,
            Item::CertRequest(_) => ItemKind::CertRequest,
            Item::Certificate(_) => ItemKind::Certificate,
            Item::Snapshot(_) => ItemKind::Snapshot,
            Item::Signature(_) => ItemKind::Signature,
            Item::Submission(_) => ItemKind::Submission,
            Item::Receipt(_) => ItemKind::Receipt,
            Item::Status(_) => ItemKind::Status,
            Item::Revocation(_) => ItemKind::Revocation,
            Item::OperatorRequest(_) => ItemKind::OperatorRequest,
            Item::OperatorActivation(_) => ItemKind::OperatorActivation,
            Item::PolicyTable(_) => ItemKind::PolicyTable,
            Item::FieldSchemaTable(_) => ItemKind::FieldSchemaTable,
            Item::Checkpoint(_) => ItemKind::Checkpoint,
            Item::Inclusions(_) => ItemKind::Inclusions,
        }
    }

    /// The canonical bytes of the body alone, as its envelope carries them.
    pub fn encode_body(&self) -> Vec<u8> {
        match self {
            Item::HubIdentity(b) => to_canonical(b),
            Item::Enrollment(b) => to_canonical(b),
            Item::CertRequest(b) => to_canonical(b),
            Item::Certificate(b) => to_canonical(b),
            Item::Snapshot(b) => to_canonical(b),
            Item::Signature(b) => to_canonical(b),
            Item::Submission(b) => to_canonical(b),
            Item::Receipt(b) => to_canonical(b),
            Item::Status(b) => to_canonical(b),
            Item::Revocation(b) => to_canonical(b),
            Item::OperatorRequest(b) => to_canonical(b),
            Item::OperatorActivation(b) => to_canonical(b),
            Item::PolicyTable(b) => to_canonical(b),
            Item::FieldSchemaTable(b) => to_canonical(b),
            Item::Checkpoint(b) => to_canonical(b),
            Item::Inclusions(b) => to_canonical(b),
        }
    }

    fn decode_body(kind: ItemKind, body: &[u8]) -> Result<Item, ProtocolError> {
        let what = "item body";
        Ok(match kind {
            ItemKind::HubIdentity => Item::HubIdentity(from_canonical(body, what)?),
            ItemKind::Enrollment => Item::Enrollment(from_canonical(body, what)?),
            ItemKind::CertRequest => Item::CertRequest(from_canonical(body, what)?),
            ItemKind::Certificate => Item::Certificate(from_canonical(body, what)?),
            ItemKind::Snapshot => Item::Snapshot(from_canonical(body, what)?),
            ItemKind::Signature => Item::Signature(from_canonical(body, what)?),
            ItemKind::Submission => Item::Submission(from_canonical(body, what)?),
            ItemKind::Receipt => Item::Receipt(from_canonical(body, what)?),
            ItemKind::Status => Item::Status(from_canonical(body, what)?),
            ItemKind::Revocation => Item::Revocation(from_canonical(body, what)?),
            ItemKind::OperatorRequest => Item::OperatorRequest(from_canonical(body, what)?),
            ItemKind::OperatorActivation => Item::OperatorActivation(from_canonical(body, what)?),
            ItemKind::PolicyTable => Item::PolicyTable(from_canonical(body, what)?),
            ItemKind::FieldSchemaTable => Item::FieldSchemaTable(from_canonical(body, what)?),
            ItemKind::Checkpoint => Item::Checkpoint(from_canonical(body, what)?),
            ItemKind::Inclusions => Item::Inclusions(from_canonical(body, what)?),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u8,
    kind: u8,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    author: PublicKey,
    #[serde(with = "serde_bytes")]
    sig: Vec<u8>,
}

/// An envelope read from bytes, its version and kind checked, its signature not yet.
struct Sealed {
    env: Envelope,
    kind: ItemKind,
    address: Address,
}

impl Sealed {
    fn read(bytes: &[u8]) -> Result<Sealed, ProtocolError> {
        let env: Envelope = from_canonical(bytes, "item envelope")?;
        if env.v != FORMAT_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                found: env.v,
                supported: FORMAT_VERSION,
            });
        }
        let kind = ItemKind::from_u8(env.kind).ok_or_else(|| {
            ProtocolError::malformed("item envelope", format!("unknown item kind {}", env.kind))
        })?;
        Ok(Sealed {
            env,
            kind,
            address: Address::of(bytes),
        })
    }

    fn bad_signature(&self) -> ProtocolError {
        ProtocolError::BadSignature {
            kind: self.kind.name(),
            address: self.address.to_hex(),
        }
    }

    /// The item, its body decoded; `bytes` are those it was read from.
    fn open_body(self, bytes: &[u8]) -> Result<SignedItem, ProtocolError> {
        let item = Item::decode_body(self.kind, &self.env.body)?;
        Ok(SignedItem {
            bytes: bytes.to_vec(),
            address: self.address,
            author: self.env.author,
            item,
        })
    }
}

/// An item with its exact bytes, its address, its author and its decoded body.
#[derive(Clone, Debug)]
pub struct SignedItem {
    /// The exact canonical envelope bytes: what is stored, sent and addressed.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`.
    pub address: Address,
    /// The key whose signature the envelope carries.
    pub author: PublicKey,
    /// The decoded body.
    pub item: Item,
}

impl SignedItem {
    /// Encodes and signs a body with `key`.
    pub fn seal(item: Item, key: &SecretKey) -> SignedItem {
        let kind = item.kind();
        let body = item.encode_body();
        let sig = key.sign(&kind.domain(), &body).to_vec();
        let env = Envelope {
            v: FORMAT_VERSION,
            kind: kind as u8,
            body,
            author: key.public(),
            sig,
        };
        let bytes = to_canonical(&env);
        SignedItem {
            address: Address::of(&bytes),
            author: key.public(),
            item,
            bytes,
        }
    }

    /// An envelope of `kind` around `body` bytes that need not decode, signed by `key`:
    /// how tests and fuzzers reach each kind's body decoder past the signature check.
    pub fn seal_raw_body(kind: ItemKind, body: Vec<u8>, key: &SecretKey) -> Vec<u8> {
        let sig = key.sign(&kind.domain(), &body).to_vec();
        to_canonical(&Envelope {
            v: FORMAT_VERSION,
            kind: kind as u8,
            body,
            author: key.public(),
            sig,
        })
    }

    /// Decodes bytes from a store or a peer and verifies the author's signature.
    pub fn open(bytes: &[u8]) -> Result<SignedItem, ProtocolError> {
        let sealed = Sealed::read(bytes)?;
        if !sealed
            .env
            .author
            .verify(&sealed.kind.domain(), &sealed.env.body, &sealed.env.sig)
        {
            return Err(sealed.bad_signature());
        }
        sealed.open_body(bytes)
    }

    /// Decodes bytes this node verified when it stored them, without verifying the
    /// signature again: for the hot paths that read back what ingest already checked.
    /// `espm verify` opens every stored item with [`SignedItem::open`] instead, so a
    /// store changed on disk is still caught there.
    pub fn open_stored(bytes: &[u8]) -> Result<SignedItem, ProtocolError> {
        Sealed::read(bytes)?.open_body(bytes)
    }

    /// The kind of the body.
    pub fn kind(&self) -> ItemKind {
        self.item.kind()
    }

    /// The kind the envelope in `bytes` says it carries, checking nothing else: to pick
    /// out the few items worth opening again after they were verified and stored.
    pub fn kind_of(bytes: &[u8]) -> Option<ItemKind> {
        let env: Envelope = from_canonical(bytes, "item envelope").ok()?;
        ItemKind::from_u8(env.kind)
    }

    /// How many attachment chunks the document snapshot in `bytes` names (zero for any
    /// other item), read without checking the signature: for the progress totals of
    /// items this node verified when it stored them, never to decide anything.
    pub fn attachment_chunks(bytes: &[u8]) -> u64 {
        let Ok(env) = from_canonical::<Envelope>(bytes, "item envelope") else {
            return 0;
        };
        if env.kind != ItemKind::Snapshot as u8 {
            return 0;
        }
        match Item::decode_body(ItemKind::Snapshot, &env.body) {
            Ok(Item::Snapshot(s)) => s.attachments.iter().map(|a| a.chunks.len() as u64).sum(),
            _ => 0,
        }
    }
}

/// What an item's ed25519 signature covers, taken from its exact envelope bytes: for
/// tools outside this system (an export) to check the signature with any ed25519
/// library, without re-encoding anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedParts {
    /// The exact message signed: `espm/<v>/item/<kind>`, one zero byte, then the body
    /// bytes as the envelope carries them.
    pub message: Vec<u8>,
    /// The 64-byte ed25519 signature the envelope carries.
    pub signature: Vec<u8>,
    /// The key that made it (the envelope's author).
    pub author: PublicKey,
    /// The envelope's body bytes alone (canonical CBOR of the item body).
    pub body: Vec<u8>,
}

impl SignedItem {
    /// The signed message, signature and author read from envelope `bytes`, checking
    /// the version and kind but not the signature (the caller shows or checks it).
    pub fn signed_parts(bytes: &[u8]) -> Result<SignedParts, ProtocolError> {
        let sealed = Sealed::read(bytes)?;
        Ok(SignedParts {
            message: crate::keys::domain_message(&sealed.kind.domain(), &sealed.env.body),
            signature: sealed.env.sig,
            author: sealed.env.author,
            body: sealed.env.body,
        })
    }
}

mod batch;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        status::{DocState, StatusUpdate},
        Timestamp,
    };

    fn sample() -> Item {
        Item::Status(StatusUpdate {
            doc_id: "d1".into(),
            satker: "123456".into(),
            state: DocState::Konversi,
            at: Timestamp(1_700_000_000_000),
            reason: None,
            by: "fo".into(),
        })
    }

    #[test]
    fn the_kind_and_chunk_count_read_for_progress_take_garbage_as_nothing() {
        let s = SignedItem::seal(sample(), &SecretKey::generate());
        assert_eq!(SignedItem::kind_of(&s.bytes), Some(ItemKind::Status));
        assert_eq!(SignedItem::attachment_chunks(&s.bytes), 0);
        for junk in [&b""[..], b"\xff\x00", &s.bytes[..s.bytes.len() / 2]] {
            assert_eq!(SignedItem::kind_of(junk), None);
            assert_eq!(SignedItem::attachment_chunks(junk), 0);
        }
        let body =
            SignedItem::seal_raw_body(ItemKind::Snapshot, b"\xa0".to_vec(), &SecretKey::generate());
        assert_eq!(
            SignedItem::attachment_chunks(&body),
            0,
            "a snapshot body that does not decode"
        );
    }

    #[test]
    fn the_signed_parts_are_what_a_plain_ed25519_verifier_checks() {
        let k = SecretKey::generate();
        let s = SignedItem::seal(sample(), &k);
        let parts = SignedItem::signed_parts(&s.bytes).unwrap();
        assert_eq!(parts.author, k.public());
        assert_eq!(parts.body, sample().encode_body());
        assert!(parts.message.starts_with(b"espm/1/item/9\0"));
        let key = ed25519_dalek::VerifyingKey::from_bytes(&parts.author.0).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&parts.signature).unwrap();
        assert!(key.verify_strict(&parts.message, &sig).is_ok());
        let mut changed = parts.message.clone();
        let n = changed.len();
        changed[n - 1] ^= 1;
        assert!(key.verify_strict(&changed, &sig).is_err());
    }

    #[test]
    fn sealed_item_opens_with_same_address() {
        let k = SecretKey::generate();
        let s = SignedItem::seal(sample(), &k);
        let o = SignedItem::open(&s.bytes).unwrap();
        assert_eq!(o.address, s.address);
        assert_eq!(o.item, sample());
        assert_eq!(o.author, k.public());
    }

    #[test]
    fn one_changed_byte_fails_verification_naming_the_item() {
        let k = SecretKey::generate();
        let s = SignedItem::seal(sample(), &k);
        for i in 0..s.bytes.len() {
            let mut b = s.bytes.clone();
            b[i] ^= 0x01;
            assert!(
                SignedItem::open(&b).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
        let mut b = s.bytes.clone();
        let n = b.len();
        b[n - 1] ^= 0x40; // inside the signature
        match SignedItem::open(&b) {
            Err(ProtocolError::BadSignature { address, .. }) => {
                assert_eq!(address, Address::of(&b).to_hex())
            }
            other => panic!("expected BadSignature, got {other:?}"),
        }
    }
}
