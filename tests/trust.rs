//! Trust withdrawn: a lost device is blocked, a revoked certificate signs nothing new,
//! what the hub received before stays valid, and a guessed passphrase locks the signer.
//! Real `espm` processes, real QUIC on loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

/// A hub with one enrolled satker whose two signers are certified, and an operator.
fn provisioned() -> (Hub, Satker, Serials, String) {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    (hub, satker, serials, uri)
}

/// Drafts, signs (as PPSPM) and submits one SPM; returns its id.
fn signed_and_submitted(satker: &Satker, serials: &Serials, uri: &str, nomor: &str) -> String {
    let doc = satker.new_spm(nomor, "1500000");
    satker.sign(&doc, &serials.ppspm);
    satker.submit(&[&doc], uri);
    doc
}

#[test]
fn a_revoked_device_is_refused_and_what_it_delivered_stays_valid() {
    let (hub, satker, serials, uri) = provisioned();
    let doc = signed_and_submitted(&satker, &serials, &uri, "00001/SPM/2026");
    satker.sync();
    assert_eq!(satker.state(&doc), "delivered");

    let v = hub.ok(&[
        "devices",
        "revoke",
        &satker.node_id,
        "--reason",
        "laptop stolen from the satker office",
    ]);
    assert_eq!(str_of(&v, "node_id"), satker.node_id);

    // From now on the hub refuses it in the handshake.
    let late = signed_and_submitted(&satker, &serials, &uri, "00002/SPM/2026");
    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(
        err.contains("refused this device") && err.contains(&satker.node_id),
        "the refusal should name the device: {err}"
    );
    assert_ne!(satker.state(&late), "delivered");

    // What it delivered before stays: in the inbox, and verifying.
    let inbox = inbox(&hub);
    assert!(inbox.contains_key(&doc), "{inbox:?}");
    assert!(!inbox.contains_key(&late), "{inbox:?}");
    let verified = hub.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");

    let again = hub.fail(&["devices", "revoke", &satker.node_id, "--reason", "twice"]);
    assert!(err_names(&again, "already revoked"), "{again}");
}

#[test]
fn revoking_needs_a_known_target_and_a_reason() {
    let hub = start_hub();
    let stranger = random_node_id();
    let err = hub.fail(&["devices", "revoke", &stranger, "--reason", "lost"]);
    assert!(err_names(&err, "not enrolled"), "{err}");
    let err = hub.fail(&["certs", "revoke", "019-999999", "--reason", "moved"]);
    assert!(err_names(&err, "no certificate"), "{err}");
    let satker = satker(&hub);
    let err = hub.fail(&["devices", "revoke", &satker.node_id, "--reason", "  "]);
    assert!(err_names(&err, "--reason"), "{err}");
    // Only the registration authority revokes.
    let err = satker.fail(&["devices", "revoke", &satker.node_id, "--reason", "x"]);
    assert!(err_names(&err, "hub"), "{err}");
}

#[test]
fn only_the_kppn_registration_authority_enrolls_certifies_and_revokes() {
    let hub = start_hub();
    let satker = satker(&hub);
    for args in [
        vec!["certs", "requests"],
        vec!["certs", "approve", "1"],
        vec!["certs", "revoke", "019-000001", "--reason", "moved"],
        vec!["enroll", &satker.node_id, "--satker", "123456"],
    ] {
        let err = satker.fail(&args);
        assert!(
            err_names(&err, "runs on the KPPN hub; this node is a satker"),
            "{}: {err}",
            args.join(" ")
        );
    }
}

#[test]
fn a_revoked_certificate_cannot_sign_anything_new_once_the_device_has_seen_it() {
    let (hub, satker, serials, uri) = provisioned();
    let before = signed_and_submitted(&satker, &serials, &uri, "00001/SPM/2026");
    satker.sync();
    assert_eq!(satker.state(&before), "delivered");

    let v = hub.ok(&[
        "certs",
        "revoke",
        &serials.ppspm,
        "--reason",
        "PPSPM moved to another satker",
    ]);
    assert_eq!(str_of(&v, "serial"), serials.ppspm);
    satker.sync();

    let signers = satker.signers();
    assert_eq!(signers["ppspm"].2, "revoked", "{signers:?}");
    let doc = satker.new_spm("00002/SPM/2026", "900000");
    let err = satker.fail_with(
        &["sign", &doc, "--signer", &serials.ppspm],
        Some(PASSPHRASE),
    );
    assert!(
        err.contains("revoked") && err.contains("PPSPM moved to another satker"),
        "the refusal should say it was revoked and why: {err}"
    );
    // The document signed and delivered before the revocation still verifies, on the
    // hub and on the satker.
    for node in [&hub.espm, &satker.espm] {
        let verified = node.ok(&["verify"]);
        assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    }
}

#[test]
fn a_signature_made_offline_before_the_revocation_reached_the_device_is_refused_by_the_hub() {
    let (hub, satker, serials, uri) = provisioned();
    // Signed and queued while offline; meanwhile the CSO revokes the certificate.
    let doc = signed_and_submitted(&satker, &serials, &uri, "00001/SPM/2026");
    hub.ok(&[
        "certs",
        "revoke",
        &serials.ppspm,
        "--reason",
        "key may be compromised",
    ]);
    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(err.contains("refused"), "{err}");
    let status = satker.status(&doc);
    assert_eq!(str_of(&status, "state"), "rejected", "{status}");
    let reasons = status.to_string();
    assert!(
        reasons.contains("revoked") && reasons.contains("key may be compromised"),
        "the satker should see why: {status}"
    );
    assert!(!inbox(&hub).contains_key(&doc));
}

#[test]
fn five_wrong_passphrases_lock_the_signer_on_this_device() {
    let (_hub, satker, serials, _uri) = provisioned();
    let doc = satker.new_spm("00001/SPM/2026", "1200000");
    let sign = ["sign", doc.as_str(), "--signer", serials.ppspm.as_str()];
    for left in (1..=4).rev() {
        let err = satker.fail_with(&sign, Some("salah-tebak"));
        assert!(err.contains("wrong passphrase"), "{err}");
        assert!(err.contains(&format!("{left} more")), "{err}");
    }
    let err = satker.fail_with(&sign, Some("salah-tebak"));
    assert!(err.contains("locked") && err.contains("until"), "{err}");
    // Even the right passphrase waits out the lock.
    let err = satker.fail_with(&sign, Some(PASSPHRASE));
    assert!(err.contains("is locked"), "{err}");
    assert_eq!(satker.state(&doc), "draft");
    // The other signer on the same device is not affected.
    let mut new_kontrak = vec!["draft", "new", "kontrak"];
    for set in [
        "nomor=KTR-01/2026",
        "tanggal=2026-03-02",
        "nilai=45000000",
        "uraian=Pengadaan laptop",
        "penyedia=CV Maju Jaya",
        "rekening=1234567890",
        "npwp=012345678901234",
        "mulai=2026-03-02",
        "selesai=2026-06-30",
    ] {
        new_kontrak.extend(["--set", set]);
    }
    let kontrak = id_of(&satker.ok(&new_kontrak), "doc_id");
    let err = satker.fail_with(
        &["sign", &kontrak, "--signer", &serials.ppk],
        Some("salah-tebak"),
    );
    assert!(err.contains("4 more"), "{err}");
}

/// Whether a plain error sentence mentions `what` (case-insensitive).
fn err_names(err: &str, what: &str) -> bool {
    err.to_lowercase().contains(&what.to_lowercase())
}

#[test]
fn a_signer_request_with_a_bad_field_is_refused_naming_the_field() {
    let hub = start_hub();
    let satker = satker(&hub);
    let good = [
        ("--name", "Siti Rahma"),
        ("--nip", "198001012005012001"),
        ("--nik", "3171234567890123"),
        ("--jabatan", "ppspm"),
        ("--email", "siti@kemenkeu.go.id"),
    ];
    let cases = [
        ("--nip", "19800101200501200", "NIP"),
        ("--nip", "1980010120050120AB", "NIP"),
        ("--nik", "317123456789012", "NIK"),
        ("--email", "siti@gmail.com", "e-mail"),
        ("--name", " ", "name"),
    ];
    for (flag, bad, field) in cases {
        let mut args = vec!["signer", "request"];
        for (f, v) in &good {
            args.push(f);
            args.push(if *f == flag { bad } else { v });
        }
        let err = satker.fail_with(&args, Some(PASSPHRASE));
        assert!(
            err_names(&err, field),
            "{flag} {bad:?} should be refused naming {field}: {err}"
        );
    }
    // A jabatan outside the five is a usage error (exit 2) listing them.
    let mut args = vec!["signer", "request"];
    for (f, v) in &good {
        args.push(f);
        args.push(if *f == "--jabatan" { "bupati" } else { v });
    }
    let out = satker.run_with(&args, Some(PASSPHRASE));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bupati") && err.contains("kpa, ppk, ppspm, bendahara, kepala-kantor"),
        "{err}"
    );
    let signers = satker.ok(&["signers"]);
    assert_eq!(signers.as_array().map(Vec::len), Some(0), "{signers}");
}

/// `submit DOC --operator operator01 --totp CODE`, which must fail; returns stderr.
fn submit_refused(satker: &Satker, doc: &str, code: &str) -> String {
    satker.fail(&["submit", doc, "--operator", OPERATOR, "--totp", code])
}

/// `submit DOC --operator operator01 --totp CODE`, which must succeed.
fn submit_with(satker: &Satker, doc: &str, code: &str) {
    let v = satker.ok(&["submit", doc, "--operator", OPERATOR, "--totp", code]);
    assert!(!id_of(&v, "submission_id").is_empty(), "{v}");
    assert_eq!(satker.state(doc), "queued", "{v}");
}

/// A signed SPM, ready to submit.
fn signed_spm(satker: &Satker, serials: &Serials, nomor: &str) -> String {
    let doc = satker.new_spm(nomor, "2500000");
    satker.sign(&doc, &serials.ppspm);
    doc
}

#[test]
fn a_security_code_one_step_early_or_late_is_accepted_and_two_steps_old_is_refused() {
    let (_hub, satker, serials, uri) = provisioned();
    let late_phone = signed_spm(&satker, &serials, "00001/SPM/2026");
    submit_with(&satker, &late_phone, &totp_code_steps_away(&uri, -1));
    let early_phone = signed_spm(&satker, &serials, "00002/SPM/2026");
    submit_with(&satker, &early_phone, &totp_code_steps_away(&uri, 1));

    let stale = signed_spm(&satker, &serials, "00003/SPM/2026");
    let err = submit_refused(&satker, &stale, &totp_code_steps_away(&uri, -2));
    assert_eq!(
        err.trim_end(),
        format!(
            "error: the security code for operator {OPERATOR} is wrong or expired; nothing was done. Try again (4 more wrong attempt(s) lock it for 5 minutes)"
        )
    );
    assert_eq!(satker.state(&stale), "signed");
}

#[test]
fn a_used_security_code_is_refused_the_second_time() {
    let (_hub, satker, serials, uri) = provisioned();
    let first = signed_spm(&satker, &serials, "00001/SPM/2026");
    let second = signed_spm(&satker, &serials, "00002/SPM/2026");
    // Both codes are taken in one step with at least 10 s of it left, so the earlier
    // one stays inside the one-step drift allowance for the three submits.
    let code = totp_code_steps_away(&uri, 0);
    let earlier = totp_code_steps_away(&uri, -1);
    submit_with(&satker, &first, &code);

    let err = submit_refused(&satker, &second, &code);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: the security code for operator {OPERATOR} was already used; nothing was submitted. Wait for the next code in the authenticator app"
        )
    );
    // A code from before the used one is as spent as the used one itself.
    let err = submit_refused(&satker, &second, &earlier);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: the security code for operator {OPERATOR} is older than one already used; nothing was submitted. Wait for the next code in the authenticator app"
        )
    );
    let status = satker.status(&second);
    assert_eq!(str_of(&status, "state"), "signed", "{status}");
    // Nothing was queued for it: the next sync delivers the first document only.
    satker.sync();
    assert_eq!(satker.state(&first), "delivered");
    assert_eq!(satker.state(&second), "signed");
}
