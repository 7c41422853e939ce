//! Draft-sync sessions wired together in memory, with in-memory replicas over a fake
//! CRDT (see `fake`), so every cut and refusal can be replayed deterministically.

mod fake;

use std::collections::BTreeMap;

use fake::{view, MemNode};

use super::*;
use crate::message::Message;

/// What one run of a device session against the hub did.
struct Run {
    device: DraftStats,
    hub: DraftStats,
    messages: usize,
    finished: bool,
}

/// Runs a device session against the hub over an in-order channel that carries every
/// message as bytes. With `cut`, the link drops after that many messages, as a lost
/// connection would: both sessions and their in-memory state are gone.
fn run(device: &mut MemNode, hub: &mut MemNode, cut: Option<usize>) -> Run {
    let (dname, hname) = (device.name.clone(), hub.name.clone());
    let mut dv = view(device, &hname);
    let mut hv = view(hub, &dname);
    let mut client = DraftSession::client(&dv).unwrap();
    let mut server = DraftSession::server();
    let mut to_hub = std::collections::VecDeque::new();
    let mut to_device = std::collections::VecDeque::new();
    let mut messages = 0;
    for _ in 0..100_000 {
        while let Some(m) = client.poll_transmit(&mut dv).unwrap() {
            to_hub.push_back(m.encode());
        }
        while let Some(m) = server.poll_transmit(&mut hv).unwrap() {
            to_device.push_back(m.encode());
        }
        if client.is_done() && server.is_done() && to_hub.is_empty() && to_device.is_empty() {
            return Run {
                device: client.stats().clone(),
                hub: server.stats().clone(),
                messages,
                finished: true,
            };
        }
        if to_hub.is_empty() && to_device.is_empty() {
            panic!("both sides wait for each other");
        }
        for (queue, to_server) in [(&mut to_hub, true), (&mut to_device, false)] {
            let Some(bytes) = queue.pop_front() else {
                continue;
            };
            if cut == Some(messages) {
                return Run {
                    device: client.stats().clone(),
                    hub: server.stats().clone(),
                    messages,
                    finished: false,
                };
            }
            messages += 1;
            let msg = DraftMessage::decode(&bytes).unwrap();
            if to_server {
                server.handle(msg, &mut hv).unwrap();
            } else {
                client.handle(msg, &mut dv).unwrap();
            }
        }
    }
    panic!("the sessions never finished");
}

fn full(device: &mut MemNode, hub: &mut MemNode) -> Run {
    let r = run(device, hub, None);
    assert!(r.finished);
    r
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_draft_edited_on_two_devices_converges_through_the_hub() {
    let (mut a, mut b, mut hub) = (
        MemNode::named("a"),
        MemNode::named("b"),
        MemNode::named("hub"),
    );
    a.set("spm-1", "nomor", "00001/SPM/2026");
    full(&mut a, &mut hub);
    let r = full(&mut b, &mut hub);
    assert_eq!(r.device.changed_here, 1);
    assert_eq!(b.fields("spm-1"), a.fields("spm-1"));

    b.set("spm-1", "uraian", "ATK");
    a.set("spm-1", "nilai", "1500000");
    full(&mut b, &mut hub);
    full(&mut a, &mut hub);
    full(&mut b, &mut hub);
    let want = fields(&[
        ("nilai", "1500000"),
        ("nomor", "00001/SPM/2026"),
        ("uraian", "ATK"),
    ]);
    for node in [&a, &b, &hub] {
        assert_eq!(node.fields("spm-1"), want, "on {}", node.name);
    }
}

#[test]
fn drafts_in_step_are_not_announced_again_and_cost_one_round_trip() {
    let (mut a, mut hub) = (MemNode::named("a"), MemNode::named("hub"));
    for i in 0..50 {
        a.set(&format!("spm-{i}"), "nomor", &i.to_string());
    }
    let first = full(&mut a, &mut hub);
    assert_eq!(first.device.announced, 50);
    assert_eq!(first.device.in_step, 50);
    assert_eq!(first.hub.in_step, 50);

    let idle = full(&mut a, &mut hub);
    assert_eq!(idle.messages, 2, "only Hello and Welcome");
    assert_eq!((idle.device.announced, idle.device.peer_announced), (0, 0));

    a.set("spm-7", "nilai", "10");
    let one = full(&mut a, &mut hub);
    assert_eq!(one.device.announced, 1);
    assert_eq!(one.hub.changed_here, 1);
    assert!(one.device.sent_bytes < first.device.sent_bytes / 20);
    assert_eq!(hub.fields("spm-7"), a.fields("spm-7"));
}

#[test]
fn a_draft_held_at_the_same_digest_on_both_sides_is_settled_without_a_conversation() {
    let (mut a, mut hub) = (MemNode::named("a"), MemNode::named("hub"));
    a.set("spm-1", "nomor", "1");
    hub.drafts = a.drafts.clone();
    let r = full(&mut a, &mut hub);
    assert_eq!((r.messages, r.device.in_step, r.hub.in_step), (2, 1, 1));
    assert_eq!(full(&mut a, &mut hub).device.announced, 0);
}

/// Device a and the hub both changed spm-1, each holds a draft the other lacks.
fn diverged() -> (MemNode, MemNode) {
    let (mut a, mut b, mut hub) = (
        MemNode::named("a"),
        MemNode::named("b"),
        MemNode::named("hub"),
    );
    a.set("spm-1", "nomor", "1");
    full(&mut a, &mut hub);
    full(&mut b, &mut hub);
    b.set("spm-1", "uraian", "ATK");
    b.set("spm-2", "nomor", "2");
    full(&mut b, &mut hub);
    a.set("spm-1", "nilai", "5");
    a.set("spm-3", "nomor", "3");
    (a, hub)
}

#[test]
fn a_session_cut_at_any_point_converges_on_the_next() {
    let (mut a, mut hub) = diverged();
    let total = full(&mut a, &mut hub).messages;
    let want = a.fields("spm-1");
    assert_eq!(want.len(), 3);
    for cut in 0..total {
        let (mut a, mut hub) = diverged();
        let r = run(&mut a, &mut hub, Some(cut));
        assert!(!r.finished, "cut at {cut} of {total}");
        full(&mut a, &mut hub);
        for doc in ["spm-1", "spm-2", "spm-3"] {
            assert_eq!(a.fields(doc), hub.fields(doc), "{doc}, cut at {cut}");
        }
        assert_eq!(a.fields("spm-1"), want, "cut at {cut}");
        let idle = full(&mut a, &mut hub);
        assert_eq!(idle.messages, 2, "cut at {cut}: still talking afterwards");
    }
}

#[test]
fn a_refused_draft_is_named_and_announced_again_only_once_it_changes() {
    let (mut a, mut hub) = (MemNode::named("a"), MemNode::named("hub"));
    a.set("spm-1", "nomor", "1");
    a.set("spm-2", "nomor", "2");
    let wrong = RefusalReason::WrongSatker {
        draft: "999999".into(),
        device: "123456".into(),
    };
    hub.refuse.insert("spm-1".into(), wrong.clone());
    let r = full(&mut a, &mut hub);
    assert_eq!(
        r.device.refused_by_peer,
        vec![DraftRefusal {
            doc_id: "spm-1".into(),
            reason: wrong.clone()
        }]
    );
    assert_eq!(r.hub.refused_here.len(), 1);
    assert!(!hub.drafts.contains_key("spm-1"));
    assert_eq!(hub.fields("spm-2"), a.fields("spm-2"));
    assert_eq!(full(&mut a, &mut hub).device.announced, 0);
    a.set("spm-1", "nilai", "5");
    let again = full(&mut a, &mut hub);
    assert_eq!(again.device.refused_by_peer.len(), 1);
}

#[test]
fn content_refused_after_applying_ends_only_that_conversation() {
    let (mut a, mut hub) = (MemNode::named("a"), MemNode::named("hub"));
    a.set("spm-1", "nomor", "1");
    a.set("spm-2", "nomor", "2");
    hub.refuse_content.insert(
        "spm-1".into(),
        RefusalReason::Invalid {
            detail: "no satker".into(),
        },
    );
    let r = full(&mut a, &mut hub);
    assert_eq!(r.device.refused_by_peer.len(), 1);
    assert_eq!(r.device.in_step, 1);
    assert_eq!(hub.fields("spm-2"), a.fields("spm-2"));
    assert!(hub.fields("spm-1").is_empty());
}

#[test]
fn a_device_refuses_hub_changes_to_a_draft_it_froze_and_is_not_asked_again() {
    let (mut a, mut b, mut hub) = (
        MemNode::named("a"),
        MemNode::named("b"),
        MemNode::named("hub"),
    );
    a.set("spm-1", "nomor", "1");
    full(&mut a, &mut hub);
    full(&mut b, &mut hub);
    let frozen = RefusalReason::Frozen {
        state: "signed".into(),
    };
    a.refuse.insert("spm-1".into(), frozen.clone());
    b.set("spm-1", "nilai", "9");
    full(&mut b, &mut hub);
    let r = full(&mut a, &mut hub);
    assert_eq!(r.device.refused_here[0].reason, frozen);
    assert_eq!(hub.peer_refusals, vec![("spm-1".to_string(), frozen)]);
    assert!(!a.fields("spm-1").contains_key("nilai"));
    assert_eq!(full(&mut a, &mut hub).messages, 2);
}

#[test]
fn more_changed_drafts_than_one_session_announces_go_in_the_next() {
    let (mut a, mut hub) = (MemNode::named("a"), MemNode::named("hub"));
    for i in 0..MAX_ANNOUNCED + 3 {
        a.set(&format!("d{i:05}"), "n", "1");
    }
    let first = full(&mut a, &mut hub);
    assert!(first.device.more && first.hub.more);
    assert_eq!(first.device.announced, MAX_ANNOUNCED as u64);
    let second = full(&mut a, &mut hub);
    assert_eq!((second.device.announced, second.device.more), (3, false));
    assert_eq!(hub.drafts.len(), MAX_ANNOUNCED + 3);
}

fn hello(drafts: Vec<Announce>) -> DraftMessage {
    DraftMessage::DraftHello {
        version: FORMAT_VERSION,
        drafts,
        more: false,
    }
}

fn announce(id: &str) -> Announce {
    Announce {
        doc_id: id.into(),
        digest: Some(Address::of(id.as_bytes())),
    }
}

#[test]
fn broken_peers_get_typed_errors_not_panics() {
    let mut hub = MemNode::named("hub");
    let mut hv = view(&mut hub, "a");
    let turn = |id: &str| DraftMessage::DraftTurn {
        doc_id: id.into(),
        data: Some(vec![1, 2, 3]),
    };
    // A turn before the Hello, and a turn about a draft nobody announced.
    let mut s = DraftSession::server();
    assert!(matches!(
        s.handle(turn("spm-1"), &mut hv),
        Err(ProtocolError::Violation(_))
    ));
    let mut s = DraftSession::server();
    s.handle(hello(vec![announce("spm-1")]), &mut hv).unwrap();
    let err = s.handle(turn("spm-9"), &mut hv).unwrap_err();
    assert!(err.to_string().contains("neither side announced"), "{err}");
    // Two turns in a row from the device.
    s.handle(turn("spm-1"), &mut hv).unwrap();
    let err = s.handle(turn("spm-1"), &mut hv).unwrap_err();
    assert!(err.to_string().contains("out of turn"), "{err}");
    // A second Hello, a Welcome sent to the hub, an Abort.
    assert!(s.handle(hello(vec![]), &mut hv).is_err());
    let welcome = DraftMessage::DraftWelcome {
        drafts: vec![],
        refused: vec![],
        more: false,
    };
    assert!(s.handle(welcome, &mut hv).is_err());
    let abort = DraftMessage::DraftAbort {
        reason: "disk full".into(),
    };
    let err = s.handle(abort, &mut hv).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    // A Hello from another format version.
    let mut s = DraftSession::server();
    let old = DraftMessage::DraftHello {
        version: FORMAT_VERSION + 1,
        drafts: vec![],
        more: false,
    };
    assert!(matches!(
        s.handle(old, &mut hv),
        Err(ProtocolError::UnsupportedVersion { .. })
    ));
}

#[test]
fn announcements_past_the_limits_or_with_bad_ids_are_refused_on_decode() {
    let many: Vec<Announce> = (0..=MAX_ANNOUNCED)
        .map(|i| announce(&format!("d{i}")))
        .collect();
    let err = DraftMessage::decode(&hello(many).encode()).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    let twice = hello(vec![announce("spm-1"), announce("spm-1")]);
    assert!(DraftMessage::decode(&twice.encode()).is_err());
    for bad in ["", "../etc", "a/b", &"x".repeat(MAX_DOC_ID_LEN + 1)] {
        let msg = hello(vec![announce(bad)]);
        assert!(
            matches!(
                DraftMessage::decode(&msg.encode()),
                Err(ProtocolError::BadIdentifier { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(DraftMessage::decode(&[0xff, 0x00]).is_err());
}

#[test]
fn an_oversized_sync_message_is_refused_for_that_draft_only() {
    let mut hub = MemNode::named("hub");
    let mut hv = view(&mut hub, "a");
    let mut s = DraftSession::server();
    s.handle(hello(vec![announce("spm-1")]), &mut hv).unwrap();
    assert!(matches!(
        s.poll_transmit(&mut hv).unwrap(),
        Some(DraftMessage::DraftWelcome { .. })
    ));
    let big = DraftMessage::DraftTurn {
        doc_id: "spm-1".into(),
        data: Some(vec![0; MAX_DRAFT_SYNC_BYTES + 1]),
    };
    s.handle(big, &mut hv).unwrap();
    match s.poll_transmit(&mut hv).unwrap() {
        Some(DraftMessage::DraftRefuse {
            reason: RefusalReason::TooLarge { .. },
            ..
        }) => {}
        other => panic!("expected a TooLarge refusal, got {other:?}"),
    }
    assert!(s.is_done());
}

#[test]
fn a_draft_hello_is_no_reconciliation_message() {
    // Streams say their kind in a header (`crate::framing::StreamHeader`); this only
    // checks that a draft message on the wrong stream is refused, never taken.
    let h = hello(vec![announce("spm-1")]);
    assert!(Message::decode(&h.encode()).is_err());
    let turn = DraftMessage::DraftTurn {
        doc_id: "spm-1".into(),
        data: None,
    };
    assert_eq!(DraftMessage::decode(&turn.encode()).unwrap(), turn);
}
