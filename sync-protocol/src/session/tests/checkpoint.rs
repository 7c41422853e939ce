//! A device that remembers how far the hub acknowledged its stream sends the difference
//! with its Hello; the hub's answer corrects that memory when it is wrong.

use super::*;

#[test]
fn a_remembered_checkpoint_sends_the_difference_with_the_hello() {
    let (mut client, mut hub, device) = satker_and_hub(1000, 3);
    client.remember = true;
    run(&mut client, &mut hub, Config::default());
    assert_eq!(client.peer_acks[&device], 1000);
    for i in 0..10 {
        client
            .logs
            .get_mut(&device)
            .unwrap()
            .push(format!("new-{i}").into_bytes());
    }
    let (flights, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(c.stats().sent_items, 10);
    assert_eq!(hub.received[&device].1.len(), 1010);
    assert_eq!(
        flights, 1,
        "Hello, frames and Done in one flight; the hub's answer ends the session"
    );
    assert_eq!(
        c.upload_progress(&client).unwrap(),
        (10, 10),
        "progress counts this session's items, not the history"
    );
}

#[test]
fn a_checkpoint_ahead_of_the_hub_goes_back_to_what_the_hub_holds() {
    let (mut client, mut hub, device) = satker_and_hub(50, 0);
    client.remember = true;
    // The device believes the hub holds 40, but the hub was restored and holds none.
    client.peer_acks.insert(device.clone(), 40);
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.received[&device].1.len(), 50);
    assert_eq!(client.peer_acks[&device], 50);
    assert!(c.stats().sent_items >= 50);
}

#[test]
fn a_checkpoint_behind_the_hub_stores_nothing_twice() {
    let (mut client, mut hub, device) = satker_and_hub(30, 0);
    run(&mut client, &mut hub, Config::default());
    client.remember = true;
    // The last ack never reached the device's memory.
    client.peer_acks.insert(device.clone(), 20);
    client.logs.get_mut(&device).unwrap().push(b"late".to_vec());
    run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.received[&device].1.len(), 31);
    assert_eq!(hub.received[&device].0, 31);
    assert_eq!(client.peer_acks[&device], 31);
}

#[test]
fn frames_for_a_stream_the_hub_declines_are_dropped_quietly() {
    let (mut client, mut hub, device) = satker_and_hub(5, 2);
    client.remember = true;
    client.peer_acks.insert(device.clone(), 0);
    // This hub no longer takes the device's stream (say, the device was moved).
    hub.wants.clear();
    let (_, c, h) = run(&mut client, &mut hub, Config::default());
    assert!(!hub.received.contains_key(&device));
    assert_eq!(h.stats().received_items, 0);
    assert_eq!(
        client.received[&StreamId::Scope("123456".into())].1.len(),
        2,
        "the rest of the session goes on"
    );
    assert!(c.stats().refused_by_peer.is_empty());
}

#[test]
fn remembered_checkpoints_survive_a_link_that_drops_and_reorders() {
    for seed in 1..=10 {
        let (mut client, mut hub, device) = satker_and_hub(20, 5);
        client.remember = true;
        run_lossy(&mut client, &mut hub, 20, seed);
        for i in 0..15 {
            client
                .logs
                .get_mut(&device)
                .unwrap()
                .push(format!("more-{i}").into_bytes());
        }
        run_lossy(&mut client, &mut hub, 20, seed + 100);
        assert_eq!(hub.received[&device].1.len(), 35, "seed {seed}");
    }
}

#[test]
fn a_device_fetches_chunks_named_by_frames_that_arrive_after_its_done() {
    // The device has nothing to send, so it is idle (and says Done) as soon as it has the
    // hub's Hello; the frame naming an attachment comes after that.
    let (mut client, mut hub, _) = satker_and_hub(0, 1);
    let file: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    let addrs = crate::attachment::chunk_addresses(&file);
    for (a, c) in addrs.iter().zip(crate::attachment::chunks_of(&file)) {
        hub.chunks.insert(*a, c.to_vec());
    }
    client.needs_on_receive = addrs.clone();
    let config = Config::default();
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    h.handle(c.poll_transmit(&mut client).unwrap().unwrap(), &mut hub)
        .unwrap();
    let mut from_hub = vec![];
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        from_hub.push(m);
    }
    // Deliver only the Hello; the device goes idle and says Done.
    let hello = from_hub.remove(0);
    c.handle(hello, &mut client).unwrap();
    let mut said_done = false;
    while let Some(m) = c.poll_transmit(&mut client).unwrap() {
        said_done |= matches!(m, Message::Done { .. });
        h.handle(m, &mut hub).unwrap();
    }
    assert!(said_done);
    // Only now do the frames arrive; the needed chunks must still be fetched.
    let mut to_client = from_hub;
    for _ in 0..100 {
        for m in to_client.drain(..) {
            c.handle(m, &mut client).unwrap();
        }
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
        }
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            to_client.push(m);
        }
        if c.is_done() && h.is_done() && to_client.is_empty() {
            break;
        }
    }
    assert!(c.is_done() && h.is_done());
    assert_eq!(client.chunks.len(), addrs.len());
}
