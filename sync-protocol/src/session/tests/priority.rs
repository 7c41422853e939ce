//! On a thin link the hub's trust items and notices go before documents.

use super::*;

#[test]
fn notices_travel_before_documents_on_a_thin_link() {
    let (mut client, mut hub, _) = satker_and_hub(0, 0);
    let documents = StreamId::Scope("123456".into());
    let notices = StreamId::Notices("123456".into());
    hub.logs.insert(
        documents.clone(),
        (0..20).map(|i| vec![i as u8; 100]).collect(),
    );
    hub.logs
        .insert(notices.clone(), (0..5).map(|i| vec![i as u8; 10]).collect());
    hub.serves = vec![StreamId::Trust, documents.clone(), notices.clone()];
    client.wants = vec![documents.clone(), StreamId::Trust, notices.clone()];
    // One small frame at a time, so the order of frames is the order of streams.
    let config = Config {
        frame_bytes: 1,
        window: 1,
        credit: 1,
    };
    let mut c = Session::client(config, &client).unwrap();
    let mut h = Session::server(config);
    h.handle(c.poll_transmit(&mut client).unwrap().unwrap(), &mut hub)
        .unwrap();
    let mut order = vec![];
    for _ in 0..200 {
        let mut out = vec![];
        while let Some(m) = h.poll_transmit(&mut hub).unwrap() {
            if let Message::Frame { stream, .. } = &m {
                order.push(stream.clone());
            }
            out.push(m);
        }
        for m in out {
            c.handle(m, &mut client).unwrap();
        }
        while let Some(m) = c.poll_transmit(&mut client).unwrap() {
            h.handle(m, &mut hub).unwrap();
        }
        if h.is_done() {
            break;
        }
    }
    let first_document = order.iter().position(|s| *s == documents).unwrap();
    let last_notice = order.iter().rposition(|s| *s == notices).unwrap();
    let last_trust = order.iter().rposition(|s| *s == StreamId::Trust).unwrap();
    assert!(
        last_trust < first_document && last_notice < first_document,
        "{order:?}"
    );
    assert_eq!(client.received[&documents].1.len(), 20);
    assert_eq!(client.received[&notices].1.len(), 5);
}
