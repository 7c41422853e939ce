//! Fuzz targets for every decoder of peer input in espm, each a function of raw bytes
//! that must return (never panic, never hang, never allocate without bound) whatever
//! the bytes are: wire messages and their framing, every item kind behind its
//! signature, draft-sync messages, the automerge sync messages inside them, and the two
//! sans-IO sessions fed sequences of messages a hostile peer could send.
//!
//! They run on the stable toolchain: `tests/` drives each with proptest over random and
//! mutated inputs on every `cargo test` (a bounded run), and `espm-fuzz TARGET
//! --seconds N` runs a longer mutation loop from seed inputs, saving any input that
//! panics under `fuzz/artifacts/`. A crash found becomes a file under
//! `fuzz/regressions/TARGET/`, replayed by the tests. This crate must never be a
//! dependency of the node: it exists to attack it.

pub mod mutate;
pub mod seeds;
mod sessions;

use sync_protocol::{DraftMessage, ItemKind, Message, SecretKey, SignedItem};

/// A fuzz target: bytes in, nothing out, must not panic.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("framing", framing),
    ("stream-header", stream_header),
    ("wire-message", wire_message),
    ("draft-message", draft_message),
    ("signed-item", signed_item),
    ("item-body", item_body),
    ("session", sessions::session),
    ("draft-session", sessions::draft_session),
    ("automerge-guard", automerge_guard),
    ("automerge-sync", automerge_sync),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The length-prefixed framing of a stream, fed in pieces whose sizes the first byte
/// picks: frames come out whole, in order, never longer than the limit, and the decoder
/// never holds much more than what arrived.
pub fn framing(data: &[u8]) {
    use sync_protocol::{FrameDecoder, MAX_MESSAGE_BYTES};
    let Some((&step, mut rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    let mut decoder = FrameDecoder::new(MAX_MESSAGE_BYTES);
    while !rest.is_empty() {
        let piece = &rest[..step.min(rest.len())];
        let Ok(out) = decoder.feed(piece) else {
            return;
        };
        assert!(out.consumed <= piece.len(), "took more than it was given");
        rest = &rest[out.consumed..];
        if let Some(body) = out.frame {
            assert!(
                body.len() <= MAX_MESSAGE_BYTES,
                "a frame over the limit came out"
            );
            wire_message(&body);
        }
        assert!(
            decoder.capacity() <= 2 * decoder.buffered().max(1) + 64 * 1024,
            "the decoder holds {} bytes for {} that arrived",
            decoder.capacity(),
            decoder.buffered()
        );
        if out.consumed == 0 {
            assert!(piece.is_empty(), "the decoder stopped taking input");
            return;
        }
    }
}

/// The header that opens every stream: read or refused, and what is read is exactly
/// what this build writes for that kind.
pub fn stream_header(data: &[u8]) {
    use sync_protocol::StreamHeader;
    if let Ok(h) = StreamHeader::decode(data) {
        assert_eq!(
            StreamHeader::new(h.kind).encode().as_slice(),
            data,
            "a header read differently from how it is written"
        );
    }
}

/// A reconciliation message off the wire: decodes or is refused, and what decodes
/// survives a round trip unchanged.
pub fn wire_message(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        let again = Message::decode(&m.encode()).expect("a decoded message re-decodes");
        assert_eq!(again, m, "a message changed across encode and decode");
    }
}

/// A draft-sync message off the wire.
pub fn draft_message(data: &[u8]) {
    if let Ok(m) = DraftMessage::decode(data) {
        let again = DraftMessage::decode(&m.encode()).expect("a decoded message re-decodes");
        assert_eq!(again, m, "a draft message changed across encode and decode");
    }
}

/// An item envelope from a peer or a store: opens (signature checked) or is refused.
pub fn signed_item(data: &[u8]) {
    if let Ok(item) = SignedItem::open(data) {
        assert_eq!(item.address, sync_protocol::Address::of(data));
    }
}

/// The guard every automerge sync message from a peer passes before automerge sees it.
pub fn automerge_guard(data: &[u8]) {
    let _ = storage::draft::check_sync_message(data, &storage::draft::Limits::PEER);
}

/// A peer's automerge sync message applied to a draft, as the hub and devices apply
/// them: the guard, then automerge. A refusal is fine; a panic or an unbounded
/// allocation is not.
pub fn automerge_sync(data: &[u8]) {
    let Ok(mut draft) = storage::Draft::new("spm-1", sync_protocol::DocKind::Spm, "123456") else {
        return;
    };
    let mut state = storage::draft::SyncState::new();
    if draft.receive_sync_message(&mut state, data).is_ok() {
        let _ = draft.save_received();
    }
}

/// The signing key the body target seals with; any key would do.
fn fuzz_key() -> SecretKey {
    SecretKey::from_bytes(&[7u8; 32])
}

/// Each kind's body decoder, reached past a valid signature: the first byte picks the
/// kind, the rest is the body.
pub fn item_body(data: &[u8]) {
    let Some((&k, body)) = data.split_first() else {
        return;
    };
    let kind = ItemKind::ALL[k as usize % ItemKind::ALL.len()];
    let bytes = SignedItem::seal_raw_body(kind, body.to_vec(), &fuzz_key());
    if let Ok(item) = SignedItem::open(&bytes) {
        assert_eq!(item.kind(), kind, "a body decoded as another kind");
    }
}
