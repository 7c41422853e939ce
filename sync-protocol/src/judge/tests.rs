//! The judge against real ed25519 keys and sealed signature items: every row of the
//! default policy table, all-of and any-of, and each reason a signature does not count.

use std::collections::BTreeMap;

use super::*;
use crate::{
    certificate::Subject,
    policy::{AllOf, AnyOf},
    SecretKey,
};
use Jabatan::*;

const SATKER: &str = "123456";
/// 2026-09-21T14:13:20Z: when the hub received the submission under test.
const RECEIVED: Timestamp = Timestamp(1_790_000_000_000);
const DAY: i64 = 24 * 3600 * 1000;

/// A person certified in `jabatan` for `satker`, valid a year around [`RECEIVED`].
struct Signer {
    key: SecretKey,
    credential: Credential,
}

fn certify(serial: &str, jabatan: Jabatan, satker: &str) -> Signer {
    let key = SecretKey::generate();
    let certificate = Certificate {
        serial: serial.into(),
        subject: Subject {
            name: format!("Pejabat {}", jabatan.title()),
            nik: "3171234567890123".into(),
            nip: "198001012005012001".into(),
            email: "pejabat@kemenkeu.go.id".into(),
            jabatan,
            unit: satker.into(),
            instansi: "Kementerian Keuangan".into(),
        },
        satker: satker.into(),
        kppn: "019".into(),
        key: key.public(),
        request: Address([9; 32]),
        valid_from: Timestamp(RECEIVED.0 - 180 * DAY),
        valid_until: Timestamp(RECEIVED.0 + 180 * DAY),
    };
    Signer {
        key,
        credential: Credential {
            certificate,
            revocation: None,
        },
    }
}

/// A snapshot of a document of `kind` of [`SATKER`], sealed by a device key.
fn snapshot(kind: DocKind, doc_id: &str) -> SignedItem {
    SignedItem::seal(
        Item::Snapshot(DocumentSnapshot {
            doc_id: doc_id.into(),
            kind,
            satker: SATKER.into(),
            fields: BTreeMap::from([("nomor".to_string(), "00001/2026".to_string())]),
            attachments: Vec::new(),
            corrects: None,
            taken_at: Timestamp(RECEIVED.0 - DAY),
        }),
        &SecretKey::generate(),
    )
}

fn doc_of(item: &SignedItem) -> Document<'_> {
    match &item.item {
        Item::Snapshot(s) => Document::of(s, item.address),
        _ => unreachable!("a snapshot"),
    }
}

/// `signer`'s signature over `snap`, claiming its own jabatan, made with `key`.
fn sign_with(key: &SecretKey, signer: &Signer, jabatan: Jabatan, snap: &SignedItem) -> SignedItem {
    let doc = doc_of(snap);
    SignedItem::seal(
        Item::Signature(DocSignature {
            doc_id: doc.doc_id.into(),
            snapshot: doc.snapshot,
            serial: signer.credential.certificate.serial.clone(),
            jabatan,
            signer_name: signer.credential.certificate.subject.name.clone(),
            signed_at: Timestamp(RECEIVED.0 - 3600 * 1000),
            place: SATKER.into(),
        }),
        key,
    )
}

fn sign(signer: &Signer, snap: &SignedItem) -> SignedItem {
    sign_with(
        &signer.key,
        signer,
        signer.credential.certificate.subject.jabatan,
        snap,
    )
}

/// Judges `signatures` over `snap` at the hub's receipt under `policy`.
fn judge(
    snap: &SignedItem,
    signatures: &[SignedItem],
    signers: &[&Signer],
    policy: &Policy,
) -> Judgment {
    let presented: Vec<_> = signatures.iter().filter_map(Presented::of).collect();
    let credentials: Vec<_> = signers.iter().map(|s| s.credential.clone()).collect();
    judge_document(
        &doc_of(snap),
        &presented,
        &credentials,
        policy,
        Moment::At(RECEIVED),
    )
}

/// Whether a document of `kind` signed by one signer of each of `roles` is complete
/// under the default table.
fn complete_with(kind: DocKind, roles: &[Jabatan]) -> bool {
    let snap = snapshot(kind, "doc-1");
    let signers: Vec<_> = roles
        .iter()
        .enumerate()
        .map(|(i, j)| certify(&format!("019-00000{i}"), *j, SATKER))
        .collect();
    let sigs: Vec<_> = signers.iter().map(|s| sign(s, &snap)).collect();
    let j = judge(
        &snap,
        &sigs,
        &signers.iter().collect::<Vec<_>>(),
        &Policy::default(),
    );
    assert!(j.first_refusal().is_none(), "{j:?}");
    j.complete.is_ok()
}

#[test]
fn every_spm_and_spm_koreksi_needs_the_ppspm() {
    for kind in [DocKind::Spm, DocKind::SpmKoreksi] {
        assert!(complete_with(kind, &[Ppspm]), "{kind}");
        for other in [Kpa, Ppk, Bendahara, KepalaKantor] {
            assert!(!complete_with(kind, &[other]), "{kind} by {other}");
        }
    }
}

#[test]
fn the_special_spm_kinds_need_the_kepala_kantor() {
    for kind in [
        DocKind::SpmKp,
        DocKind::SpmKpbb,
        DocKind::SpmKbc,
        DocKind::SpmIb,
        DocKind::SpmBphtb,
    ] {
        assert!(complete_with(kind, &[KepalaKantor]), "{kind}");
        assert!(!complete_with(kind, &[Ppspm]), "{kind}");
        assert!(!complete_with(kind, &[]), "{kind}");
    }
}

#[test]
fn a_kontrak_and_an_rpd_harian_need_the_ppk() {
    for kind in [DocKind::Kontrak, DocKind::RpdHarian] {
        assert!(complete_with(kind, &[Ppk]), "{kind}");
        assert!(!complete_with(kind, &[Kpa]), "{kind}");
        assert!(!complete_with(kind, &[Ppspm]), "{kind}");
    }
}

#[test]
fn a_gaji_needs_the_kpa() {
    assert!(complete_with(DocKind::Gaji, &[Kpa]));
    assert!(!complete_with(DocKind::Gaji, &[Ppk]));
    assert!(!complete_with(DocKind::Gaji, &[]));
}

#[test]
fn an_lpj_needs_the_bendahara_and_the_kpa_or_the_ppk() {
    let lpj = DocKind::LpjBendahara;
    assert!(complete_with(lpj, &[Bendahara, Kpa]));
    assert!(complete_with(lpj, &[Bendahara, Ppk]));
    assert!(complete_with(lpj, &[Bendahara, Kpa, Ppk]));
    assert!(
        !complete_with(lpj, &[Bendahara]),
        "the any-of group is unmet"
    );
    assert!(!complete_with(lpj, &[Kpa, Ppk]), "the Bendahara is missing");
    assert!(!complete_with(lpj, &[]));
}

#[test]
fn an_incomplete_document_is_refused_naming_what_is_needed_and_what_is_present() {
    let snap = snapshot(DocKind::LpjBendahara, "lpj-1");
    let kpa = certify("019-000001", Kpa, SATKER);
    let j = judge(&snap, &[sign(&kpa, &snap)], &[&kpa], &Policy::default());
    assert_eq!(
        j.complete.unwrap_err().to_string(),
        "lpj-bendahara needs Bendahara, and KPA or PPK; present: KPA"
    );
}

#[test]
fn all_of_several_any_of_groups_must_each_be_met() {
    // A table the hub might distribute: an SPM needs (PPSPM or Kepala Kantor) and
    // (KPA or PPK).
    let mut policy = Policy::default();
    policy.rules.insert(
        DocKind::Spm,
        AllOf(vec![
            AnyOf(vec![Ppspm, KepalaKantor]),
            AnyOf(vec![Kpa, Ppk]),
        ]),
    );
    let snap = snapshot(DocKind::Spm, "spm-1");
    let [ppspm, kk, kpa, ppk] = [
        certify("019-000001", Ppspm, SATKER),
        certify("019-000002", KepalaKantor, SATKER),
        certify("019-000003", Kpa, SATKER),
        certify("019-000004", Ppk, SATKER),
    ];
    let all = [&ppspm, &kk, &kpa, &ppk];
    let complete = |who: &[&Signer]| {
        let sigs: Vec<_> = who.iter().map(|s| sign(s, &snap)).collect();
        judge(&snap, &sigs, &all, &policy).complete.is_ok()
    };
    assert!(complete(&[&ppspm, &kpa]));
    assert!(complete(&[&kk, &ppk]));
    assert!(complete(&[&ppspm, &kk, &ppk]));
    assert!(!complete(&[&ppspm, &kk]), "the second group is unmet");
    assert!(!complete(&[&kpa, &ppk]), "the first group is unmet");
    assert!(!complete(&[&ppspm]));
}

#[test]
fn a_signature_counts_when_its_certificate_was_revoked_only_after_the_hub_received_it() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let mut ppspm = certify("019-000001", Ppspm, SATKER);
    ppspm.credential.revocation = Some(CertRevocation {
        at: Timestamp(RECEIVED.0 + 1),
        reason: "pindah tugas".into(),
    });
    let j = judge(&snap, &[sign(&ppspm, &snap)], &[&ppspm], &Policy::default());
    assert_eq!(j.signatures, vec![Ok(Ppspm)]);
    assert_eq!(j.complete, Ok(()));
}

#[test]
fn a_signature_does_not_count_when_its_certificate_was_revoked_at_or_before_receipt() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    for at in [RECEIVED, Timestamp(RECEIVED.0 - DAY)] {
        let mut ppspm = certify("019-000001", Ppspm, SATKER);
        let revocation = CertRevocation {
            at,
            reason: "kunci mungkin bocor".into(),
        };
        ppspm.credential.revocation = Some(revocation.clone());
        let j = judge(&snap, &[sign(&ppspm, &snap)], &[&ppspm], &Policy::default());
        let refusal = SignatureRefusal::Revoked {
            serial: "019-000001".into(),
            revocation,
        };
        assert_eq!(j.first_refusal(), Some((0, &refusal)));
        // What does not count leaves the document without its PPSPM.
        assert_eq!(
            j.complete.unwrap_err().to_string(),
            "spm needs PPSPM; present: no signatures"
        );
    }
    let mut ppspm = certify("019-000001", Ppspm, SATKER);
    ppspm.credential.revocation = Some(CertRevocation {
        at: Timestamp(1_789_990_000_000),
        reason: "kunci mungkin bocor".into(),
    });
    let j = judge(&snap, &[sign(&ppspm, &snap)], &[&ppspm], &Policy::default());
    assert_eq!(
        j.first_refusal().unwrap().1.to_string(),
        "certificate 019-000001 was revoked on 2026-09-21T11:26:40Z (kunci mungkin bocor); it cannot sign anything new"
    );
}

#[test]
fn on_the_device_every_known_revocation_applies_whatever_its_time() {
    // The device's clock may be behind the hub's; the hub receives what the device
    // sends after the revocation the device already holds.
    let snap = snapshot(DocKind::Spm, "spm-1");
    let mut ppspm = certify("019-000001", Ppspm, SATKER);
    ppspm.credential.revocation = Some(CertRevocation {
        at: Timestamp(RECEIVED.0 + DAY),
        reason: "pindah tugas".into(),
    });
    let sig = sign(&ppspm, &snap);
    let presented = Presented::of(&sig).unwrap();
    let creds = [ppspm.credential.clone()];
    let doc = doc_of(&snap);
    assert_eq!(
        judge_signature(&doc, &presented, &creds, Moment::At(RECEIVED)),
        Ok(Ppspm)
    );
    assert!(matches!(
        judge_signature(&doc, &presented, &creds, Moment::Pending(RECEIVED)),
        Err(SignatureRefusal::Revoked { .. })
    ));
    assert!(matches!(
        may_sign(
            &ppspm.credential,
            DocKind::Spm,
            SATKER,
            &Policy::default(),
            Moment::Pending(RECEIVED)
        ),
        Err(SignatureRefusal::Revoked { .. })
    ));
}

#[test]
fn an_expired_or_not_yet_valid_certificate_does_not_count() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let mut expired = certify("019-000001", Ppspm, SATKER);
    expired.credential.certificate.valid_until = Timestamp(RECEIVED.0 - 1);
    let mut early = certify("019-000002", Ppspm, SATKER);
    early.credential.certificate.valid_from = Timestamp(RECEIVED.0 + 1);
    for s in [&expired, &early] {
        let j = judge(&snap, &[sign(s, &snap)], &[s], &Policy::default());
        assert_eq!(
            j.first_refusal().map(|(_, r)| r.clone()),
            Some(SignatureRefusal::NotValid {
                serial: s.credential.certificate.serial.clone(),
                at: RECEIVED,
            })
        );
        assert!(j.complete.is_err());
    }
    // Valid from and until are both inside the validity.
    let mut edges = certify("019-000003", Ppspm, SATKER);
    edges.credential.certificate.valid_from = RECEIVED;
    edges.credential.certificate.valid_until = RECEIVED;
    let j = judge(&snap, &[sign(&edges, &snap)], &[&edges], &Policy::default());
    assert_eq!(j.complete, Ok(()));
}

#[test]
fn a_signature_made_with_another_key_than_the_certificates_does_not_count() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let ppspm = certify("019-000001", Ppspm, SATKER);
    let forged = sign_with(&SecretKey::generate(), &ppspm, Ppspm, &snap);
    let j = judge(&snap, &[forged], &[&ppspm], &Policy::default());
    assert_eq!(
        j.first_refusal().unwrap().1.to_string(),
        "signature was not made with the key of certificate 019-000001"
    );
    assert!(j.complete.is_err());
}

#[test]
fn a_certificate_of_another_satker_does_not_count_for_this_satkers_document() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let elsewhere = certify("019-000009", Ppspm, "654321");
    let j = judge(
        &snap,
        &[sign(&elsewhere, &snap)],
        &[&elsewhere],
        &Policy::default(),
    );
    assert_eq!(
        j.first_refusal().unwrap().1,
        &SignatureRefusal::OtherSatker {
            serial: "019-000009".into(),
            certified: "654321".into(),
            document: SATKER.into(),
        }
    );
    assert!(j.complete.is_err());
}

#[test]
fn a_signature_claiming_another_jabatan_than_the_certificates_does_not_count() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let bendahara = certify("019-000001", Bendahara, SATKER);
    let claim = sign_with(&bendahara.key, &bendahara, Ppspm, &snap);
    let j = judge(&snap, &[claim], &[&bendahara], &Policy::default());
    assert_eq!(
        j.first_refusal().unwrap().1.to_string(),
        "certificate 019-000001 is for Bendahara, not PPSPM"
    );
    assert!(j.complete.is_err(), "the claimed PPSPM must not count");
}

#[test]
fn a_signature_over_another_version_or_naming_another_document_does_not_count() {
    let ppspm = certify("019-000001", Ppspm, SATKER);
    let first = snapshot(DocKind::Spm, "spm-1");
    let second = snapshot(DocKind::Spm, "spm-1");
    let j = judge(
        &second,
        &[sign(&ppspm, &first)],
        &[&ppspm],
        &Policy::default(),
    );
    assert!(matches!(
        j.first_refusal(),
        Some((0, SignatureRefusal::OtherSnapshot { .. }))
    ));
    // Over this very snapshot, but naming another document id.
    let snap = snapshot(DocKind::Spm, "spm-1");
    let mut renamed = match sign(&ppspm, &snap).item {
        Item::Signature(s) => s,
        _ => unreachable!(),
    };
    renamed.doc_id = "spm-2".into();
    let renamed = SignedItem::seal(Item::Signature(renamed), &ppspm.key);
    let j = judge(&snap, &[renamed], &[&ppspm], &Policy::default());
    assert!(matches!(
        j.first_refusal(),
        Some((0, SignatureRefusal::OtherDocument { .. }))
    ));
}

#[test]
fn a_signature_under_a_certificate_the_node_does_not_hold_does_not_count() {
    let snap = snapshot(DocKind::Spm, "spm-1");
    let ppspm = certify("019-000001", Ppspm, SATKER);
    let j = judge(&snap, &[sign(&ppspm, &snap)], &[], &Policy::default());
    assert_eq!(
        j.first_refusal().unwrap().1,
        &SignatureRefusal::UnknownCertificate {
            serial: "019-000001".into()
        }
    );
}

#[test]
fn one_bad_signature_does_not_stop_the_good_ones_from_counting() {
    let snap = snapshot(DocKind::LpjBendahara, "lpj-1");
    let bendahara = certify("019-000001", Bendahara, SATKER);
    let mut kpa = certify("019-000002", Kpa, SATKER);
    kpa.credential.revocation = Some(CertRevocation {
        at: Timestamp(RECEIVED.0 - 1),
        reason: "pensiun".into(),
    });
    let ppk = certify("019-000003", Ppk, SATKER);
    let sigs = [
        sign(&bendahara, &snap),
        sign(&kpa, &snap),
        sign(&ppk, &snap),
    ];
    let j = judge(&snap, &sigs, &[&bendahara, &kpa, &ppk], &Policy::default());
    assert_eq!(j.signatures[0], Ok(Bendahara));
    assert!(j.signatures[1].is_err());
    assert_eq!(j.signatures[2], Ok(Ppk));
    assert_eq!(j.complete, Ok(()));
}

#[test]
fn a_certificate_may_sign_only_kinds_whose_rule_names_its_jabatan() {
    let ppk = certify("019-000001", Ppk, SATKER);
    let p = Policy::default();
    let now = Moment::Pending(RECEIVED);
    assert_eq!(
        may_sign(&ppk.credential, DocKind::Kontrak, SATKER, &p, now),
        Ok(())
    );
    assert_eq!(
        may_sign(&ppk.credential, DocKind::LpjBendahara, SATKER, &p, now),
        Ok(())
    );
    assert_eq!(
        may_sign(&ppk.credential, DocKind::Spm, SATKER, &p, now)
            .unwrap_err()
            .to_string(),
        "a spm must be signed by PPSPM; certificate 019-000001 belongs to a PPK"
    );
    assert!(matches!(
        may_sign(&ppk.credential, DocKind::Kontrak, "654321", &p, now),
        Err(SignatureRefusal::OtherSatker { .. })
    ));
    let mut expired = certify("019-000002", Ppk, SATKER);
    expired.credential.certificate.valid_until = Timestamp(RECEIVED.0 - 1);
    assert!(matches!(
        may_sign(&expired.credential, DocKind::Kontrak, SATKER, &p, now),
        Err(SignatureRefusal::NotValid { .. })
    ));
}
