//! Valid inputs each target starts mutating from: one well-formed value of every
//! message variant and item kind, encoded as a peer would send it.

use std::collections::BTreeMap;

use sync_protocol::{
    Address, AllOf, Announce, AnyOf, AttachmentRef, CertRequest, Certificate, DeviceEnrollment,
    DeviceRole, DocKind, DocSignature, DocState, DocumentSnapshot, DraftMessage, DraftRefusal,
    FieldSchemaTable, FieldSchemas, FieldSpec, FieldType, FrameItem, HubIdentity, Item, ItemKind,
    Jabatan, KindSchema, Message, OperatorActivation, OperatorRequest, OperatorRole, Policy,
    PolicyTable, Receipt, Refusal, RefusalReason, Revocation, Revoked, SecretKey, SignedItem,
    StatusUpdate, StreamId, Subject, Submission, SubmittedDoc, Timestamp, VersionVector,
};

fn key() -> SecretKey {
    SecretKey::from_bytes(&[3u8; 32])
}

fn subject() -> Subject {
    Subject {
        name: "Siti Rahma".into(),
        nik: "3171234567890123".into(),
        nip: "198001012005012001".into(),
        email: "siti@kemenkeu.go.id".into(),
        jabatan: Jabatan::Ppspm,
        unit: "123456".into(),
        instansi: "Kementerian Keuangan".into(),
    }
}

/// One item of every kind.
pub fn items() -> Vec<Item> {
    let k = key().public();
    let a = Address([5; 32]);
    let t = Timestamp(1_790_000_000_000);
    vec![
        Item::HubIdentity(HubIdentity {
            kppn: "019".into(),
            name: "KPPN Kotabumi".into(),
            tz: "Asia/Jakarta".into(),
            node_id: k,
            authority: k,
            service: k,
            binding_sig: vec![1; 64],
        }),
        Item::Enrollment(DeviceEnrollment {
            node_id: k,
            role: DeviceRole::Auditor {
                scope: vec!["123456".into()],
            },
            enrolled_at: t,
        }),
        Item::CertRequest(CertRequest {
            subject: subject(),
            satker: "123456".into(),
            device: k,
            key: k,
            requested_at: t,
        }),
        Item::Certificate(Certificate {
            serial: "019-000001".into(),
            subject: subject(),
            satker: "123456".into(),
            kppn: "019".into(),
            key: k,
            request: a,
            valid_from: t,
            valid_until: Timestamp(t.0 + 1),
        }),
        Item::Snapshot(DocumentSnapshot {
            doc_id: "spm-1".into(),
            kind: DocKind::Spm,
            satker: "123456".into(),
            fields: BTreeMap::from([("nilai".to_string(), "1500000".to_string())]),
            attachments: vec![AttachmentRef {
                name: "sk.pdf".into(),
                sha256: "ab".repeat(32),
                size: 10,
                chunks: vec![a],
            }],
            corrects: None,
            taken_at: t,
        }),
        Item::Signature(DocSignature {
            doc_id: "spm-1".into(),
            snapshot: a,
            serial: "019-000001".into(),
            jabatan: Jabatan::Ppspm,
            signer_name: "Siti Rahma".into(),
            signed_at: t,
            place: "123456".into(),
        }),
        Item::Submission(Submission {
            submission_id: "sub-1".into(),
            satker: "123456".into(),
            operator: "operator01".into(),
            documents: vec![SubmittedDoc {
                doc_id: "spm-1".into(),
                kind: DocKind::Spm,
                snapshot: a,
                signatures: vec![a],
            }],
            submitted_at: t,
        }),
        Item::Receipt(Receipt {
            submission: a,
            submission_id: "sub-1".into(),
            satker: "123456".into(),
            doc_ids: vec!["spm-1".into()],
            delivered_at: t,
            log_seq: 7,
            log_hash: a,
        }),
        Item::Status(StatusUpdate {
            doc_id: "spm-1".into(),
            satker: "123456".into(),
            state: DocState::Rejected,
            at: t,
            reason: Some("nilai salah".into()),
            by: "kppn".into(),
        }),
        Item::Revocation(Revocation {
            target: Revoked::Certificate("019-000001".into()),
            at: t,
            reason: "pindah tugas".into(),
        }),
        Item::Revocation(Revocation {
            target: Revoked::Operator {
                satker: "123456".into(),
                username: "operator01".into(),
                activation: a,
            },
            at: t,
            reason: "SK dicabut".into(),
        }),
        Item::OperatorRequest(OperatorRequest {
            username: "operator01".into(),
            role: OperatorRole::OperatorSatker,
            satker: "123456".into(),
            device: k,
            sk_penunjukan: Some("SK-12/2026".into()),
            requested_at: t,
        }),
        Item::OperatorActivation(OperatorActivation {
            request: a,
            username: "operator01".into(),
            role: OperatorRole::OperatorBendahara,
            satker: "123456".into(),
            device: k,
            activated_at: t,
        }),
        Item::PolicyTable(PolicyTable {
            issued_at: t,
            policy: Policy {
                rules: BTreeMap::from([
                    (DocKind::Spm, AllOf(vec![AnyOf(vec![Jabatan::Ppspm])])),
                    (
                        DocKind::LpjBendahara,
                        AllOf(vec![
                            AnyOf(vec![Jabatan::Bendahara]),
                            AnyOf(vec![Jabatan::Kpa, Jabatan::Ppk]),
                        ]),
                    ),
                ]),
            },
        }),
        // One kind's schema with a field of every type, so a mutation reaches each.
        Item::FieldSchemaTable(FieldSchemaTable {
            issued_at: t,
            schemas: FieldSchemas {
                kinds: BTreeMap::from([(
                    DocKind::Spm,
                    KindSchema(
                        [
                            ("nomor", FieldType::Text),
                            ("keterangan", FieldType::Note),
                            ("tanggal", FieldType::Date),
                            ("nilai", FieldType::Rupiah),
                            ("jenis", FieldType::Choice(vec!["LS".into(), "UP".into()])),
                            ("rekening", FieldType::Digits { min: 6, max: 20 }),
                            ("npwp", FieldType::Npwp),
                            ("dikoreksi", FieldType::Document),
                            ("akun", FieldType::Akun),
                        ]
                        .into_iter()
                        .map(|(name, ty)| FieldSpec {
                            name: name.into(),
                            ty,
                            required: name != "keterangan",
                        })
                        .collect(),
                    ),
                )]),
            },
        }),
    ]
}

/// Seeds of the `signed-item` target: every kind, sealed.
pub fn signed_items() -> Vec<Vec<u8>> {
    items()
        .into_iter()
        .map(|i| SignedItem::seal(i, &key()).bytes)
        .collect()
}

/// Seeds of the `item-body` target: the kind's place in [`ItemKind::ALL`], then the body.
pub fn item_bodies() -> Vec<Vec<u8>> {
    items()
        .iter()
        .map(|i| {
            let k = ItemKind::ALL
                .iter()
                .position(|k| *k == i.kind())
                .unwrap_or(0) as u8;
            std::iter::once(k).chain(i.encode_body()).collect()
        })
        .collect()
}

/// Seeds of the `wire-message` target: every variant.
pub fn wire_messages() -> Vec<Vec<u8>> {
    let a = Address([5; 32]);
    let s = StreamId::Scope("123456".into());
    let vv = VersionVector::from([(StreamId::Trust, 3), (s.clone(), 9)]);
    let item = SignedItem::seal(items().remove(4), &key()).bytes;
    [
        Message::Hello {
            version: 1,
            want: vv.clone(),
            offer: vec![StreamId::Origin(key().public())],
            has: VersionVector::new(),
            needs: 0,
            credit: 0,
        },
        Message::Hello {
            version: 1,
            want: VersionVector::from([(StreamId::Origin(key().public()), 4)]),
            offer: Vec::new(),
            has: vv.clone(),
            needs: 7,
            credit: 0,
        },
        Message::Frame {
            stream: s.clone(),
            after: 0,
            through: 2,
            items: vec![FrameItem {
                seq: 1,
                bytes: item,
            }],
        },
        Message::Ack {
            stream: s.clone(),
            through: 2,
            refused: vec![Refusal {
                seq: 1,
                address: a,
                reason: "no".into(),
            }],
        },
        Message::Nack {
            stream: s,
            through: 1,
        },
        Message::Want { chunks: vec![a, a] },
        Message::Chunk {
            address: a,
            bytes: vec![1; 100],
        },
        Message::NoChunk { address: a },
        Message::Done { sent: vv },
        Message::Abort {
            reason: "bye".into(),
        },
    ]
    .iter()
    .map(Message::encode)
    .collect()
}

/// Seeds of the `draft-message` target: every variant.
pub fn draft_messages() -> Vec<Vec<u8>> {
    let announce = Announce {
        doc_id: "spm-1".into(),
        digest: Some(Address([2; 32])),
    };
    [
        DraftMessage::DraftHello {
            version: 1,
            drafts: vec![announce.clone()],
            more: false,
        },
        DraftMessage::DraftWelcome {
            drafts: vec![announce],
            refused: vec![DraftRefusal {
                doc_id: "spm-2".into(),
                reason: RefusalReason::Frozen {
                    state: "signed".into(),
                },
            }],
            more: true,
        },
        DraftMessage::DraftTurn {
            doc_id: "spm-1".into(),
            data: Some(vec![0x42, 0, 0, 0]),
        },
        DraftMessage::DraftRefuse {
            doc_id: "spm-1".into(),
            reason: RefusalReason::NotAllowed,
        },
        DraftMessage::DraftAbort {
            reason: "bye".into(),
        },
    ]
    .iter()
    .map(DraftMessage::encode)
    .collect()
}

/// Honest automerge sync messages: the first turns of two drafts converging, one with
/// a field long enough that automerge deflates its column.
pub fn automerge_messages() -> Vec<Vec<u8>> {
    use storage::{draft::SyncState, Draft};
    let mut out = Vec::new();
    for long in [false, true] {
        let Ok(mut a) = Draft::new("spm-1", DocKind::Spm, "123456") else {
            continue;
        };
        let value = if long {
            "Belanja barang operasional. ".repeat(40)
        } else {
            "ATK".to_string()
        };
        let _ = a.set_field("uraian", &value);
        let _ = a.set_field("nilai", "1500000");
        let mut b = Draft::empty();
        let (mut sa, mut sb) = (SyncState::new(), SyncState::new());
        for _ in 0..6 {
            if let Ok(Some(m)) = a.generate_sync_message(&mut sa) {
                let _ = b.receive_sync_message(&mut sb, &m);
                out.push(m);
            }
            if let Ok(Some(m)) = b.generate_sync_message(&mut sb) {
                let _ = a.receive_sync_message(&mut sa, &m);
                out.push(m);
            }
        }
    }
    out
}

/// The seeds of the target called `name`.
pub fn for_target(name: &str) -> Vec<Vec<u8>> {
    match name {
        "automerge-guard" | "automerge-sync" => automerge_messages(),
        "framing" => wire_messages()
            .iter()
            .map(|m| {
                let mut framed = vec![7u8];
                for _ in 0..3 {
                    framed.extend((m.len() as u32).to_be_bytes());
                    framed.extend(m);
                }
                framed
            })
            .collect(),
        "stream-header" => sync_protocol::StreamKind::ALL
            .iter()
            .map(|k| sync_protocol::StreamHeader::new(*k).encode().to_vec())
            .collect(),
        "wire-message" => wire_messages(),
        "draft-message" => draft_messages(),
        "signed-item" => signed_items(),
        "item-body" => item_bodies(),
        // Structured targets read choices from any bytes; a few lengths suffice.
        _ => (0..8u8)
            .map(|i| {
                (0..(i as usize * 97))
                    .map(|j| (j as u8).wrapping_mul(i))
                    .collect()
            })
            .collect(),
    }
}
