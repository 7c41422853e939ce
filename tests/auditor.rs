//! Authorization at both ends: a satker receives only its own satker's items, an auditor
//! receives only its scope and verifies it offline, and an auditor node refuses every
//! local write. Real `espm` processes, real QUIC on loopback, real sled stores.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

fn sync(node: &Espm) -> Value {
    node.ok(&["sync", "--timeout", SYNC_TIMEOUT])
}

/// One SPM of the default satker, approved at the KPPN.
fn approved_spm(hub: &Hub, satker: &Satker) -> String {
    let ppspm = provision_signers(hub, satker).ppspm;
    approve_spm(hub, satker, &ppspm, "00001/SPM/2026")
}

#[test]
fn an_auditor_receives_its_scope_only_and_verifies_it_offline() {
    let hub = start_hub();
    let satker_a = satker(&hub);
    let doc = approved_spm(&hub, &satker_a);
    let in_scope = auditor(&hub, SATKER_CODE);
    let elsewhere = auditor(&hub, "999001");

    // One sync learns the scope from the auditor's own enrollment and follows it.
    let got = sync(&in_scope);
    assert!(got["received_items"].as_u64().unwrap_or(0) > 3, "{got}");
    let status = in_scope.ok(&["status", &doc]);
    assert_eq!(str_of(&status, "state"), "approved", "{status}");
    let verified = in_scope.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");

    sync(&elsewhere);
    let err = elsewhere.fail(&["status", &doc]);
    assert!(err.contains(&doc), "{err}");
    let all = elsewhere.ok(&["status"]);
    assert_eq!(all.as_array().map(Vec::len), Some(0), "{all}");
}

#[test]
fn a_satker_never_receives_another_satkers_documents() {
    let hub = start_hub();
    let satker_a = satker(&hub);
    let doc = approved_spm(&hub, &satker_a);
    let satker_b = satker_with_code(&hub, "654321");
    sync(&satker_b);
    let err = satker_b.fail(&["status", &doc]);
    assert!(err.contains(&doc), "{err}");
    let all = satker_b.ok(&["status"]);
    assert_eq!(all.as_array().map(Vec::len), Some(0), "{all}");
}

#[test]
fn an_auditor_node_refuses_every_local_write() {
    let hub = start_hub();
    let auditor = auditor(&hub, SATKER_CODE);
    let auditor_id = auditor.node_id.clone();
    sync(&auditor);
    let writes: Vec<Vec<&str>> = vec![
        vec!["draft", "new", "spm", "--set", "nomor=1"],
        vec!["draft", "set", "spm-000000000000", "nomor=2"],
        vec!["sign", "spm-000000000000", "--signer", "019-000001"],
        vec![
            "submit",
            "spm-000000000000",
            "--operator",
            "operator01",
            "--totp",
            "123456",
        ],
        vec![
            "signer",
            "request",
            "--name",
            "Siti",
            "--nip",
            "198001012005012001",
            "--nik",
            "3171234567890123",
            "--jabatan",
            "ppspm",
            "--email",
            "siti@kemenkeu.go.id",
        ],
        vec![
            "operator",
            "add",
            "--username",
            "operator01",
            "--role",
            "operator-satker",
        ],
        vec!["enroll", &auditor_id, "--satker", SATKER_CODE],
        vec!["certs", "approve", "abc"],
        vec!["devices", "revoke", &auditor_id, "--reason", "x"],
        vec!["take", "spm-000000000000"],
        vec!["reject", "spm-000000000000", "--reason", "x"],
    ];
    for args in writes {
        let err = auditor.fail_with(&args, Some(PASSPHRASE));
        assert!(
            err.contains("read-only auditor node"),
            "`{}` on an auditor should be refused as a write: {err}",
            args.join(" ")
        );
    }
}
