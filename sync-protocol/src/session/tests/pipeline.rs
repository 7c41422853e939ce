//! The pipelined protocol: several frames in flight under the receiver's credit, one
//! commit (flush) for all the frames that arrived since the last message went out, and
//! no ack before the commit that makes it true, whatever the link does.

use super::*;

/// Delivers up to `burst` queued messages to one side, then lets it answer: how a
/// driver hands it everything that arrived while it was busy. Checks at every message
/// a side sends that no ack names more than that side durably holds.
fn run_pipelined(
    client: &mut MemReplica,
    hub: &mut MemReplica,
    config: (Config, Config),
    (loss, seed, burst): (u64, u64, usize),
) -> (Session, Session) {
    let mut rng = Lcg(seed);
    let mut c = Session::client(config.0, client).unwrap();
    let mut h = Session::server(config.1);
    let mut to_hub: Vec<Message> = vec![];
    let mut to_client: Vec<Message> = vec![];
    for _ in 0..100_000 {
        if c.is_done() && h.is_done() {
            return (c, h);
        }
        while let Some(m) = c.poll_transmit(client).unwrap() {
            check_ack(&m, client);
            to_hub.push(m);
        }
        while let Some(m) = h.poll_transmit(hub).unwrap() {
            check_ack(&m, hub);
            to_client.push(m);
        }
        if to_hub.is_empty() && to_client.is_empty() {
            c.on_timeout();
            h.on_timeout();
            continue;
        }
        let towards_hub = !to_hub.is_empty() && (to_client.is_empty() || rng.chance(50));
        let (queue, session, replica) = if towards_hub {
            (&mut to_hub, &mut h, &mut *hub)
        } else {
            (&mut to_client, &mut c, &mut *client)
        };
        for _ in 0..burst.min(queue.len()) {
            let i = (rng.next() as usize) % queue.len().min(3);
            let m = queue.remove(i);
            if !rng.chance(loss) {
                session.handle(m, replica).unwrap();
            }
        }
    }
    panic!("sessions did not converge over the pipelined link");
}

fn check_ack(m: &Message, sender: &MemReplica) {
    if let Message::Ack {
        stream, through, ..
    } = m
    {
        let durable = sender.durable_position(stream);
        assert!(
            *through <= durable,
            "an ack of {stream} through {through} left while only {durable} was flushed"
        );
    }
}

fn pipelined() -> Config {
    Config {
        frame_bytes: 40,
        window: 8,
        credit: 8,
    }
}

#[test]
fn no_ack_leaves_before_the_flush_that_makes_it_true_over_loss_and_reordering() {
    for seed in 1..=20 {
        let (mut client, mut hub, device) = satker_and_hub(120, 30);
        run_pipelined(
            &mut client,
            &mut hub,
            (pipelined(), pipelined()),
            (10, seed, 4),
        );
        let got = &hub.received[&device].1;
        assert_eq!(got.len(), 120, "seed {seed}");
        assert_eq!(
            client.received[&StreamId::Scope("123456".into())].1.len(),
            30,
            "seed {seed}"
        );
    }
}

#[test]
fn one_flush_covers_every_frame_that_arrived_together() {
    let (mut client, mut hub, device) = satker_and_hub(200, 0);
    let mut c = Session::client(pipelined(), &client).unwrap();
    let mut h = Session::server(pipelined());
    // Each side takes everything the other sent since it last answered, as the driver
    // hands a session every message that arrived while it was busy.
    while !(c.is_done() && h.is_done()) {
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
        }
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            check_ack(&m, &hub);
            c.handle(m, &mut client).unwrap();
        }
    }
    assert_eq!(hub.received[&device].1.len(), 200);
    // Dozens of frames of 40 bytes, up to eight in flight: one commit per flight.
    assert!(
        hub.reads >= 4 * hub.commits,
        "{} frames, {} commits",
        hub.reads,
        hub.commits
    );
}

#[test]
fn a_crash_between_a_frames_arrival_and_its_flush_loses_nothing_acknowledged() {
    for cut_after in [1usize, 3, 7, 12] {
        let (mut client, mut hub, device) = satker_and_hub(100, 0);
        client.remember = true;
        let mut c = Session::client(pipelined(), &client).unwrap();
        let mut h = Session::server(pipelined());
        // The hub takes several frames, stores them, and dies before its next message
        // (so before the commit that message would have needed).
        let mut handled = 0;
        'run: loop {
            while let Some(m) = c.poll_transmit(&mut client).unwrap() {
                let frame = matches!(m, Message::Frame { .. });
                h.handle(m, &mut hub).unwrap();
                handled += usize::from(frame);
                if handled == cut_after {
                    break 'run;
                }
            }
            while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
                check_ack(&m, &hub);
                c.handle(m, &mut client).unwrap();
            }
        }
        let acked = client.peer_acks.get(&device).copied().unwrap_or(0);
        hub.crash();
        assert!(
            acked <= hub.durable_position(&device),
            "the device was told {acked} was held; the hub kept {}",
            hub.durable_position(&device)
        );
        // A new connection: the device starts from what it was told, the hub says what
        // it really kept, and everything arrives exactly once.
        let (_, c2, _) = run(&mut client, &mut hub, pipelined());
        let got = &hub.received[&device].1;
        assert_eq!(got.len(), 100, "cut after {cut_after} frames");
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 100, "an item was stored twice");
        assert!(c2.stats().sent_items <= 100 - acked);
    }
}

#[test]
fn a_sender_keeps_no_more_frames_in_flight_than_the_receiver_granted() {
    let (mut client, mut hub, _) = satker_and_hub(100, 0);
    let narrow = Config {
        credit: 2,
        ..pipelined()
    };
    let mut c = Session::client(pipelined(), &client).unwrap();
    let mut h = Session::server(narrow);
    // The Hellos cross; after the hub's (credit 2), the device sends two frames and
    // waits for an ack, though its own window is eight.
    let hello = c.poll_transmit(&mut client).unwrap().unwrap();
    while c.poll_transmit(&mut client).unwrap().is_some() {}
    h.handle(hello, &mut hub).unwrap();
    let mut answers = vec![];
    while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
        answers.push(m);
    }
    for m in answers {
        c.handle(m, &mut client).unwrap();
    }
    let mut frames = 0;
    while let Some(m) = c.poll_transmit(&mut client).unwrap() {
        frames += usize::from(matches!(m, Message::Frame { .. }));
    }
    assert_eq!(frames, 2);
}
