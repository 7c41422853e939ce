//! The totals a progress display reads: known from the hub's Hello, met at the end.

use super::*;

/// Delivers everything `from` has to send to `to`; returns the messages.
fn flight(
    from: &mut Session,
    from_replica: &mut MemReplica,
    to: &mut Session,
    to_replica: &mut MemReplica,
) -> Vec<Message> {
    let mut sent = vec![];
    while let Some(m) = from.poll_transmit(from_replica).unwrap() {
        sent.push(m.clone());
        to.handle(m, to_replica).unwrap();
    }
    sent
}

#[test]
fn the_device_knows_what_it_will_receive_from_the_hubs_hello_and_ends_on_the_totals() {
    let (mut client, mut hub, _) = satker_and_hub(30, 7);
    let config = Config {
        frame_bytes: 40,
        window: 2,
        credit: 2,
    };
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    // While connecting nothing is known to be coming: the bar is empty, not full.
    let p = c.progress(&client).unwrap();
    assert_eq!((p.received, p.to_receive), (0, 0));
    flight(&mut c, &mut client, &mut h, &mut hub);
    // Only the Hello reaches the device: it now knows the hub's 7 + 1 items.
    let mut answer = vec![];
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        answer.push(m);
    }
    let hello = answer.remove(0);
    assert!(matches!(&hello, Message::Hello { has, .. } if has.len() == 2));
    c.handle(hello, &mut client).unwrap();
    let p = c.progress(&client).unwrap();
    assert_eq!((p.received, p.to_receive), (0, 8), "{p:?}");
    assert_eq!(p.to_send, 30);
    for m in answer {
        c.handle(m, &mut client).unwrap();
    }
    for _ in 0..1000 {
        if c.is_done() && h.is_done() {
            break;
        }
        flight(&mut c, &mut client, &mut h, &mut hub);
        flight(&mut h, &mut hub, &mut c, &mut client);
    }
    let p = c.progress(&client).unwrap();
    assert_eq!((p.acked, p.to_send), (30, 30), "{p:?}");
    assert_eq!((p.received, p.to_receive), (8, 8), "{p:?}");
    assert_eq!(c.stats().received_items, p.received);
    assert_eq!(c.stats().sent_items, p.to_send);
}

#[test]
fn the_chunks_the_hub_needs_are_the_devices_total_to_send() {
    let (mut client, mut hub, _) = satker_and_hub(2, 0);
    let addrs = with_attachment(&mut client, &mut hub, 300_000);
    let config = Config::default();
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    flight(&mut c, &mut client, &mut h, &mut hub);
    flight(&mut h, &mut hub, &mut c, &mut client);
    let p = c.progress(&client).unwrap();
    assert_eq!(p.chunks_to_send, addrs.len() as u64, "{p:?}");
    assert_eq!(p.chunks_sent, 0);
    for _ in 0..1000 {
        if c.is_done() && h.is_done() {
            break;
        }
        flight(&mut c, &mut client, &mut h, &mut hub);
        flight(&mut h, &mut hub, &mut c, &mut client);
    }
    let p = c.progress(&client).unwrap();
    assert_eq!((p.chunks_sent, p.chunks_to_send), (5, 5), "{p:?}");
    assert_eq!(h.progress(&hub).unwrap().chunks_received, 5);
}

#[test]
fn the_chunks_a_device_needs_are_its_total_to_receive() {
    let (mut client, mut hub, _) = satker_and_hub(0, 1);
    // The hub holds a file the device learns it needs from the hub's frame.
    let file: Vec<u8> = (0..200_000).map(|i| (i % 241) as u8).collect();
    let addrs = crate::attachment::chunk_addresses(&file);
    for (a, c) in addrs.iter().zip(crate::attachment::chunks_of(&file)) {
        hub.chunks.insert(*a, c.to_vec());
    }
    client.needs_on_receive = addrs.clone();
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    let p = c.progress(&client).unwrap();
    assert_eq!(
        (p.chunks_received, p.chunks_to_receive),
        (addrs.len() as u64, addrs.len() as u64)
    );
}

#[test]
fn a_hub_hello_naming_streams_the_device_did_not_ask_for_does_not_inflate_its_totals() {
    let (mut client, _, device) = satker_and_hub(0, 0);
    let mut c = Session::client(Config::default(), &client).unwrap();
    while c.poll_transmit(&mut client).unwrap().is_some() {}
    let has = VersionVector::from([
        (StreamId::Trust, 3),
        (StreamId::Scope("999999".into()), u64::MAX),
        (StreamId::Notices("123456".into()), u64::MAX),
    ]);
    c.handle(
        Message::Hello {
            version: FORMAT_VERSION,
            want: VersionVector::from([(device, 0)]),
            offer: Vec::new(),
            has,
            needs: 0,
            credit: 0,
        },
        &mut client,
    )
    .unwrap();
    assert_eq!(c.progress(&client).unwrap().to_receive, 3);
}

#[test]
fn the_chunks_of_items_the_hub_does_not_hold_yet_count_before_it_asks_for_them() {
    // A document signed and submitted since the last sync, with its scan: the hub cannot
    // know of the scan before it holds the document, but the device does.
    let (mut client, mut hub, _) = satker_and_hub(3, 0);
    client.chunks_per_item = 2;
    hub.needs = vec![Address::of(b"an older scan the hub still needs")];
    let mut c = Session::client(Config::default(), &client).unwrap();
    let mut h = Session::server(Config::default());
    flight(&mut c, &mut client, &mut h, &mut hub);
    flight(&mut h, &mut hub, &mut c, &mut client);
    assert_eq!(c.progress(&client).unwrap().chunks_to_send, 3 * 2 + 1);
}

/// The Hello as it was before it carried totals.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum EarlierMessage {
    Hello {
        version: u8,
        want: VersionVector,
        offer: Vec<StreamId>,
    },
}

#[test]
fn an_earlier_peer_reads_either_sides_hello_with_its_totals_and_credit() {
    let (mut client, _, device) = satker_and_hub(1, 0);
    let mut c = Session::client(Config::default(), &client).unwrap();
    let Some(hello @ Message::Hello { .. }) = c.poll_transmit(&mut client).unwrap() else {
        panic!("the first message is the Hello");
    };
    let Message::Hello {
        version,
        want,
        offer,
        credit,
        ..
    } = hello.clone()
    else {
        unreachable!()
    };
    assert_eq!(credit, Config::default().credit as u32);
    // An earlier hub reads the device's Hello, credit and all, as the Hello it knew.
    let read: EarlierMessage =
        crate::encoding::from_cbor(&hello.encode(), "an earlier hub's Hello").unwrap();
    let EarlierMessage::Hello {
        version: v,
        want: w,
        offer: o,
    } = read;
    assert_eq!((v, w, o), (version, want, offer));
    // The hub's Hello with totals still reads as a Hello to a device that knows none.
    let hubs = Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::from([(device, 0)]),
        offer: Vec::new(),
        has: VersionVector::from([(StreamId::Trust, 9)]),
        needs: 4,
        credit: 8,
    };
    let read: EarlierMessage =
        crate::encoding::from_cbor(&hubs.encode(), "an earlier device's Hello").unwrap();
    let EarlierMessage::Hello { want, .. } = read;
    assert_eq!(want.len(), 1);
}
