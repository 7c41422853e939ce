//! A server publishes what its session's work calls for (the hub's signed checkpoint)
//! once it holds everything the device sent, and the device receives it in the same
//! session, after the commit that makes it durable and before the server's Done.

use super::*;

#[test]
fn what_the_hub_publishes_as_a_session_settles_reaches_the_device_in_that_session() {
    let (mut client, mut hub, device) = satker_and_hub(40, 3);
    hub.on_settle = Some((StreamId::Trust, b"checkpoint-40".to_vec()));
    run(&mut client, &mut hub, Config::default());
    assert_eq!(
        hub.received[&device].1.len(),
        40,
        "the device's items first"
    );
    assert_eq!(hub.settled.len(), 1, "settled once");
    let trust = &client.received[&StreamId::Trust].1;
    assert_eq!(trust.last().map(Vec::as_slice), Some(&b"checkpoint-40"[..]));
    // Committed after it settled: nothing it published left before its flush.
    assert!(hub.commits > hub.settled[0]);
}

#[test]
fn a_session_with_nothing_to_publish_ends_as_before() {
    let (mut client, mut hub, _) = satker_and_hub(5, 1);
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.settled.len(), 1);
    assert_eq!(client.received[&StreamId::Trust].1.len(), 1);
    assert!(c.is_done());
}
