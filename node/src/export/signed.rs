//! One signed item as an export shows it: the exact bytes its ed25519 signature covers,
//! the signature and the key, in base64, for any ed25519 library to check; the stored
//! envelope, whose SHA-256 is the address; and a readable view decoded from the very
//! body bytes that were signed.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Map, Value};
use sync_protocol::{HubIdentity, SignedItem};

use crate::{clock, error::Result};

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The export object of `item`.
pub(crate) fn object(item: &SignedItem) -> Result<Value> {
    let parts = SignedItem::signed_parts(&item.bytes)?;
    let decoded = ciborium::from_reader::<ciborium::Value, _>(parts.body.as_slice())
        .map(|v| readable(v, None))
        .unwrap_or(Value::Null);
    Ok(json!({
        "address": item.address.to_hex(),
        "kind": item.kind().name(),
        "signed_bytes": b64(&parts.message),
        "signature": b64(&parts.signature),
        "public_key": b64(&parts.author.0),
        "public_key_hex": parts.author.to_hex(),
        "envelope": b64(&item.bytes),
        "decoded": decoded,
    }))
}

/// The hub node key's signature over its authority key, which a hub identity carries
/// inside its body: a second signature of the same shape, so a verifier checks it with
/// the same three fields.
pub(crate) fn binding_object(item: &SignedItem, hub: &HubIdentity) -> Value {
    json!({
        "address": item.address.to_hex(),
        "kind": "hub authority binding",
        "signed_bytes": b64(&hub.binding_message()),
        "signature": b64(&hub.binding_sig),
        "public_key": b64(&hub.node_id.0),
        "public_key_hex": hub.node_id.to_hex(),
        "decoded": {
            "node_id": hub.node_id.to_hex(),
            "authority": hub.authority.to_hex(),
        },
    })
}

/// Whether an integer under `key` is one of the protocol's millisecond timestamps.
fn is_time(key: Option<&str>) -> bool {
    matches!(key, Some(k) if k == "at" || k.ends_with("_at") || k == "valid_from" || k == "valid_until")
}

/// A CBOR value as JSON for people: byte strings (addresses, keys) in hex, timestamps
/// in RFC 3339 UTC, everything else as it is.
fn readable(v: ciborium::Value, key: Option<&str>) -> Value {
    use ciborium::Value as C;
    match v {
        C::Integer(i) => {
            let n = i128::from(i);
            match i64::try_from(n) {
                Ok(ms) if is_time(key) => {
                    Value::String(clock::rfc3339(sync_protocol::Timestamp(ms)))
                }
                Ok(small) => json!(small),
                Err(_) => Value::String(n.to_string()),
            }
        }
        C::Bytes(b) => Value::String(hex::encode(b)),
        C::Text(t) => Value::String(t),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Float(f) => json!(f),
        C::Tag(_, inner) => readable(*inner, key),
        C::Array(a) => Value::Array(a.into_iter().map(|x| readable(x, key)).collect()),
        C::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let name = match k {
                    C::Text(t) => t,
                    other => match readable(other, None) {
                        Value::String(s) => s,
                        v => v.to_string(),
                    },
                };
                let value = readable(v, Some(&name));
                out.insert(name, value);
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::{DocState, Item, SecretKey, StatusUpdate, Timestamp};

    #[test]
    fn the_object_carries_the_exact_signed_bytes_and_a_readable_view() {
        let key = SecretKey::generate();
        let item = SignedItem::seal(
            Item::Status(StatusUpdate {
                doc_id: "spm-1".into(),
                satker: "123456".into(),
                state: DocState::Approved,
                at: Timestamp(1_764_590_400_000),
                reason: None,
                by: "fo".into(),
            }),
            &key,
        );
        let o = object(&item).unwrap();
        let signed = STANDARD
            .decode(o["signed_bytes"].as_str().unwrap())
            .unwrap();
        let sig = STANDARD.decode(o["signature"].as_str().unwrap()).unwrap();
        assert!(key.public().verify(b"espm/1/item/9", &signed[14..], &sig));
        assert_eq!(
            STANDARD.decode(o["envelope"].as_str().unwrap()).unwrap(),
            item.bytes
        );
        assert_eq!(o["decoded"]["state"], "approved");
        assert_eq!(o["decoded"]["at"], "2025-12-01T12:00:00Z");
        assert_eq!(o["address"], item.address.to_hex());
    }
}
