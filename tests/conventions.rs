//! End-to-end: the CLI conventions people know from other tools, with real `espm`
//! processes. A value outside a known set is a usage error (exit 2) listing the valid
//! values, also when a node is serving; `-q` keeps the answer; `espm id` is bare; unique
//! prefixes of ids are accepted and ambiguous ones refused; times for people are local.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

/// Runs without `--json` and returns (exit code, stdout, stderr).
fn plain(node: &Espm, args: &[&str]) -> (Option<i32>, String, String) {
    let out = node.run_plain(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a usage error (exit 2) whose message names the bad value and lists `valid`.
fn assert_usage_error(node: &Espm, args: &[&str], bad: &str, valid: &[&str]) {
    let (code, stdout, stderr) = plain(node, args);
    let what = format!("espm {}", render(args));
    assert_eq!(
        code,
        Some(2),
        "{what} should exit 2\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(bad),
        "{what}: the bad value is not named: {stderr}"
    );
    for v in valid {
        assert!(stderr.contains(v), "{what}: `{v}` is not listed: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{what} panicked: {stderr}");
}

const KINDS: [&str; 11] = [
    "spm",
    "spm-koreksi",
    "spm-kp",
    "spm-kpbb",
    "spm-kbc",
    "spm-ib",
    "spm-bphtb",
    "kontrak",
    "rpd-harian",
    "gaji",
    "lpj-bendahara",
];

fn bad_kind(node: &Espm) {
    assert_usage_error(node, &["draft", "new", "spp"], "spp", &KINDS);
}

/// Waits until a `serve` on `node` answers commands through its control socket.
fn wait_serving(node: &Espm, served: &mut Served) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.dir().join("control.sock").exists() {
        served.assert_alive();
        assert!(Instant::now() < deadline, "serve opened no control socket");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_kind_jabatan_role_or_stage_outside_its_set_is_a_usage_error_listing_the_valid_ones() {
    // The hub serves: `advance` goes to it through the control socket.
    let hub = start_hub();
    let satker = satker(&hub);

    bad_kind(&satker);
    assert_usage_error(
        &satker,
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
            "bendahara-pengeluaran",
            "--email",
            SITI.email,
        ],
        "bendahara-pengeluaran",
        &["kpa", "ppk", "ppspm", "bendahara", "kepala-kantor"],
    );
    assert_usage_error(
        &satker,
        &[
            "operator",
            "add",
            "--username",
            "operator01",
            "--role",
            "operator",
        ],
        "'operator'",
        &["operator-satker", "operator-bendahara"],
    );
    let doc = satker.new_spm("00001/SPM/2026", "1500000");
    for bad in ["diterima", "received", "draft", "APPROVED"] {
        assert_usage_error(
            &hub,
            &["advance", &doc, "--stage", bad],
            bad,
            &["konversi", "validasi", "reviu", "approved"],
        );
    }
    // Nothing was made of the refused commands.
    assert!(satker.ok(&["operators"]).as_array().unwrap().is_empty());
    assert!(satker.ok(&["signers"]).as_array().unwrap().is_empty());

    // The same through a serving satker's control socket.
    let mut served = Served::spawn(&satker);
    wait_serving(&satker, &mut served);
    bad_kind(&satker);
    assert_usage_error(
        &satker,
        &[
            "operator",
            "add",
            "--username",
            "operator01",
            "--role",
            "admin",
        ],
        "admin",
        &["operator-satker", "operator-bendahara"],
    );
    served.assert_alive();
}

#[test]
fn quiet_keeps_the_answer_of_draft_new_and_id_and_drops_the_chatter() {
    let hub = start_hub();
    let satker = satker(&hub);

    let (code, id, stderr) = plain(&satker, &["-q", "id"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(id, format!("{}\n", satker.node_id));

    let (code, doc, stderr) = plain(&satker, &["-q", "draft", "new", "spm"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "-q printed chatter on stderr: {stderr}");
    let doc = doc.trim_end_matches('\n');
    assert!(
        !doc.is_empty() && !doc.contains(' '),
        "not a bare doc id: {doc:?}"
    );
    // What -q printed is the id the other commands take.
    assert_eq!(satker.state(doc), "draft");

    // Without -q the same command says what it did.
    let (_, loud, _) = plain(&satker, &["draft", "new", "spm"]);
    assert!(loud.starts_with("Started spm draft "), "{loud}");

    // -q and -v together make no sense.
    let (code, _, stderr) = plain(&satker, &["-q", "-v", "id"]);
    assert_eq!(code, Some(2), "{stderr}");
}

#[test]
fn id_prints_the_bare_id_and_its_role_and_fingerprint_only_when_asked() {
    let hub = init_hub();
    let (code, stdout, stderr) = plain(&hub, &["id"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("{}\n", hub.id), "`espm id` is not bare");

    let (_, verbose, _) = plain(&hub, &["-v", "id"]);
    let key: sync_protocol::NodeId = hub.id.parse().unwrap();
    assert!(verbose.starts_with(&format!("{}\n", hub.id)), "{verbose}");
    assert!(verbose.contains("role: hub"), "{verbose}");
    assert!(
        verbose.contains(&format!("fingerprint: {}", key.fingerprint())),
        "{verbose}"
    );

    let json = hub.ok(&["id"]);
    assert_eq!(str_of(&json, "node_id"), hub.id);
    assert_eq!(str_of(&json, "role"), "hub");

    // Enrolling shows the fingerprint the device's owner compares with `id -v`.
    let device = init_satker(&hub.addr(), &hub.id);
    let (code, enrolled, stderr) =
        plain(&hub, &["enroll", &device.node_id, "--satker", SATKER_CODE]);
    assert_eq!(code, Some(0), "{stderr}");
    let device_key: sync_protocol::NodeId = device.node_id.parse().unwrap();
    assert!(enrolled.contains(&device_key.fingerprint()), "{enrolled}");
    let (_, device_id, _) = plain(&device, &["-v", "id"]);
    assert!(device_id.contains(&device_key.fingerprint()), "{device_id}");
}

#[test]
fn a_unique_prefix_of_an_id_is_accepted_and_an_ambiguous_one_refused_with_the_matches() {
    let hub = start_hub();
    let satker = satker(&hub);
    let requests = request_both(&satker);
    satker.sync();

    // A request id's first eight characters approve it.
    let ppspm = id_of(&hub.ok(&["certs", "approve", &requests.0[..8]]), "serial");
    let ppk = id_of(&hub.ok(&["certs", "approve", &requests.1]), "serial");

    // Both serials start with the KPPN code: that start names neither.
    let common: String = ppspm
        .chars()
        .zip(ppk.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(common.len() >= 4, "{ppspm} {ppk}");
    let refused = hub.fail(&["certs", "revoke", &common, "--reason", "hilang"]);
    assert!(refused.contains("more than one certificate"), "{refused}");
    assert!(
        refused.contains(&ppspm) && refused.contains(&ppk),
        "{refused}"
    );
    // Nothing was revoked by the refused prefix.
    satker.sync();
    let signers = satker.signers();
    assert!(
        signers.values().all(|(_, _, s)| s == "valid"),
        "{signers:?}"
    );

    // A device by the start of its node id.
    let v = hub.ok(&[
        "devices",
        "revoke",
        &satker.node_id[..12],
        "--reason",
        "hilang",
    ]);
    assert_eq!(str_of(&v, "node_id"), satker.node_id);
    // Revocations are told in the KPPN's local time.
    let (code, again, _) = plain(
        &hub,
        &["devices", "revoke", &satker.node_id[..12], "--reason", "x"],
    );
    assert_eq!(code, Some(1));
    assert!(again.is_empty());
    let err = hub.fail(&["devices", "revoke", &satker.node_id, "--reason", "x"]);
    assert!(
        err.contains("was already revoked on ") && err.contains(" WIB (hilang)"),
        "{err}"
    );
    let (code, revoked, stderr) = plain(&hub, &["certs", "revoke", &ppk, "--reason", "dimutasi"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(revoked.contains(" WIB: "), "{revoked}");
    // Too short to be a prefix: taken as a whole id, and refused as one.
    let err = hub.fail(&["devices", "revoke", &satker.node_id[..3], "--reason", "x"]);
    assert!(err.contains("is not a node id"), "{err}");
}

#[test]
fn times_for_people_are_in_the_kppn_zone_with_its_abbreviation_and_json_keeps_rfc3339() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let doc = satker.new_spm("00001/SPM/2026", "1500000");
    satker.sign(&doc, &serials.ppspm);

    let (code, status, stderr) = plain(&satker, &["status", &doc]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(status.contains(" WIB"), "status is not in WIB: {status}");
    let (_, shown, _) = plain(&satker, &["draft", "show", &doc]);
    assert!(
        shown
            .lines()
            // "… at 2026-03-02 10:15:00 WIB in PLACE"
            .any(|l| l.contains("signed by") && l.contains(" WIB in ")),
        "draft show's signature time is not in WIB: {shown}"
    );

    let json = satker.status(&doc);
    let at = json["history"][0]["at"].as_str().unwrap();
    assert!(at.ends_with('Z'), "JSON time is not RFC 3339 UTC: {at}");
}

/// Runs `espm --data-dir DIR ARGS…` on a terminal (`script` gives it one), typing
/// `typed` there; returns the exit code and what the terminal showed.
fn on_a_terminal(node: &Espm, args: &[&str], typed: &str) -> (Option<i32>, String) {
    let mut line = format!("'{BIN}' --data-dir '{}'", node.dir().display());
    for a in args {
        line.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
    }
    let mut cmd = std::process::Command::new(system_tool("script"));
    cmd.args(["-qec", &line, "/dev/null"])
        .env_remove("ESPM_PASSPHRASE")
        .env_remove("ESPM_DATA_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run script(1) for a terminal");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(typed.as_bytes()).expect("type");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
    )
}

#[test]
fn signer_request_on_a_terminal_asks_for_the_passphrase_twice_and_refuses_a_mismatch() {
    let satker = init_satker("127.0.0.1:9", &random_node_id());
    let args = [
        "-q",
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
    ];
    let (code, shown) = on_a_terminal(&satker, &args, &format!("{PASSPHRASE}\n{PASSPHRASE}x\n"));
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("Signer passphrase: "), "{shown}");
    assert!(shown.contains("Signer passphrase again: "), "{shown}");
    assert!(
        shown.contains("the two passphrases differ; nothing was done"),
        "{shown}"
    );

    let (code, shown) = on_a_terminal(&satker, &args, &format!("{PASSPHRASE}\n{PASSPHRASE}\n"));
    assert_eq!(code, Some(0), "{shown}");
    // -q: the request id alone after the prompts.
    let id = shown.lines().last().unwrap_or_default().trim();
    assert_eq!(id.len(), 32, "not a request id: {shown}");

    // Signing asks once: it unseals, it does not choose.
    let (_, shown) = on_a_terminal(
        &satker,
        &["sign", "spm-x", "--signer", "019-000001"],
        &format!("{PASSPHRASE}\n"),
    );
    assert_eq!(shown.matches("passphrase").count(), 1, "{shown}");
}
