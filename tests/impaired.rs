//! Sync across a bad link: a satker on the far side of a userspace UDP relay that
//! delays (300 ms ± 50 ms), drops 5%, limits to 256 kbit/s with a bounded queue, and
//! blacks out for 10 s three times in the middle of the transfer. Real `espm`
//! processes, real QUIC, real sled stores. Asserts correctness, never speed.

#[path = "support/mod.rs"]
mod support;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use espm_node::transport::impair::{Impairment, Relay, RelayConfig};
use serde_json::Value;
use support::*;

const DOCS: usize = 50;
const DOC_BYTES: usize = 10 * 1024;
const ATTACHMENT_BYTES: usize = 2 * 1024 * 1024;

fn poor_link() -> Impairment {
    Impairment {
        delay: Duration::from_millis(300),
        jitter: Duration::from_millis(50),
        loss: 0.05,
        rate_bits_per_sec: Some(256_000),
        queue_bytes: 64 * 1024,
    }
}

/// A satker behind a relay to a running hub, with its signers and an operator.
struct Far {
    hub: Hub,
    relay: Relay,
    satker: Satker,
    serials: Serials,
    uri: String,
    // Kept alive for the relay's tasks.
    _rt: tokio::runtime::Runtime,
}

fn far_satker(up: Impairment, down: Impairment, seed: u64) -> Far {
    let hub = start_hub();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let hub_addr = hub.addr().parse().expect("hub address");
    let relay = rt
        .block_on(Relay::start(hub_addr, RelayConfig { up, down, seed }))
        .expect("relay");
    let satker = init_satker(&relay.addr().to_string(), &hub.id);
    enroll(&hub, &satker);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    Far {
        hub,
        relay,
        satker,
        serials,
        uri,
        _rt: rt,
    }
}

/// Signs and submits `count` SPM of about `doc_bytes`; the first carries a scan of
/// `attachment_bytes`.
fn submit_documents(
    far: &Far,
    count: usize,
    doc_bytes: usize,
    attachment_bytes: usize,
) -> Vec<String> {
    let satker = &far.satker;
    let uraian: String =
        "Belanja barang operasional kantor satker terpencil. ".repeat(doc_bytes / 52);
    let scan = pdf_bytes(attachment_bytes);
    let scan_path = satker.dir().with_file_name("lampiran.pdf");
    std::fs::write(&scan_path, &scan).expect("write scan");
    let mut docs = Vec::new();
    for i in 0..count {
        let doc = satker.new_spm(&format!("{i:05}/SPM/2026"), "2500000");
        satker.ok(&["draft", "set", &doc, &format!("keterangan={uraian}")]);
        if i == 0 {
            satker.ok(&[
                "draft",
                "attach",
                &doc,
                scan_path.to_str().expect("utf-8 path"),
            ]);
        }
        satker.sign(&doc, &far.serials.ppspm);
        docs.push(doc);
    }
    // Each code submits once, so one operator would wait half a minute per batch; the
    // office's colleagues share the work instead. They are all activated before anything
    // is queued, so no sync but the one under test carries the documents.
    let batches = docs.len().div_ceil(5);
    let colleagues: Vec<(String, String, String)> = (1..batches)
        .map(|n| {
            let operator = format!("operator{:02}", n + 1);
            let (uri, request_id) = satker.request_operator(&operator, "operator-satker");
            (operator, uri, request_id)
        })
        .collect();
    if !colleagues.is_empty() {
        satker.sync();
        for (operator, _, request_id) in &colleagues {
            approve_operator(
                &far.hub,
                request_id,
                operator,
                "operator-satker",
                SATKER_CODE,
            );
        }
        satker.sync();
    }
    for (n, batch) in docs.chunks(5).enumerate() {
        let ids: Vec<&str> = batch.iter().map(String::as_str).collect();
        if n == 0 {
            satker.submit(&ids, &far.uri);
        } else {
            let (operator, uri, _) = &colleagues[n - 1];
            satker.submit_as(&ids, operator, uri);
        }
    }
    docs
}

fn spawn_sync(satker: &Satker) -> std::process::Child {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(satker.dir())
        .args(["--json", "sync", "--timeout", "900"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sync")
}

/// Waits until `bytes` have gone up through the relay.
fn wait_for_upload(relay: &Relay, bytes: u64, started: Instant, what: &str) {
    while relay.stats().up.forwarded_bytes < bytes {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the transfer stalled before {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The hub holds and verifies everything, and the satker sees every document delivered.
fn assert_all_delivered(far: &Far, docs: &[String]) {
    let verified = far.hub.ok(&["verify"]);
    assert_eq!(verified["ok"], Value::Bool(true), "{verified}");
    assert_eq!(
        verified["incomplete_attachments"].as_u64(),
        Some(0),
        "{verified}"
    );
    let inbox = far.hub.ok(&["inbox"]);
    assert_eq!(inbox.as_array().map(Vec::len), Some(docs.len()), "{inbox}");
    for doc in docs {
        assert_eq!(far.satker.state(doc), "delivered", "{doc}");
    }
}

#[test]
fn fifty_documents_and_a_2_mib_attachment_survive_three_outages() {
    println!("network path: userspace UDP relay on loopback (delay 300±50 ms, 5% loss, 256 kbit/s, 64 KiB queue, 3 outages of 10 s)");
    let far = far_satker(poor_link(), poor_link(), 2026);
    let (relay, satker) = (&far.relay, &far.satker);
    let docs = submit_documents(&far, DOCS, DOC_BYTES, ATTACHMENT_BYTES);

    // One sync, with the link cut three times while it runs.
    let child = spawn_sync(satker);
    let started = Instant::now();
    // Cut the link at 20%, 50% and 80% of the attachment, judged by the bytes that
    // have crossed the relay, so every outage lands in the middle of the 2 MiB file.
    let docs_bytes = (DOCS * DOC_BYTES) as u64;
    for (outage, fraction) in [(1, 0.2), (2, 0.5), (3, 0.8)] {
        let threshold = docs_bytes + (ATTACHMENT_BYTES as f64 * fraction) as u64;
        wait_for_upload(relay, threshold, started, &format!("outage {outage}"));
        let before = relay.stats();
        relay.set_link(false);
        std::thread::sleep(Duration::from_secs(10));
        relay.set_link(true);
        println!(
            "outage {outage} of 10 s at {:?}, after {} bytes up ({} dropped so far)",
            started.elapsed(),
            before.up.forwarded_bytes,
            before.up.dropped_bytes
        );
    }
    let out = child.wait_with_output().expect("sync finished");
    assert!(
        out.status.success(),
        "{}",
        describe("sync across the impaired path", &out)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("sync JSON");
    let stats = relay.stats();
    println!("sync: {summary}");
    println!("relay: {stats:?}");
    assert!(
        stats.up.dropped_outage + stats.down.dropped_outage > 0,
        "the outages dropped nothing: they happened after the sync, so the test proves nothing"
    );

    // Everything arrived, once: each item and each chunk crossed exactly once at the
    // session level, whatever QUIC retransmitted underneath.
    let items = DOCS * 2 + DOCS / 5; // snapshot + signature per document, one submission per 5
    assert_eq!(
        summary["sent_items"].as_u64(),
        Some(items as u64),
        "{summary}"
    );
    let chunks = ATTACHMENT_BYTES.div_ceil(64 * 1024);
    assert_eq!(
        summary["sent_chunks"].as_u64(),
        Some(chunks as u64),
        "{summary}"
    );
    assert_all_delivered(&far, &docs);
    let payload = DOCS * DOC_BYTES + ATTACHMENT_BYTES;
    println!(
        "bytes up the impaired path: {} for about {payload} bytes of payload ({:.2}x)",
        stats.up.forwarded_bytes,
        stats.up.forwarded_bytes as f64 / payload as f64
    );
}

#[test]
fn a_satker_whose_address_changes_mid_attachment_finishes_in_the_same_sync() {
    println!("network path: userspace UDP relay on loopback (delay 50 ms, 2 Mbit/s); the satker's address changes twice");
    let link = Impairment {
        delay: Duration::from_millis(50),
        rate_bits_per_sec: Some(2_000_000),
        queue_bytes: 256 * 1024,
        ..Impairment::none()
    };
    let far = far_satker(link.clone(), link, 7);
    let attachment = 1024 * 1024;
    let docs = submit_documents(&far, 5, 4 * 1024, attachment);
    let child = spawn_sync(&far.satker);
    let started = Instant::now();
    for (n, fraction) in [(1, 0.3), (2, 0.7)] {
        let threshold = 5 * 4 * 1024 + (attachment as f64 * fraction) as u64;
        wait_for_upload(&far.relay, threshold, started, &format!("move {n}"));
        let new = far._rt.block_on(far.relay.move_client()).expect("move");
        println!(
            "move {n}: the hub now sees the satker from port {}",
            new.port()
        );
    }
    let out = child.wait_with_output().expect("sync finished");
    // One `espm sync` is one connection: success means the connection followed the move.
    assert!(
        out.status.success(),
        "{}",
        describe("sync while the satker's address changed", &out)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("sync JSON");
    println!("sync: {summary}");
    assert_eq!(far.relay.moves(), 2);
    assert_eq!(
        summary["sent_chunks"].as_u64(),
        Some(attachment.div_ceil(64 * 1024) as u64),
        "every chunk once: nothing restarted\n{summary}"
    );
    assert_all_delivered(&far, &docs);
}

#[test]
fn no_receipt_until_the_hub_holds_the_whole_attachment() {
    println!("network path: userspace UDP relay on loopback (delay 50 ms, 2 Mbit/s); the link dies mid-attachment and the sync is killed");
    let link = Impairment {
        delay: Duration::from_millis(50),
        rate_bits_per_sec: Some(2_000_000),
        queue_bytes: 256 * 1024,
        ..Impairment::none()
    };
    let far = far_satker(link.clone(), link, 9);
    let attachment = 1024 * 1024;
    let docs = submit_documents(&far, 1, 4 * 1024, attachment);
    let mut child = spawn_sync(&far.satker);
    wait_for_upload(
        &far.relay,
        4 * 1024 + attachment as u64 / 2,
        Instant::now(),
        "the cut",
    );
    // The laptop lid closes: link gone, process gone.
    far.relay.set_link(false);
    child.kill().expect("kill sync");
    let _ = child.wait();
    let hub_view = far.hub.ok(&["status", &docs[0]]);
    assert_eq!(str_of(&hub_view, "state"), "queued", "{hub_view}");
    let inbox = far.hub.ok(&["inbox"]);
    assert_eq!(inbox.as_array().map(Vec::len), Some(0), "{inbox}");
    assert_ne!(far.satker.state(&docs[0]), "delivered");

    far.relay.set_link(true);
    let out = spawn_sync(&far.satker).wait_with_output().expect("sync");
    assert!(out.status.success(), "{}", describe("second sync", &out));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("sync JSON");
    println!("second sync: {summary}");
    let chunks = attachment.div_ceil(64 * 1024) as u64;
    let resent = summary["sent_chunks"].as_u64().unwrap_or(chunks);
    assert!(
        resent < chunks,
        "the attachment restarted instead of resuming: {summary}"
    );
    assert_all_delivered(&far, &docs);
}

#[test]
fn a_hub_killed_while_frames_are_in_flight_loses_and_repeats_nothing() {
    println!("network path: userspace UDP relay on loopback (delay 20 ms, 2 Mbit/s); the hub is killed (SIGKILL) mid-upload, between frames arriving and their flush, and started again");
    let link = Impairment {
        delay: Duration::from_millis(20),
        rate_bits_per_sec: Some(2_000_000),
        queue_bytes: 256 * 1024,
        ..Impairment::none()
    };
    let mut far = far_satker(link.clone(), link, 13);
    let docs = submit_documents(&far, 20, DOC_BYTES, 16 * 1024);
    let started = Instant::now();
    let child = spawn_sync(&far.satker);
    // Several frames of the window are on their way or being stored when the hub dies.
    wait_for_upload(&far.relay, 80 * 1024, started, "the crash");
    far.hub.restart();
    let first = child.wait_with_output().expect("wait for the first sync");
    println!(
        "the sync across the crash ended with {}: {}",
        first.status,
        String::from_utf8_lossy(&first.stderr).trim()
    );
    // Whether that sync rode out the crash or gave up, the next one finishes the work.
    far.satker.sync();
    // Everything the hub acknowledged before it died survived, the rest came again, and
    // the hub's log verifies: each document once in the inbox, each with its receipt.
    assert_all_delivered(&far, &docs);
}
