//! The registration authority's key and the limits on guessing secrets: the hub's
//! authority key is sealed under the CSO's passphrase, so a copied data directory cannot
//! enroll devices or certify signers; wrong passphrases are counted before Argon2 runs,
//! also when guesses arrive in parallel through a serving node. Real `espm` processes,
//! real QUIC on loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use std::{sync::Arc, thread};

use serde_json::Value;
use support::*;

#[test]
fn a_copied_hub_data_directory_cannot_enroll_devices_or_certify_signers() {
    let hub = init_hub();
    let satker = init_satker(&hub.addr(), &hub.id);
    // Someone copies the hub's data directory off the machine (or reads it on the hub).
    let copy = hub.copy_data_dir("hub-copy");
    let err = copy.fail(&["enroll", &satker.node_id, "--satker", SATKER_CODE]);
    assert!(
        err.contains("needs the CSO's passphrase"),
        "without the passphrase the copy must not enroll: {err}"
    );
    let err = copy.fail_with(
        &["enroll", &satker.node_id, "--satker", SATKER_CODE],
        Some("tebakan-salah-sekali"),
    );
    assert!(err.contains("wrong CSO passphrase"), "{err}");
    let devices = copy.ok(&["verify"]);
    assert_eq!(devices["ok"], Value::Bool(true), "{devices}");
    // The CSO, with the passphrase, enrolls as before.
    let v = hub.ok(&["enroll", &satker.node_id, "--satker", SATKER_CODE]);
    assert_eq!(str_of(&v, "satker"), SATKER_CODE);
}

#[test]
fn five_wrong_cso_passphrases_lock_the_registration_authority() {
    let hub = start_hub();
    let device = random_node_id();
    let enroll = ["enroll", device.as_str(), "--satker", SATKER_CODE];
    for left in (1..=4).rev() {
        let err = hub.fail_with(&enroll, Some("tebakan-salah-CSO"));
        assert!(err.contains("wrong CSO passphrase"), "{err}");
        assert!(err.contains(&format!("{left} more")), "{err}");
    }
    let err = hub.fail_with(&enroll, Some("tebakan-salah-CSO"));
    assert!(err.contains("locked") && err.contains("until"), "{err}");
    let err = hub.fail(&enroll);
    assert!(
        err.contains("the registration authority is locked"),
        "even the right passphrase waits out the lock: {err}"
    );
}

#[test]
fn a_hub_is_not_created_without_a_cso_passphrase_of_ten_characters() {
    let espm = Espm::new("hub");
    let port = free_udp_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "init",
        "hub",
        "--kppn",
        KPPN_CODE,
        "--name",
        "KPPN Kotabumi",
        "--tz",
        "Asia/Jakarta",
        "--listen",
        listen.as_str(),
    ];
    let err = espm.fail(&args);
    assert!(err.contains("CSO's passphrase"), "{err}");
    let err = espm.fail_with(&args, Some("pendek"));
    assert!(err.contains("at least 10 characters"), "{err}");
    assert!(
        !espm.dir().join("node.key").exists(),
        "a refused init must leave no node behind"
    );
}

#[test]
fn a_signer_passphrase_shorter_than_ten_characters_is_refused() {
    let hub = start_hub();
    let satker = satker(&hub);
    let err = satker.fail_with(
        &[
            "signer",
            "request",
            "--name",
            SITI.name,
            "--nip",
            SITI.nip,
            "--nik",
            SITI.nik,
            "--jabatan",
            SITI.jabatan,
            "--email",
            SITI.email,
        ],
        Some("sembilan9"),
    );
    assert!(err.contains("at least 10 characters"), "{err}");
}

#[test]
fn re_enrolling_a_revoked_device_is_refused() {
    let hub = start_hub();
    let satker = satker(&hub);
    hub.ok(&[
        "devices",
        "revoke",
        &satker.node_id,
        "--reason",
        "laptop hilang",
    ]);
    let err = hub.fail(&["enroll", &satker.node_id, "--satker", SATKER_CODE]);
    assert!(
        err.contains("was revoked") && err.contains("laptop hilang"),
        "re-enrolling must be refused, naming the revocation: {err}"
    );
    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(err.contains("refused this device"), "{err}");
}

#[test]
fn certificate_request_ids_carry_128_bits() {
    let hub = start_hub();
    let satker = satker(&hub);
    let request = satker.request_signer(&SITI);
    assert_eq!(request.len(), 32, "request id {request}");
    assert!(request.bytes().all(|b| b.is_ascii_hexdigit()), "{request}");
    satker.sync();
    let pending = hub.ok(&["certs", "requests"]);
    assert_eq!(id_of(&pending[0], "request_id"), request, "{pending}");
}

#[test]
fn eight_wrong_passphrases_at_once_through_a_serving_node_check_at_most_five() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let doc = satker.new_spm("00001/SPM/2026", "1200000");
    let served = Served::spawn(&satker);
    wait_for_control_socket(&satker);
    let satker = Arc::new(satker);
    let guesses: Vec<_> = (0..8)
        .map(|_| {
            let (satker, doc, serial) = (satker.clone(), doc.clone(), serials.ppspm.clone());
            thread::spawn(move || {
                satker.fail_with(
                    &["sign", &doc, "--signer", &serial],
                    Some("tebakan-salah-lagi"),
                )
            })
        })
        .collect();
    let answers: Vec<String> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    let checked = answers
        .iter()
        .filter(|a| a.contains("wrong passphrase for certificate"))
        .count();
    assert!(
        checked <= 5,
        "{checked} guesses were checked against the key; at most five may be: {answers:#?}"
    );
    let err = satker.fail_with(
        &["sign", &doc, "--signer", &serials.ppspm],
        Some(PASSPHRASE),
    );
    assert!(err.contains("is locked"), "{err}");
    drop(served);
}

/// Waits until a node's `serve` answers on its control socket.
fn wait_for_control_socket(node: &Espm) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !node.dir().join("control.sock").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never opened its control socket"
        );
        thread::sleep(std::time::Duration::from_millis(50));
    }
    node.ok(&["status"]);
}
