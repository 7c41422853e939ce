//! End-to-end: sync you can see. Real `espm sync --json` against a real `espm serve`:
//! the totals it reports equal what crossed, `espm info` before and after a sync and
//! after a failed one, and a hub named by a host name resolved only when connecting.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is not a count in {v}"))
}

/// What the hub's Hello announced is what crossed, both ways.
fn assert_totals_met(v: &Value) {
    for (total, done) in [
        ("items_to_send", "sent_items"),
        ("chunks_to_send", "sent_chunks"),
        ("chunks_to_receive", "received_chunks"),
    ] {
        assert_eq!(count(v, total), count(v, done), "{total} vs {done}: {v}");
    }
}

#[test]
fn the_sync_totals_equal_what_was_sent_and_received_items_and_attachment_chunks() {
    let hub = start_hub();
    let office = satker(&hub);
    // The first sync: nothing of this device is at the hub yet, so every position the
    // hub announced is an item it sends.
    let first = office.sync();
    assert!(count(&first, "received_items") > 0, "{first}");
    assert_eq!(
        count(&first, "items_to_receive"),
        count(&first, "received_items"),
        "{first}"
    );
    assert_totals_met(&first);
    let request = office.request_signer(&SITI);
    let up = office.sync();
    assert_eq!(count(&up, "items_to_send"), 1, "{up}");
    assert_totals_met(&up);
    let serial = id_of(&hub.ok(&["certs", "approve", &request]), "serial");
    let down = office.sync();
    assert_totals_met(&down);
    assert!(count(&down, "items_to_receive") >= 1, "{down}");
    let uri = office.add_operator();
    // An SPM with a 300 000-byte scan: five chunks of 64 KiB go up in the same sync as
    // the document, before the hub could have asked for them.
    let doc = office.new_spm("00001/SPM/2026", "1500000");
    let scan = office.dir().with_file_name("scan-00001.pdf");
    std::fs::write(&scan, pdf_bytes(300_000)).expect("write the scan");
    office.ok(&["draft", "attach", &doc, scan.to_str().expect("utf-8")]);
    office.sign(&doc, &serial);
    office.submit(&[&doc], &uri);
    let submitted = office.sync();
    assert_eq!(count(&submitted, "chunks_to_send"), 5, "{submitted}");
    assert_totals_met(&submitted);
    // The summary names the document the hub receipted in this very sync.
    assert_eq!(
        submitted["receipted"],
        serde_json::json!([doc]),
        "{submitted}"
    );
    let reason = "Nilai SPM melebihi sisa pagu DIPA";
    hub.ok(&["take", &doc]);
    hub.ok(&["reject", &doc, "--reason", reason]);
    let told = office.sync();
    assert_eq!(
        told["rejected"],
        serde_json::json!([{ "doc_id": doc, "reason": reason }]),
        "{told}"
    );
    assert_eq!(told["receipted"], serde_json::json!([]), "{told}");
    // A second device of the satker takes the document and its scan.
    let colleague = satker(&hub);
    let pulled = colleague.sync();
    assert_eq!(count(&pulled, "chunks_to_receive"), 5, "{pulled}");
    assert_eq!(
        count(&pulled, "items_to_receive"),
        count(&pulled, "received_items"),
        "{pulled}"
    );
    assert_totals_met(&pulled);
}

#[test]
fn info_shows_the_last_sync_and_after_the_hub_went_down_the_error_naming_it() {
    let mut hub = start_hub();
    let office = satker(&hub);
    let before = office.ok(&["info"]);
    assert_eq!(str_of(&before, "node_id"), office.node_id);
    assert_eq!(str_of(&before, "role"), "satker");
    assert_eq!(str_of(&before, "hub"), hub.addr());
    assert_eq!(before["last_sync"], Value::Null, "{before}");
    assert_eq!(before["last_error"], Value::Null, "{before}");
    assert_eq!(count(&before, "queued"), 0, "{before}");
    office.request_signer(&SITI);
    assert_eq!(count(&office.ok(&["info"]), "queued"), 1);
    office.sync();
    let after = office.ok(&["info"]);
    assert!(after["last_sync"].is_string(), "{after}");
    assert_eq!(after["last_error"], Value::Null, "{after}");
    assert_eq!(count(&after, "queued"), 0, "{after}");
    hub.stop();
    let err = office.fail(&["sync", "--timeout", "3"]);
    assert!(err.contains("cannot reach the hub"), "{err}");
    let failed = office.ok(&["info"]);
    let last_error = str_of(&failed, "last_error");
    assert!(
        last_error.starts_with(&format!("cannot reach the hub at {}", hub.addr())),
        "{failed}"
    );
    assert_eq!(failed["last_sync"], after["last_sync"], "{failed}");
    let hub_info = hub.ok(&["info"]);
    assert_eq!(str_of(&hub_info, "role"), "hub");
    assert_eq!(str_of(&hub_info, "hub"), hub.addr());
    assert_eq!(hub_info["last_sync"], Value::Null);
    let auditor = auditor(&hub, SATKER_CODE);
    let seen = auditor.ok(&["info"]);
    assert_eq!(str_of(&seen, "role"), "auditor");
    assert!(seen["scope"].is_array(), "{seen}");
}

#[test]
fn a_satker_set_up_offline_names_the_hub_by_host_name_and_syncs_with_localhost() {
    // `.invalid` never resolves, online or not: init checks only the form.
    let offline = init_satker("kppn019.invalid:4433", &random_node_id());
    let err = offline.fail(&["sync", "--timeout", "10"]);
    assert!(
        err.contains(
            "cannot reach the hub at kppn019.invalid:4433: the host name does not resolve"
        ),
        "{err}"
    );
    let hub = start_hub();
    let office = init_satker(&format!("localhost:{}", hub.port), &hub.id);
    enroll(&hub, &office);
    let synced = office.sync();
    assert!(count(&synced, "received_items") > 0, "{synced}");
    assert_eq!(
        str_of(&office.ok(&["info"]), "hub"),
        format!("localhost:{}", hub.port)
    );
}

/// Waits (the test's own bound, not a timing claim) until `served`'s log holds `text`.
fn wait_for_log(served: &Served, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let log = served.log();
        if log.contains(text) {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the serve log never said {text:?}:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Each line of a log begins with an RFC 3339 UTC timestamp.
fn assert_timestamped(log: &str) {
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let stamp = line.split_whitespace().next().unwrap_or_default();
        assert!(
            stamp.len() > 20
                && stamp.as_bytes()[4] == b'-'
                && stamp.contains('T')
                && stamp.ends_with('Z'),
            "a log line without a timestamp: {line:?}"
        );
    }
}

#[test]
fn serve_says_what_it_serves_and_reports_a_hub_that_does_not_answer_then_retries() {
    let mut hub = start_hub();
    let log = wait_for_log(
        hub.served.as_ref().expect("serving"),
        &format!(
            "espm serve: hub of KPPN {KPPN_CODE} (KPPN Kotabumi), node {}, starting on UDP {}",
            hub.id,
            hub.addr()
        ),
    );
    assert!(
        log.contains(&format!("listening on {}", hub.addr())),
        "{log}"
    );
    assert_timestamped(&log);
    let office = satker(&hub);
    hub.stop();
    let served = Served::spawn(&office);
    let log = wait_for_log(
        &served,
        &format!(
            "espm serve: satker {SATKER_CODE} device {}, syncing with the hub at {} in the background",
            office.node_id,
            hub.addr()
        ),
    );
    assert_timestamped(&log);
    // Told by the connect timeout, then tried again after a backoff.
    let log = wait_for_log(
        &served,
        &format!(
            "sync failed: cannot reach the hub at {}: no answer",
            hub.addr()
        ),
    );
    assert!(log.contains("retrying in "), "{log}");
    assert_timestamped(&log);
    served.stop();
    let info = office.ok(&["info"]);
    assert!(
        str_of(&info, "last_error").contains("no answer"),
        "the background sync records its failure too: {info}"
    );
}
