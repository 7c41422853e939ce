//! The decoder against split, joined, oversized and hostile input; and every message kind
//! at its largest honest size against the message limit.

use super::*;
use crate::{
    attachment::{CHUNK_BYTES, MAX_WANT},
    draft_sync::{
        Announce, DraftMessage, DraftRefusal, RefusalReason, MAX_ANNOUNCED, MAX_DOC_ID_LEN,
        MAX_DRAFT_SYNC_BYTES,
    },
    encoding::FORMAT_VERSION,
    message::{
        FrameItem, Message, Refusal, MAX_ABORT_REASON_BYTES, MAX_FRAME_ITEMS, MAX_ITEM_BYTES,
        MAX_MESSAGE_BYTES, MAX_REASON_BYTES,
    },
    stream::{StreamId, VersionVector},
    Address, SecretKey,
};

/// Feeds `input` in pieces of `piece` bytes and collects every frame that comes out.
fn decode_in_pieces(
    decoder: &mut FrameDecoder,
    input: &[u8],
    piece: usize,
) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut frames = Vec::new();
    for mut chunk in input.chunks(piece) {
        while !chunk.is_empty() {
            let fed = decoder.feed(chunk)?;
            assert!(fed.consumed > 0 || fed.frame.is_some(), "no progress");
            chunk = &chunk[fed.consumed..];
            frames.extend(fed.frame);
        }
    }
    Ok(frames)
}

#[test]
fn frames_fed_in_pieces_of_any_size_come_out_whole_and_in_order() {
    let bodies: Vec<Vec<u8>> = vec![b"first".to_vec(), Vec::new(), vec![7u8; 3000], b"x".into()];
    let mut wire = Vec::new();
    for b in &bodies {
        wire.extend(encode_frame(b, 4096).unwrap());
    }
    for piece in [1, 2, 3, 4, 5, 7, 1000, wire.len()] {
        let mut d = FrameDecoder::new(4096);
        assert_eq!(decode_in_pieces(&mut d, &wire, piece).unwrap(), bodies);
        assert!(d.at_boundary(), "pieces of {piece}");
    }
}

#[test]
fn one_feed_stops_at_the_end_of_its_frame_and_leaves_the_next_one() {
    let mut wire = encode_frame(b"one", 100).unwrap();
    wire.extend(encode_frame(b"two", 100).unwrap());
    let mut d = FrameDecoder::new(100);
    let fed = d.feed(&wire).unwrap();
    assert_eq!(fed.consumed, 7);
    assert_eq!(fed.frame.as_deref(), Some(&b"one"[..]));
    let fed = d.feed(&wire[7..]).unwrap();
    assert_eq!(fed.frame.as_deref(), Some(&b"two"[..]));
    assert_eq!(fed.consumed, 7);
}

#[test]
fn a_length_over_the_limit_is_refused_as_soon_as_the_prefix_is_in() {
    let mut d = FrameDecoder::new(1000);
    assert_eq!(d.feed(&[0, 0, 3]).unwrap().consumed, 3);
    let err = d.feed(&[0xe9]).unwrap_err();
    assert!(err.to_string().contains("1001"), "{err}");
    assert!(err.to_string().contains("limit of 1000"), "{err}");
    assert_eq!(d.capacity(), 0, "nothing was allocated for it");
    // The stream is unusable from here: whatever follows is refused the same way.
    assert_eq!(d.feed(b"more").unwrap_err(), err);
}

#[test]
fn a_length_at_the_limit_is_accepted() {
    let body = vec![1u8; 1000];
    let mut d = FrameDecoder::new(1000);
    let fed = d.feed(&encode_frame(&body, 1000).unwrap()).unwrap();
    assert_eq!(fed.frame, Some(body));
}

#[test]
fn after_a_prefix_announcing_the_maximum_and_ten_bytes_the_decoder_holds_ten_bytes() {
    let mut d = FrameDecoder::new(MAX_MESSAGE_BYTES);
    let prefix = (MAX_MESSAGE_BYTES as u32).to_be_bytes();
    assert_eq!(d.feed(&prefix).unwrap().frame, None);
    assert_eq!(d.feed(&[9u8; 10]).unwrap().frame, None);
    assert_eq!(d.announced(), Some(MAX_MESSAGE_BYTES));
    assert_eq!(d.buffered(), PREFIX_BYTES + 10);
    assert!(d.capacity() >= 10 && d.capacity() <= 20, "{}", d.capacity());
    assert_eq!(d.wanted(), MAX_MESSAGE_BYTES - 10);
    assert!(!d.at_boundary());
}

#[test]
fn the_buffer_grows_with_what_arrives_never_past_twice_that_nor_past_the_frame() {
    let len = MAX_MESSAGE_BYTES - 3;
    let mut d = FrameDecoder::new(MAX_MESSAGE_BYTES);
    d.feed(&(len as u32).to_be_bytes()).unwrap();
    let piece = vec![5u8; 1200];
    let mut arrived = 0;
    while arrived < len {
        let n = piece.len().min(len - arrived);
        let fed = d.feed(&piece[..n]).unwrap();
        arrived += n;
        if let Some(body) = fed.frame {
            assert_eq!(body.len(), len);
            break;
        }
        assert!(
            d.capacity() <= 2 * arrived,
            "{} for {arrived}",
            d.capacity()
        );
        assert!(d.capacity() <= len);
    }
    assert_eq!(arrived, len);
    assert!(d.at_boundary());
    assert_eq!(d.capacity(), 0, "the finished body left with the frame");
}

#[test]
fn encode_frame_refuses_a_body_over_the_limit() {
    assert!(encode_frame(&[0u8; 11], 10).is_err());
    assert_eq!(encode_frame(&[1u8; 2], 10).unwrap(), vec![0, 0, 0, 2, 1, 1]);
}

#[test]
fn arbitrary_bytes_in_arbitrary_pieces_never_panic_the_decoder() {
    // A small deterministic generator stands in for a fuzzer until one is wired up.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let len = (next() % 64) as usize;
        let input: Vec<u8> = (0..len).map(|_| (next() % 4) as u8).collect();
        let piece = 1 + (next() % 8) as usize;
        let mut d = FrameDecoder::new(300);
        if let Ok(frames) = decode_in_pieces(&mut d, &input, piece) {
            let held: usize = frames.iter().map(|f| f.len() + PREFIX_BYTES).sum();
            assert_eq!(held + d.buffered(), input.len());
        }
    }
}

/// Asserts an encoded message fits the limit and crosses the framing intact.
fn fits(what: &str, body: Vec<u8>) {
    assert!(
        body.len() <= MAX_MESSAGE_BYTES,
        "{what} at its largest honest size takes {} bytes; the limit is {MAX_MESSAGE_BYTES}",
        body.len()
    );
    let frame = encode_frame(&body, MAX_MESSAGE_BYTES).unwrap();
    let fed = FrameDecoder::new(MAX_MESSAGE_BYTES).feed(&frame).unwrap();
    assert_eq!(fed.frame.as_ref(), Some(&body), "{what}");
}

/// An auditor's version vector over far more satkers than one KPPN serves, at the
/// largest positions: the largest Hello or Done an honest node sends.
fn wide_vector() -> VersionVector {
    let mut want = VersionVector::new();
    want.insert(StreamId::Trust, u64::MAX);
    for s in 0..10_000u32 {
        let code = format!("{:06}", 100_000 + s);
        want.insert(StreamId::Notices(code.clone()), u64::MAX);
        want.insert(StreamId::Scope(code), u64::MAX);
    }
    want
}

fn address(i: u64) -> Address {
    Address::of(&i.to_be_bytes())
}

#[test]
fn every_sync_message_at_its_largest_honest_size_fits_the_message_limit() {
    let device = StreamId::Origin(SecretKey::generate().public());
    let vector = wide_vector();
    fits(
        "a Hello",
        Message::Hello {
            version: FORMAT_VERSION,
            want: vector.clone(),
            offer: vec![device.clone()],
            has: VersionVector::new(),
            needs: 0,
            credit: 0,
        }
        .encode(),
    );
    fits(
        "a hub's Hello",
        Message::Hello {
            version: FORMAT_VERSION,
            want: VersionVector::from([(device.clone(), u64::MAX)]),
            offer: Vec::new(),
            has: vector.clone(),
            needs: u64::MAX,
            credit: 0,
        }
        .encode(),
    );
    fits("a Done", Message::Done { sent: vector }.encode());
    // One item just over the item limit must still arrive, to be refused with a reason.
    fits(
        "a Frame with one oversized item",
        Message::Frame {
            stream: device.clone(),
            after: u64::MAX - 1,
            through: u64::MAX,
            items: vec![FrameItem {
                seq: u64::MAX,
                bytes: vec![0xff; MAX_ITEM_BYTES + 1],
            }],
        }
        .encode(),
    );
    // The most items a frame carries, filling the 64 KiB frame budget between them.
    let each = 64 * 1024 / MAX_FRAME_ITEMS;
    fits(
        "a Frame of many items",
        Message::Frame {
            stream: device.clone(),
            after: u64::MAX - 1 - MAX_FRAME_ITEMS as u64,
            through: u64::MAX,
            items: (0..MAX_FRAME_ITEMS as u64)
                .map(|i| FrameItem {
                    seq: u64::MAX - MAX_FRAME_ITEMS as u64 + i,
                    bytes: vec![0xff; each],
                })
                .collect(),
        }
        .encode(),
    );
    fits(
        "an Ack refusing a whole frame",
        Message::Ack {
            stream: device.clone(),
            through: u64::MAX,
            refused: (0..MAX_FRAME_ITEMS as u64)
                .map(|i| Refusal {
                    seq: u64::MAX - i,
                    address: address(i),
                    reason: "é".repeat(MAX_REASON_BYTES / 2),
                })
                .collect(),
        }
        .encode(),
    );
    fits(
        "a Nack",
        Message::Nack {
            stream: device,
            through: u64::MAX,
        }
        .encode(),
    );
    fits(
        "a Want",
        Message::Want {
            chunks: (0..MAX_WANT as u64).map(address).collect(),
        }
        .encode(),
    );
    fits(
        "a Chunk",
        Message::Chunk {
            address: address(0),
            bytes: vec![0xff; CHUNK_BYTES],
        }
        .encode(),
    );
    fits(
        "a NoChunk",
        Message::NoChunk {
            address: address(0),
        }
        .encode(),
    );
    fits(
        "an Abort",
        Message::Abort {
            reason: "é".repeat(MAX_ABORT_REASON_BYTES / 2),
        }
        .encode(),
    );
}

/// A document id of the longest length accepted.
fn doc_id(i: usize) -> String {
    format!("{i:0>width$}", width = MAX_DOC_ID_LEN)
}

#[test]
fn every_draft_message_at_its_largest_honest_size_fits_the_message_limit() {
    let announce = |n: usize| -> Vec<Announce> {
        (0..n)
            .map(|i| Announce {
                doc_id: doc_id(i),
                digest: Some(address(i as u64)),
            })
            .collect()
    };
    fits(
        "a DraftHello",
        DraftMessage::DraftHello {
            version: FORMAT_VERSION,
            drafts: announce(MAX_ANNOUNCED),
            more: true,
        }
        .encode(),
    );
    // The hub answers each announced draft and adds as many of its own; refusals on top.
    fits(
        "a DraftWelcome",
        DraftMessage::DraftWelcome {
            drafts: announce(2 * MAX_ANNOUNCED),
            refused: (0..MAX_ANNOUNCED)
                .map(|i| DraftRefusal {
                    doc_id: doc_id(i),
                    reason: RefusalReason::WrongSatker {
                        draft: "100001".into(),
                        device: "100002".into(),
                    },
                })
                .collect(),
            more: true,
        }
        .encode(),
    );
    fits(
        "a DraftTurn",
        DraftMessage::DraftTurn {
            doc_id: doc_id(0),
            data: Some(vec![0xff; MAX_DRAFT_SYNC_BYTES]),
        }
        .encode(),
    );
    fits(
        "a DraftRefuse",
        DraftMessage::DraftRefuse {
            doc_id: doc_id(0),
            reason: RefusalReason::TooLarge {
                bytes: u64::MAX,
                limit: MAX_DRAFT_SYNC_BYTES as u64,
            },
        }
        .encode(),
    );
}

#[test]
fn a_stream_header_of_each_kind_reads_back_as_written() {
    for kind in StreamKind::ALL {
        let bytes = StreamHeader::new(kind).encode();
        assert_eq!(&bytes[..4], b"espm");
        let read = StreamHeader::decode(&bytes).unwrap();
        assert_eq!(read.kind, kind);
        assert_eq!(read.version, FORMAT_VERSION);
    }
    // Each kind has a code of its own.
    assert_ne!(
        StreamKind::Reconciliation.code(),
        StreamKind::DraftSync.code()
    );
}

#[test]
fn a_stream_header_of_an_unknown_kind_is_refused_naming_the_kind_and_those_known() {
    let mut bytes = StreamHeader::new(StreamKind::Reconciliation).encode();
    bytes[4] = 9;
    let e = StreamHeader::decode(&bytes).unwrap_err().to_string();
    assert!(e.contains("stream kind 9"), "{e}");
    assert!(e.contains("1 is sync, 2 is draft sync"), "{e}");
}

#[test]
fn a_stream_header_in_another_format_version_is_refused_naming_both_versions() {
    let mut bytes = StreamHeader::new(StreamKind::DraftSync).encode();
    bytes[5] = FORMAT_VERSION + 1;
    let e = StreamHeader::decode(&bytes).unwrap_err().to_string();
    assert!(
        e.contains(&format!("format version {}", FORMAT_VERSION + 1))
            && e.contains(&format!("speaks version {FORMAT_VERSION}")),
        "{e}"
    );
}

#[test]
fn a_stream_that_opens_with_a_message_instead_of_a_header_is_refused() {
    // What an espm from before stream headers writes first: a message's length prefix.
    let hello = Message::Hello {
        version: FORMAT_VERSION,
        want: VersionVector::new(),
        offer: Vec::new(),
        has: VersionVector::new(),
        needs: 0,
        credit: 0,
    };
    let framed = encode_frame(&hello.encode(), MAX_MESSAGE_BYTES).unwrap();
    let e = StreamHeader::decode(&framed[..HEADER_BYTES])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not begin with an espm stream header"),
        "{e}"
    );
    for len in [0, 1, HEADER_BYTES - 1, HEADER_BYTES + 1] {
        assert!(
            StreamHeader::decode(&vec![b'e'; len]).is_err(),
            "{len} bytes"
        );
    }
}

#[test]
fn any_bytes_either_fail_to_read_as_a_header_or_are_one_written_by_this_build() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let len = (next() % 9) as usize;
        let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly the magic, so the kind and version bytes get exercised.
        if input.len() >= 4 && next() % 4 != 0 {
            input[..4].copy_from_slice(&STREAM_MAGIC);
            if input.len() > 4 {
                input[4] = (next() % 4) as u8;
            }
            if input.len() > 5 {
                input[5] = (next() % 3) as u8;
            }
        }
        if let Ok(h) = StreamHeader::decode(&input) {
            assert_eq!(h.encode().as_slice(), input.as_slice());
            accepted += 1;
        }
    }
    assert!(accepted > 0, "the generator never made a valid header");
}
