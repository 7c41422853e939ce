//! Operators are activated by the KPPN: `operator add` makes the TOTP secret on the
//! device (sealed, never in the clear) and queues a request; the CSO approves it on the
//! hub; only then does the operator submit. Revocation stops it on the device and at
//! the hub; five wrong codes in a row lock it. Real `espm` processes, real QUIC on
//! loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use std::{thread, time::Duration, time::Instant};

use serde_json::Value;
use support::*;

/// A hub with one enrolled satker whose signers are certified.
fn certified() -> (Hub, Satker, Serials) {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    (hub, satker, serials)
}

/// A signed SPM, ready to submit.
fn signed_spm(satker: &Satker, serials: &Serials, nomor: &str) -> String {
    let doc = satker.new_spm(nomor, "2500000");
    satker.sign(&doc, &serials.ppspm);
    doc
}

/// `submit DOC --operator USERNAME --totp CODE`, which must fail; returns stderr.
fn submit_refused(satker: &Satker, doc: &str, username: &str, code: &str) -> String {
    satker.fail(&["submit", doc, "--operator", username, "--totp", code])
}

fn status_of(satker: &Satker, username: &str) -> Option<String> {
    satker.operators().get(username).map(|(_, s)| s.clone())
}

#[test]
fn a_new_operator_submits_only_after_the_kppns_cso_approves_it() {
    let (hub, satker, serials) = certified();
    let (uri, request_id) = satker.request_operator(OPERATOR, "operator-satker");
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("pending"));
    let doc = signed_spm(&satker, &serials, "00001/SPM/2026");

    // A working code is not enough while the KPPN has not activated the operator.
    let err = submit_refused(&satker, &doc, OPERATOR, &fresh_totp_code(&uri));
    assert!(
        err.contains(&format!(
            "waits for the KPPN's CSO to approve request {request_id}"
        )),
        "{err}"
    );
    assert_eq!(satker.state(&doc), "signed");

    // The request reaches the hub at the next sync, and the CSO lists and approves it.
    assert_eq!(hub.ok(&["operators", "requests"]), Value::Array(vec![]));
    satker.sync();
    approve_operator(&hub, &request_id, OPERATOR, "operator-satker", SATKER_CODE);
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("pending"));
    satker.sync();
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("active"));

    satker.submit(&[&doc], &uri);
    satker.sync();
    assert_eq!(satker.state(&doc), "delivered");
}

#[test]
fn a_revoked_operator_is_refused_by_the_device_and_its_queued_submission_by_the_hub() {
    let (hub, satker, serials) = certified();
    let uri = satker.add_operator();
    // Queued before the device learns of the revocation.
    let queued = signed_spm(&satker, &serials, "00001/SPM/2026");
    satker.submit(&[&queued], &uri);

    let reason = "SK Penunjukan dicabut";
    let v = hub.ok(&[
        "operators",
        "revoke",
        OPERATOR,
        "--satker",
        SATKER_CODE,
        "--reason",
        reason,
    ]);
    assert_eq!(str_of(&v, "username"), OPERATOR);
    assert_eq!(str_of(&v, "satker"), SATKER_CODE);

    // The hub judges the submission by its arrival, after the revocation.
    let err = satker.fail(&["sync", "--timeout", SYNC_TIMEOUT]);
    assert!(
        err.contains(&format!(
            "operator {OPERATOR} of satker {SATKER_CODE} was revoked on"
        )) && err.contains(reason),
        "{err}"
    );
    assert_eq!(satker.state(&queued), "rejected");
    assert!(!inbox(&hub).contains_key(queued.as_str()));

    // The device learned of it in the same sync and refuses, naming the reason.
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("revoked"));
    let doc = signed_spm(&satker, &serials, "00002/SPM/2026");
    let err = submit_refused(&satker, &doc, OPERATOR, &fresh_totp_code(&uri));
    assert!(
        err.contains(&format!("operator {OPERATOR} was revoked on")) && err.contains(reason),
        "{err}"
    );
    assert_eq!(satker.state(&doc), "signed");

    // Added again, the operator gets a new secret and a new request to approve.
    let (new_uri, new_request) = satker.request_operator(OPERATOR, "operator-satker");
    assert_ne!(new_uri, uri);
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("pending"));
    satker.sync();
    let pending = hub.ok(&["operators", "requests"]);
    assert_eq!(
        pending
            .as_array()
            .map(|l| l.iter().map(|r| id_of(r, "request_id")).collect::<Vec<_>>()),
        Some(vec![new_request]),
        "{pending}"
    );
}

#[test]
fn five_wrong_codes_in_a_row_lock_the_operator_and_then_even_the_right_code_is_refused() {
    let (_hub, satker, serials) = certified();
    let uri = satker.add_operator();
    let doc = signed_spm(&satker, &serials, "00001/SPM/2026");
    let wrong = wrong_totp_code(&uri);
    for n in 1..=4u32 {
        let err = submit_refused(&satker, &doc, OPERATOR, &wrong);
        assert!(
            err.contains("is wrong or expired")
                && err.contains(&format!("({} more wrong attempt(s)", 5 - n)),
            "attempt {n}: {err}"
        );
    }
    let fifth = submit_refused(&satker, &doc, OPERATOR, &wrong);
    assert!(
        fifth.contains(&format!(
            "that was 5 in a row, so operator {OPERATOR} is locked on this device until"
        )),
        "{fifth}"
    );
    let locked = format!("operator {OPERATOR} is locked on this device until");
    let sixth = submit_refused(&satker, &doc, OPERATOR, &wrong);
    assert!(
        sixth.contains(&locked) && !sixth.contains("wrong or expired"),
        "{sixth}"
    );
    let right = submit_refused(&satker, &doc, OPERATOR, &fresh_totp_code(&uri));
    assert!(right.contains(&locked), "{right}");
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("locked"));
    assert_eq!(satker.state(&doc), "signed");
}

#[test]
fn eight_wrong_codes_at_once_through_a_serving_node_get_at_most_five_wrong_answers() {
    let (_hub, satker, serials) = certified();
    let uri = satker.add_operator();
    let doc = signed_spm(&satker, &serials, "00001/SPM/2026");
    let mut served = Served::spawn(&satker.espm);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !satker.dir().join("control.sock").exists() {
        served.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the satker's control socket never appeared"
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("active"));

    let wrong = wrong_totp_code(&uri);
    let answers: Vec<String> = thread::scope(|s| {
        let runs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let out =
                        satker.run(&["submit", &doc, "--operator", OPERATOR, "--totp", &wrong]);
                    assert!(!out.status.success(), "a wrong code was accepted");
                    String::from_utf8_lossy(&out.stderr).into_owned()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    served.assert_alive();
    let wrong_answers = answers
        .iter()
        .filter(|a| a.contains("is wrong or expired"))
        .count();
    let locked_answers = answers
        .iter()
        .filter(|a| a.contains("is locked on this device until") && !a.contains("wrong or expired"))
        .count();
    assert!(wrong_answers <= 5, "{answers:#?}");
    assert_eq!(wrong_answers + locked_answers, 8, "{answers:#?}");
    assert_eq!(status_of(&satker, OPERATOR).as_deref(), Some("locked"));
}

#[test]
fn the_data_directory_holds_no_totp_secret_in_the_clear() {
    let hub = start_hub();
    let satker = satker(&hub);
    let v = satker.ok(&[
        "operator",
        "add",
        "--username",
        OPERATOR,
        "--role",
        "operator-satker",
    ]);
    let uri = str_of(&v, "otpauth_uri");
    let base32 = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap_or_else(|| panic!("no secret in {uri}"))
        .to_string();
    let raw = totp_rs::TOTP::from_url(&uri)
        .unwrap_or_else(|e| panic!("{uri}: {e:?}"))
        .secret;
    assert!(raw.len() >= 16, "{} secret bytes", raw.len());

    let mut files = Vec::new();
    let mut dirs = vec![satker.dir().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().and_then(|n| n.to_str()) != Some("node.key")
                && path.is_file()
            {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let holds = |needle: &[u8]| {
        files
            .iter()
            .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
            .map(|(path, _)| path.display().to_string())
            .collect::<Vec<_>>()
    };
    // The username is stored in the clear with the operator, so finding it shows the
    // scan reads what the store wrote.
    assert!(!holds(OPERATOR.as_bytes()).is_empty());
    assert_eq!(holds(&raw), Vec::<String>::new());
    assert_eq!(holds(base32.as_bytes()), Vec::<String>::new());
    assert_eq!(
        holds(base32.to_ascii_lowercase().as_bytes()),
        Vec::<String>::new()
    );
    assert_eq!(holds(hex::encode(&raw).as_bytes()), Vec::<String>::new());
}

#[test]
fn an_operator_of_the_wrong_role_is_refused() {
    let (_hub, satker, serials) = certified();
    let uri = satker.add_operator_as("bendahara01", "operator-bendahara");
    let doc = signed_spm(&satker, &serials, "00001/SPM/2026");
    let err = submit_refused(&satker, &doc, "bendahara01", &fresh_totp_code(&uri));
    assert!(
        err.contains(
            "spm is submitted by an operator-satker; bendahara01 is an operator-bendahara"
        ),
        "{err}"
    );
    assert_eq!(satker.state(&doc), "signed");
}

#[test]
fn an_auditor_cannot_add_operators() {
    let hub = start_hub();
    let auditor = auditor(&hub, SATKER_CODE);
    let err = auditor.fail(&[
        "operator",
        "add",
        "--username",
        OPERATOR,
        "--role",
        "operator-satker",
    ]);
    assert!(err.contains("read-only auditor node"), "{err}");
    assert_eq!(hub.ok(&["operators", "requests"]), Value::Array(vec![]));
}
