//! Signatures a rogue satker device pushes: each must name a snapshot the hub holds,
//! be made with the key of a certificate issued for that satker and jabatan, and match
//! its document.

use super::*;

#[test]
fn a_signature_with_the_signers_own_valid_certificate_is_stored() {
    // The control for the signature refusals below, which vary one thing each.
    let mut w = World::new();
    let scope = StreamId::Scope(SATKER.into());
    let head_before = w.hub.store.head(&scope).unwrap();
    let sealed = w.sign_spm();
    let head = w.hub.store.head(&scope).unwrap();
    assert_eq!(head, head_before + 1);
    let entry = w.hub.store.entry(&scope, head).unwrap().unwrap();
    assert_eq!(entry.address, sealed.address);
}

#[test]
fn a_signature_over_a_snapshot_the_hub_does_not_hold_is_refused() {
    // What the signature covers must be on the hub, or nobody could check it.
    let w = World::new();
    let unsent = snapshot(&w.rogue, SATKER);
    let sealed = signature(
        &w.ppspm.key,
        &w.ppspm.serial,
        Jabatan::Ppspm,
        &unsent.rec.doc_id,
        unsent.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &format!(
            "signature refers to snapshot {} the hub does not hold",
            unsent.snapshot.address.short()
        ),
    );
}

#[test]
fn a_signature_under_a_certificate_serial_the_hub_never_issued_is_refused() {
    let w = World::new();
    let sealed = signature(
        &w.ppspm.key,
        "019-999999",
        Jabatan::Ppspm,
        &w.spm.rec.doc_id,
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "certificate 019-999999 is unknown to the hub",
    );
}

#[test]
fn a_signature_made_with_another_key_than_the_certificates_is_refused() {
    // The device key is what the rogue holds without a passphrase; it is not a signer's.
    let w = World::new();
    let sealed = signature(
        &w.rogue,
        &w.ppspm.serial,
        Jabatan::Ppspm,
        &w.spm.rec.doc_id,
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &format!(
            "signature was not made with the key of certificate {}",
            w.ppspm.serial
        ),
    );
}

#[test]
fn a_signature_in_a_jabatan_the_certificate_is_not_for_is_refused_naming_both() {
    // A PPSPM may not also act as Bendahara by saying so in the signature.
    let w = World::new();
    let sealed = signature(
        &w.ppspm.key,
        &w.ppspm.serial,
        Jabatan::Bendahara,
        &w.spm.rec.doc_id,
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &format!("certificate {} is for PPSPM, not Bendahara", w.ppspm.serial),
    );
}

#[test]
fn a_signature_over_another_satkers_document_is_refused() {
    // The hub holds satker B's snapshot, and the rogue's PPSPM is valid, but only for
    // satker A's documents.
    let w = World::new();
    let sealed = signature(
        &w.ppspm.key,
        &w.ppspm.serial,
        Jabatan::Ppspm,
        &w.other_spm.rec.doc_id,
        w.other_spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "signature does not match its document",
    );
}

#[test]
fn a_signature_naming_another_document_than_the_snapshot_it_covers_is_refused() {
    // Otherwise a signature over one SPM could be shown as signing another.
    let w = World::new();
    let sealed = signature(
        &w.ppspm.key,
        &w.ppspm.serial,
        Jabatan::Ppspm,
        "spm-000000000000",
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        "signature does not match its document",
    );
}

#[test]
fn a_signature_under_another_satkers_certificate_is_refused_naming_both() {
    // A certificate binds a person to one satker. Even with that person's key in hand,
    // the rogue may not have satker B's PPSPM sign satker A's SPM.
    let w = World::new();
    let sealed = signature(
        &w.other_ppspm.key,
        &w.other_ppspm.serial,
        Jabatan::Ppspm,
        &w.spm.rec.doc_id,
        w.spm.snapshot.address,
    );
    assert_refused(
        &w.hub,
        &w.rogue,
        &sealed,
        &format!(
            "certificate {} is for satker {OTHER_SATKER}; this device is enrolled for satker {SATKER}",
            w.other_ppspm.serial
        ),
    );
}

// Items only the hub's authority issues.
