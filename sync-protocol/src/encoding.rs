//! Canonical CBOR. ciborium is the maintained CBOR crate but not a canonical encoder in
//! general (it keeps map order as given); our types are built so that its output is
//! canonical anyway: structs encode fields in declaration order, maps are `BTreeMap`s
//! with sorted keys, integers take their shortest form, and no floats are used. Decoding
//! re-encodes and compares, so any other encoding of the same value is refused.

use serde::{de::DeserializeOwned, Serialize};

use crate::ProtocolError;

/// The wire and signing format version of this build.
pub const FORMAT_VERSION: u8 = 1;

/// Encodes a value to its canonical CBOR bytes.
pub fn to_canonical<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Writing into a Vec cannot fail, and our types have no custom serializers that
    // fail, so an error here is a programming bug, not peer input.
    if let Err(e) = ciborium::into_writer(value, &mut out) {
        panic!("canonical encoding of an in-memory value failed: {e}");
    }
    out
}

/// Decodes bytes and refuses them unless they are the canonical encoding of the value.
pub fn from_canonical<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ProtocolError> {
    let value: T = ciborium::from_reader(bytes).map_err(|e| ProtocolError::malformed(what, e))?;
    if to_canonical(&value) != bytes {
        return Err(ProtocolError::NotCanonical { what });
    }
    Ok(value)
}

/// Decodes bytes that need not be canonical (transport framing, local records).
pub fn from_cbor<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, ProtocolError> {
    ciborium::from_reader(bytes).map_err(|e| ProtocolError::malformed(what, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn same_value_always_encodes_to_the_same_bytes() {
        let mut a = BTreeMap::new();
        a.insert("zeta".to_string(), 1u64);
        a.insert("alpha".to_string(), 2u64);
        let mut b = BTreeMap::new();
        b.insert("alpha".to_string(), 2u64);
        b.insert("zeta".to_string(), 1u64);
        assert_eq!(to_canonical(&a), to_canonical(&b));
    }

    #[test]
    fn non_canonical_integer_is_refused() {
        // 1 encoded as a two-byte unsigned (0x18 0x01) instead of the one-byte form.
        let err = from_canonical::<u64>(&[0x18, 0x01], "number").unwrap_err();
        assert_eq!(err, ProtocolError::NotCanonical { what: "number" });
        assert_eq!(from_canonical::<u64>(&[0x01], "number").unwrap(), 1);
    }
}
