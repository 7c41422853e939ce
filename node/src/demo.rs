//! `espm demo`: a KPPN hub, two devices of one satker and an auditor on loopback in a
//! temporary directory; one SPM walked through its whole journey. Every step runs the
//! real `espm` binary as a separate process, and is printed as the command a person
//! would paste (quoted for a POSIX shell) with its short result, never a whole JSON
//! document.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Parser;

use crate::error::{NodeError, Result};

const PASSPHRASE: &str = "demo-passphrase-ppspm";

/// The demo hub's time zone (WIB).
const DEMO_TZ: &str = "Asia/Jakarta";

/// The satker every device of the demo belongs to.
const SATKER: &str = "123456";

/// The fields of the demo's SPM, as `--set FIELD=VALUE` pairs: the one place they are
/// written, so a change to the field schema changes only this list.
fn spm_fields() -> Vec<String> {
    [
        "nomor=00001/SPM/123456/2026",
        "tanggal=2026-03-02",
        "jenis=LS",
        "nilai=15000000",
        "akun=521211:15000000",
        "uraian=Belanja alat tulis kantor",
        "penerima=CV Maju Jaya",
        "rekening=1234567890",
        "npwp=012345678901234",
    ]
    .iter()
    .map(|f| f.to_string())
    .collect()
}

/// `arg` as a POSIX shell reads it back verbatim: bare when only safe characters,
/// else in single quotes (a quote inside closed, escaped and reopened).
pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@,+%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// One line for a command's JSON answer: its scalar values, a list's length and the
/// first few entries' identifiers, a journey's states.
pub fn short(v: &serde_json::Value) -> String {
    use serde_json::Value;
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.chars().count() > 72 => {
                Some(format!("{}…", s.chars().take(72).collect::<String>()))
            }
            // A time for people: in the demo hub's zone, as the CLI's text shows it.
            Value::String(s) => Some(match s.parse::<jiff::Timestamp>() {
                Ok(t) => crate::clock::local(sync_protocol::Timestamp(t.as_millisecond()), DEMO_TZ),
                Err(_) => s.clone(),
            }),
            // Counters that stayed at zero say nothing in one line.
            Value::Number(n) if n.as_u64() == Some(0) => None,
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn object(m: &serde_json::Map<String, Value>) -> String {
        let mut parts = Vec::new();
        for (k, v) in m {
            match v {
                Value::Array(a) if k == "history" => {
                    let states: Vec<_> = a.iter().filter_map(|h| h["state"].as_str()).collect();
                    parts.push(format!("history: {}", states.join(" → ")));
                }
                Value::Array(a) => parts.push(format!("{k}: {}", a.len())),
                Value::Object(o) => parts.push(format!("{k}: {}", o.len())),
                other => {
                    if let Some(s) = scalar(other) {
                        parts.push(format!("{k}: {s}"));
                    }
                }
            }
        }
        parts.join(", ")
    }
    match v {
        Value::Object(m) => object(m),
        Value::Array(a) if a.is_empty() => "none".to_string(),
        Value::Array(a) => {
            let mut out = format!("{} entr{}", a.len(), if a.len() == 1 { "y" } else { "ies" });
            for e in a.iter().take(3) {
                match e {
                    Value::Object(m) => out.push_str(&format!("\n       - {}", object(m))),
                    other => {
                        out.push_str(&format!("\n       - {}", scalar(other).unwrap_or_default()))
                    }
                }
            }
            out
        }
        Value::Null => "done".to_string(),
        other => scalar(other).unwrap_or_default(),
    }
}

struct Step<'a> {
    exe: &'a Path,
    n: usize,
}

impl Step<'_> {
    /// Prints step `what` by `who` as the command to paste, runs it on the node in
    /// `dir` with `--json`, prints its short result and returns the JSON.
    fn run(
        &mut self,
        who: &str,
        dir: &Path,
        what: &str,
        args: &[&str],
    ) -> Result<serde_json::Value> {
        self.n += 1;
        println!("\n[{:>2}] {who}: {what}", self.n);
        println!("     $ {}", pasteable(dir, args));
        let v = self.quiet(dir, args)?;
        println!("     → {}", short(&v));
        Ok(v)
    }

    /// Runs a command without printing it (a retry of the step just printed).
    fn quiet(&self, dir: &Path, args: &[&str]) -> Result<serde_json::Value> {
        let out = Command::new(self.exe)
            .arg("--data-dir")
            .arg(dir)
            .arg("--json")
            .args(args)
            .env("ESPM_PASSPHRASE", PASSPHRASE)
            .env_remove("ESPM_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .map_err(NodeError::io("cannot run espm"))?;
        if !out.status.success() {
            return Err(NodeError::user(format!(
                "demo step {} failed: {}",
                self.n,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null))
    }
}

/// The command line of a step as a person pastes it: the passphrase a command asks for
/// in front (the demo's own, never a real one), every argument quoted for the shell.
fn pasteable(dir: &Path, args: &[&str]) -> String {
    let needs =
        crate::cli::Cli::try_parse_from(std::iter::once("espm").chain(args.iter().copied()))
            .ok()
            .and_then(|c| c.command.needs_passphrase());
    let mut line = String::new();
    if needs.is_some() {
        line.push_str(&format!("ESPM_PASSPHRASE={} ", shell_quote(PASSPHRASE)));
    }
    line.push_str("espm --data-dir ");
    line.push_str(&shell_quote(&dir.display().to_string()));
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    line
}

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> Result<u16> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0")
        .map_err(NodeError::io("cannot find a free UDP port"))?;
    Ok(s.local_addr()
        .map_err(NodeError::io("cannot find a free UDP port"))?
        .port())
}

fn text(v: &serde_json::Value, key: &str) -> Result<String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| NodeError::user(format!("demo: output has no '{key}'")))
}

/// Runs the demo, printing each step.
pub async fn run() -> Result<()> {
    let exe: PathBuf =
        std::env::current_exe().map_err(NodeError::io("cannot find the espm binary"))?;
    let tmp = tempfile::tempdir().map_err(NodeError::io("cannot create a temporary directory"))?;
    let hub = tmp.path().join("kppn-hub");
    let device_a = tmp.path().join("satker-123456-a");
    let device_b = tmp.path().join("satker-123456-b");
    let auditor = tmp.path().join("auditor");
    let port = free_udp_port()?;
    let addr = format!("127.0.0.1:{port}");
    println!(
        "espm demo: a KPPN hub, two devices of satker {SATKER} and an auditor on loopback, in {}",
        tmp.path().display()
    );
    println!("One SPM goes from draft to approved. Every step is a real `espm` command; paste it to run it yourself while the demo runs.");
    let mut s = Step { exe: &exe, n: 0 };

    let v = s.run(
        "KPPN",
        &hub,
        "create the hub (KPPN 019, WIB); the after-hours quota lets the demo run at any hour",
        &[
            "init",
            "hub",
            "--kppn",
            "019",
            "--name",
            "KPPN Kotabumi",
            "--tz",
            DEMO_TZ,
            "--listen",
            &addr,
            "--after-hours-quota",
            "100",
        ],
    )?;
    let hub_id = text(&v, "node_id")?;
    println!("\n[ *] KPPN: start the hub in the background");
    println!("     $ {} &", pasteable(&hub, &["serve"]));
    let log = std::fs::File::create(tmp.path().join("hub.log"))
        .map_err(NodeError::io("cannot create hub.log"))?;
    let _served = Served(
        Command::new(&exe)
            .arg("--data-dir")
            .arg(&hub)
            .arg("serve")
            .env_remove("ESPM_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(NodeError::io("cannot start the hub"))?,
    );
    let mut ids = Vec::new();
    for (dir, what) in [
        (
            &device_a,
            "create the satker's first device, pinned to the hub id",
        ),
        (&device_b, "create a second device of the same satker"),
    ] {
        let v = s.run(
            "Satker",
            dir,
            what,
            &[
                "init", "satker", "--satker", SATKER, "--hub", &addr, "--hub-id", &hub_id,
            ],
        )?;
        ids.push(text(&v, "node_id")?);
    }
    let v = s.run(
        "BPK",
        &auditor,
        "create a read-only auditor node",
        &["init", "auditor", "--hub", &addr, "--hub-id", &hub_id],
    )?;
    let auditor_id = text(&v, "node_id")?;
    for id in &ids {
        s.run(
            "KPPN CSO",
            &hub,
            "enroll a device of the satker",
            &["enroll", id, "--satker", SATKER],
        )?;
    }
    s.run(
        "KPPN CSO",
        &hub,
        "enroll the auditor, read-only, for this satker",
        &["enroll", &auditor_id, "--auditor", "--scope", SATKER],
    )?;
    let v = s.run(
        "PPSPM",
        &device_a,
        "make a signing key on device A (sealed under a passphrase) and request a certificate",
        &[
            "signer",
            "request",
            "--name",
            "Siti Rahma",
            "--nip",
            "198001012005012001",
            "--nik",
            "3171234567890123",
            "--jabatan",
            "ppspm",
            "--email",
            "siti.rahma@kemenkeu.go.id",
        ],
    )?;
    let request_id = text(&v, "request_id")?;
    let v = s.run(
        "Satker",
        &device_a,
        "add an operator: the TOTP secret is made (and sealed) on this device, and an activation request is queued for the KPPN",
        &[
            "operator",
            "add",
            "--username",
            "operator01",
            "--role",
            "operator-satker",
            "--sk-penunjukan",
            "SK KPA No. 12/2026",
        ],
    )?;
    let uri = text(&v, "otpauth_uri")?;
    let operator_request = text(&v, "request_id")?;
    let sync_args = ["sync", "--timeout", "10"];
    s.run(
        "Satker",
        &device_a,
        "sync: the certificate and operator requests travel to the hub over QUIC",
        &sync_args,
    )
    .or_else(|first| {
        // The hub needs a moment to start listening: retry this step briefly.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = first;
        while Instant::now() < deadline {
            println!("     (hub not ready yet; trying again)");
            std::thread::sleep(Duration::from_millis(500));
            match s.quiet(&device_a, &sync_args) {
                Ok(v) => {
                    println!("     → {}", short(&v));
                    return Ok(v);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    })?;
    s.run(
        "KPPN CSO",
        &hub,
        "pending certificate requests",
        &["certs", "requests"],
    )?;
    let v = s.run(
        "KPPN CSO",
        &hub,
        "approve the PPSPM's request",
        &["certs", "approve", &request_id],
    )?;
    let serial = text(&v, "serial")?;
    s.run(
        "KPPN CSO",
        &hub,
        "pending operator activation requests",
        &["operators", "requests"],
    )?;
    s.run(
        "KPPN CSO",
        &hub,
        "activate the operator, its SK Penunjukan checked",
        &["operators", "approve", &operator_request],
    )?;
    s.run(
        "Satker",
        &device_a,
        "sync: the certificate and the operator's activation come back",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &device_a,
        "the PPSPM's certificate is usable on device A",
        &["signers"],
    )?;
    s.run(
        "Satker",
        &device_a,
        "the operator is active on device A",
        &["operators"],
    )?;
    let mut new_spm = vec!["draft".to_string(), "new".to_string(), "spm".to_string()];
    for f in spm_fields() {
        new_spm.push("--set".to_string());
        new_spm.push(f);
    }
    let new_spm: Vec<&str> = new_spm.iter().map(String::as_str).collect();
    let v = s.run("Operator", &device_a, "draft an SPM on device A", &new_spm)?;
    let doc = text(&v, "doc_id")?;
    s.run("Operator", &device_a, "review it", &["draft", "show", &doc])?;
    s.run(
        "PPSPM",
        &device_a,
        "sign the SPM with the passphrase-protected key",
        &["sign", &doc, "--signer", &serial],
    )?;
    let code = totp_rs::TOTP::from_url(&uri)
        .map_err(|e| NodeError::user(format!("demo: bad otpauth URI: {e}")))?
        .generate_current()
        .map_err(|e| NodeError::user(format!("demo: clock error: {e}")))?;
    s.run(
        "Operator",
        &device_a,
        &format!("submit with the operator's current security code {code}"),
        &["submit", &doc, "--operator", "operator01", "--totp", &code],
    )?;
    s.run(
        "Satker",
        &device_a,
        "sync: the hub verifies certificate, signature and policy, and receipts it",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &device_a,
        "the SPM is delivered",
        &["status", &doc],
    )?;
    s.run("Operator KPPN", &hub, "the inbox", &["inbox"])?;
    s.run(
        "Operator KPPN",
        &hub,
        "take it in: the legal 'received' time",
        &["take", &doc],
    )?;
    for stage in ["konversi", "validasi", "reviu", "approved"] {
        s.run(
            "KPPN",
            &hub,
            &format!("advance to {stage}"),
            &["advance", &doc, "--stage", stage],
        )?;
    }
    s.run(
        "Satker",
        &device_a,
        "sync: the KPPN's status updates come back",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &device_a,
        "the whole journey, as device A sees it",
        &["status", &doc],
    )?;
    s.run(
        "Satker",
        &device_b,
        "sync device B: it learns the document and its journey from the hub",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &device_b,
        "the same journey on the second device",
        &["status", &doc],
    )?;
    s.run(
        "BPK",
        &auditor,
        "sync the auditor: it receives its scope, read-only",
        &["sync"],
    )?;
    s.run(
        "BPK",
        &auditor,
        "the journey as the auditor sees it",
        &["status", &doc],
    )?;
    s.run(
        "BPK",
        &auditor,
        "verify every item offline: signatures, certificates, the hub's log",
        &["verify"],
    )?;
    s.run(
        "KPPN",
        &hub,
        "verify the hub's items, its Merkle log and the checkpoints it signed",
        &["verify"],
    )?;
    let proof = tmp.path().join("bukti-pengiriman.json");
    let proof = proof.to_string_lossy();
    s.run(
        "Satker",
        &device_a,
        "write a delivery proof: receipt, inclusion proof and the hub's signed checkpoint",
        &["proof", &doc, "--out", &proof],
    )?;
    s.run(
        "BPK",
        &auditor,
        "check the delivery proof offline, against the pinned hub",
        &["check-proof", &proof],
    )?;
    println!("\nDone: SPM {doc} went draft → signed → queued → delivered → received → konversi → validasi → reviu → approved, seen alike on both devices and by the auditor.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_so_a_shell_reads_them_back_verbatim() {
        assert_eq!(shell_quote("spm"), "spm");
        assert_eq!(
            shell_quote("nomor=00001/SPM/123456/2026"),
            "nomor=00001/SPM/123456/2026"
        );
        assert_eq!(shell_quote("KPPN Kotabumi"), "'KPPN Kotabumi'");
        assert_eq!(
            shell_quote("take it in: the 'received' time"),
            "'take it in: the '\\''received'\\'' time'"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn a_result_is_one_short_line_not_a_json_document() {
        let v = serde_json::json!({ "doc_id": "spm-1", "state": "approved",
            "history": [{ "state": "draft", "at": "x" }, { "state": "signed", "at": "y" }] });
        assert_eq!(
            short(&v),
            "doc_id: spm-1, history: draft → signed, state: approved"
        );
        assert_eq!(short(&serde_json::json!([])), "none");
        assert!(!short(&v).contains('{'));
    }
}
