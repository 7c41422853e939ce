//! What a session sends stays within the wire limits, whatever its replica hands it.

use super::*;
use crate::message::{MAX_MESSAGE_BYTES, MAX_REASON_BYTES};

#[test]
fn an_ack_refusing_a_whole_frame_with_long_reasons_fits_in_one_message() {
    let (mut client, mut hub, device) = satker_and_hub(MAX_FRAME_ITEMS, 0);
    let payloads = client.logs[&device].clone();
    hub.refuse = payloads;
    // A replica's reason can quote what it refused; two-byte characters straddle the cut.
    hub.refusal = Some("é".repeat(10_000));
    let config = Config {
        frame_bytes: MAX_ITEM_BYTES,
        window: 4,
        credit: 4,
    };
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    let mut acked = 0;
    for _ in 0..10 {
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
        }
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            let bytes = m.encode().len();
            assert!(bytes <= MAX_MESSAGE_BYTES, "a message of {bytes} bytes");
            if let Message::Ack { refused, .. } = &m {
                assert!(refused.iter().all(|r| r.reason.len() <= MAX_REASON_BYTES));
                acked += refused.len();
            }
            c.handle(m, &mut client).unwrap();
        }
    }
    assert_eq!(
        acked, MAX_FRAME_ITEMS,
        "every item of the frame was refused"
    );
}

#[test]
fn a_stream_of_tiny_items_goes_out_in_frames_the_peer_accepts() {
    // Four bytes each: far more of them than one frame may carry fit in its byte budget.
    let n = 2 * MAX_FRAME_ITEMS + 5;
    let (mut client, mut hub, device) = satker_and_hub(0, 0);
    client.logs.insert(
        device.clone(),
        (0..n).map(|i| (i as u32).to_be_bytes().to_vec()).collect(),
    );
    let (_, c, _) = run(&mut client, &mut hub, Config::default());
    assert_eq!(hub.received[&device].0, n as u64);
    assert_eq!(hub.received[&device].1.len(), n);
    assert_eq!(c.stats().sent_items, n as u64);
}
