//! Operators: the people who deliver a satker's signed documents (Operator Satker,
//! Operator Bendahara in PER-10/PB/2018). An operator's TOTP secret is made on a satker
//! device, which asks the KPPN to activate the operator; the KPPN's CSO checks the
//! operator's letter of appointment (SK Penunjukan) and activates it with the authority
//! key ("Aktivasi Operator Satker"). Only an active operator of the right role submits.
//!
//! The rules here (usernames, roles, which role submits which kind) are the ones both the
//! device and the hub apply, so they live in this one place.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{document::DocKind, Address, NodeId, ProtocolError, Timestamp};

/// The fewest characters of a username (the regulation's registration rule).
pub const MIN_USERNAME_CHARS: usize = 8;
/// The most characters of a username: a peer's text is bounded like everything else.
pub const MAX_USERNAME_CHARS: usize = 64;
/// The most characters of the SK Penunjukan reference a request may carry.
pub const MAX_SK_REFERENCE_CHARS: usize = 200;

/// What an operator delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorRole {
    /// Operator Satker: SPM of every kind, Kontrak, RPD Harian, Gaji.
    OperatorSatker,
    /// Operator Bendahara: LPJ Bendahara.
    OperatorBendahara,
}

impl OperatorRole {
    /// Both roles.
    pub const ALL: [OperatorRole; 2] = [
        OperatorRole::OperatorSatker,
        OperatorRole::OperatorBendahara,
    ];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::OperatorSatker => "operator-satker",
            OperatorRole::OperatorBendahara => "operator-bendahara",
        }
    }

    /// The title as the regulation writes it.
    pub fn title(self) -> &'static str {
        match self {
            OperatorRole::OperatorSatker => "Operator Satker",
            OperatorRole::OperatorBendahara => "Operator Bendahara",
        }
    }

    /// The role that submits documents of `kind`.
    pub fn for_kind(kind: DocKind) -> OperatorRole {
        if kind.submitted_by_bendahara() {
            OperatorRole::OperatorBendahara
        } else {
            OperatorRole::OperatorSatker
        }
    }

    /// Whether an operator of this role may submit `kind`.
    pub fn may_submit(self, kind: DocKind) -> bool {
        self == OperatorRole::for_kind(kind)
    }
}

impl fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperatorRole {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OperatorRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ProtocolError::BadIdentifier {
                what: "operator role",
                text: s.to_string(),
                why: format!(
                    "expected one of {}",
                    OperatorRole::ALL.map(OperatorRole::as_str).join(", ")
                ),
            })
    }
}

/// Checks a username: at least [`MIN_USERNAME_CHARS`] ASCII letters or digits (and at most
/// [`MAX_USERNAME_CHARS`]), so it is also safe inside store keys and otpauth URIs.
pub fn validate_username(username: &str) -> Result<(), ProtocolError> {
    let n = username.chars().count();
    if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&n)
        || !username.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ProtocolError::BadIdentifier {
            what: "username",
            text: username.chars().take(MAX_USERNAME_CHARS).collect(),
            why: format!(
                "must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} letters or digits (a-z, A-Z, 0-9)"
            ),
        });
    }
    Ok(())
}

/// A satker device asks the KPPN to activate an operator whose TOTP secret it made. The
/// envelope is signed by that device's node key; the secret never leaves the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRequest {
    /// The operator's username.
    pub username: String,
    /// What the operator delivers.
    pub role: OperatorRole,
    /// The satker the operator serves.
    pub satker: String,
    /// The device that holds the operator's TOTP secret (also the envelope author).
    pub device: NodeId,
    /// The letter of appointment (SK Penunjukan) the CSO checks, as its number or title.
    pub sk_penunjukan: Option<String>,
    /// When the request was made.
    pub requested_at: Timestamp,
}

impl OperatorRequest {
    /// Checks the fields a device or a hub must refuse, naming the first that fails.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        validate_username(&self.username)?;
        if let Some(sk) = &self.sk_penunjukan {
            if sk.chars().count() > MAX_SK_REFERENCE_CHARS {
                return Err(ProtocolError::BadIdentifier {
                    what: "SK Penunjukan reference",
                    text: sk.chars().take(40).collect(),
                    why: format!("must be at most {MAX_SK_REFERENCE_CHARS} characters"),
                });
            }
        }
        Ok(())
    }
}

/// The KPPN's activation of an operator, signed by the authority key and delivered in
/// the satker's notices stream. It binds the operator to the one device holding its
/// secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorActivation {
    /// The request item this answers.
    pub request: Address,
    /// The operator's username.
    pub username: String,
    /// What the operator delivers.
    pub role: OperatorRole,
    /// The satker.
    pub satker: String,
    /// The device the operator submits from.
    pub device: NodeId,
    /// When the CSO activated it.
    pub activated_at: Timestamp,
}

impl OperatorActivation {
    /// Whether this activation answers `request`, made at `address`.
    pub fn answers(&self, address: &Address, request: &OperatorRequest) -> bool {
        &self.request == address
            && self.username == request.username
            && self.role == request.role
            && self.satker == request.satker
            && self.device == request.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_needs_eight_to_sixty_four_ascii_letters_or_digits() {
        for ok in ["operator01", "ABCDEFGH", "12345678", &"a".repeat(64)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "op01",
            "operator 1",
            "operator-01",
            "operatör01",
            "",
            &"a".repeat(65),
            "operator/01",
        ] {
            let e = validate_username(bad).unwrap_err().to_string();
            assert!(e.contains("username"), "{bad}: {e}");
        }
    }

    #[test]
    fn each_kind_is_submitted_by_exactly_one_role() {
        for kind in DocKind::ALL {
            let allowed: Vec<_> = OperatorRole::ALL
                .into_iter()
                .filter(|r| r.may_submit(kind))
                .collect();
            assert_eq!(allowed, vec![OperatorRole::for_kind(kind)], "{kind}");
        }
        assert!(!OperatorRole::OperatorSatker.may_submit(DocKind::LpjBendahara));
        assert!(!OperatorRole::OperatorBendahara.may_submit(DocKind::Spm));
    }

    #[test]
    fn roles_parse_only_from_their_cli_names() {
        for r in OperatorRole::ALL {
            assert_eq!(r.as_str().parse::<OperatorRole>().unwrap(), r);
        }
        assert!("operator".parse::<OperatorRole>().is_err());
        assert!("Operator-Satker".parse::<OperatorRole>().is_err());
    }
}
