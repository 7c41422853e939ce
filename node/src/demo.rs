//! `espm demo`: a hub and a satker on loopback in a temporary directory, one PPSPM and
//! one SPM walked through its whole journey. Every step runs the real `espm` binary as
//! a separate process, exactly as a person would type it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::error::{NodeError, Result};

const PASSPHRASE: &str = "demo-passphrase-ppspm";

struct Step<'a> {
    exe: &'a Path,
    n: usize,
}

impl Step<'_> {
    fn run(
        &mut self,
        who: &str,
        dir: &Path,
        what: &str,
        args: &[&str],
    ) -> Result<serde_json::Value> {
        self.n += 1;
        println!("\n[{:>2}] {who}: {what}", self.n);
        println!("     $ espm {}", args.join(" "));
        let out = Command::new(self.exe)
            .arg("--data-dir")
            .arg(dir)
            .arg("--json")
            .args(args)
            .env("ESPM_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .output()
            .map_err(NodeError::io("cannot run espm"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(NodeError::user(format!(
                "demo step {} failed: {}",
                self.n,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
        for line in serde_json::to_string_pretty(&v).unwrap_or_default().lines() {
            println!("     {line}");
        }
        Ok(v)
    }
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
    let satker = tmp.path().join("satker-123456");
    let port = free_udp_port()?;
    let addr = format!("127.0.0.1:{port}");
    println!(
        "espm demo: a KPPN hub and one satker on loopback, in {}",
        tmp.path().display()
    );
    println!("One SPM goes from draft to approved. Every step is a real `espm` command.");
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
            "Asia/Jakarta",
            "--listen",
            &addr,
            "--after-hours-quota",
            "100",
        ],
    )?;
    let hub_id = text(&v, "node_id")?;
    println!("\n[ *] KPPN: start the hub (`espm serve`) in the background");
    let log = std::fs::File::create(tmp.path().join("hub.log"))
        .map_err(NodeError::io("cannot create hub.log"))?;
    let _served = Served(
        Command::new(&exe)
            .arg("--data-dir")
            .arg(&hub)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(NodeError::io("cannot start the hub"))?,
    );
    let v = s.run(
        "Satker",
        &satker,
        "create the satker node, pinned to the hub id",
        &[
            "init", "satker", "--satker", "123456", "--hub", &addr, "--hub-id", &hub_id,
        ],
    )?;
    let satker_id = text(&v, "node_id")?;
    s.run(
        "KPPN CSO",
        &hub,
        "enroll the satker's device",
        &["enroll", &satker_id, "--satker", "123456"],
    )?;
    let v = s.run(
        "PPSPM",
        &satker,
        "make a signing key on the satker device (sealed under a passphrase) and request a certificate",
        &["signer", "request", "--name", "Siti Rahma", "--nip", "198001012005012001", "--nik", "3171234567890123", "--jabatan", "ppspm", "--email", "siti.rahma@kemenkeu.go.id"],
    )?;
    let request_id = text(&v, "request_id")?;
    let v = s.run(
        "Satker",
        &satker,
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
    // The hub needs a moment to start listening; retry the first sync briefly.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match s.run(
            "Satker",
            &satker,
            "sync: the certificate and operator requests travel to the hub over QUIC",
            &["sync", "--timeout", "10"],
        ) {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                println!("     (hub not ready yet: {e})");
                tokio::time::sleep(Duration::from_millis(500)).await;
                s.n -= 1;
            }
            Err(e) => return Err(e),
        }
    }
    s.run(
        "KPPN CSO",
        &hub,
        "list pending certificate requests",
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
        "list pending operator activation requests",
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
        &satker,
        "sync: the certificate and the operator's activation come back",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &satker,
        "the PPSPM's certificate is usable on this device",
        &["signers"],
    )?;
    s.run(
        "Satker",
        &satker,
        "the operator is active on this device now",
        &["operators"],
    )?;
    let v = s.run(
        "Operator",
        &satker,
        "draft an SPM",
        &[
            "draft",
            "new",
            "spm",
            "--set",
            "nomor=00001/SPM/123456/2026",
            "--set",
            "tanggal=2026-03-02",
            "--set",
            "jenis=LS",
            "--set",
            "nilai=15000000",
            "--set",
            "akun=521211:15000000",
            "--set",
            "penerima=CV Maju Jaya",
            "--set",
            "rekening=1234567890",
            "--set",
            "npwp=012345678901234",
        ],
    )?;
    let doc = text(&v, "doc_id")?;
    s.run(
        "Operator",
        &satker,
        "edit the draft",
        &["draft", "set", &doc, "uraian=Belanja alat tulis kantor"],
    )?;
    s.run("Operator", &satker, "review it", &["draft", "show", &doc])?;
    s.run(
        "PPSPM",
        &satker,
        "sign the SPM with the passphrase-protected key",
        &["sign", &doc, "--signer", &serial],
    )?;
    let code = totp_rs::TOTP::from_url(&uri)
        .map_err(|e| NodeError::user(format!("demo: bad otpauth URI: {e}")))?
        .generate_current()
        .map_err(|e| NodeError::user(format!("demo: clock error: {e}")))?;
    s.run(
        "Operator",
        &satker,
        &format!("submit with the current security code {code}"),
        &["submit", &doc, "--operator", "operator01", "--totp", &code],
    )?;
    s.run(
        "Satker",
        &satker,
        "sync: the hub verifies certificate, signature and policy, and receipts it",
        &["sync"],
    )?;
    s.run("Satker", &satker, "the SPM is delivered", &["status", &doc])?;
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
        &satker,
        "sync: the KPPN's status updates come back",
        &["sync"],
    )?;
    s.run(
        "Satker",
        &satker,
        "the whole journey, as the satker sees it",
        &["status", &doc],
    )?;
    s.run(
        "Satker",
        &satker,
        "verify every stored item offline",
        &["verify"],
    )?;
    s.run(
        "KPPN",
        &hub,
        "verify the hub's items and its hash-chained log",
        &["verify"],
    )?;
    println!("\nDone: SPM {doc} went draft → signed → queued → delivered → received → konversi → validasi → reviu → approved.");
    Ok(())
}
