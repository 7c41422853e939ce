//! The known sets an argument must come from (document kind, jabatan, operator role,
//! stage, state), each listed once from sync-protocol's enums, so that a value outside the set
//! is a usage error (exit 2) that lists the valid values before any node is opened or
//! any command is sent to a serving one.

use clap::builder::PossibleValuesParser;
use sync_protocol::{DocKind, DocState, Jabatan, OperatorRole};

/// Document kinds: `spm`, `spm-koreksi`, ….
pub fn kind() -> PossibleValuesParser {
    PossibleValuesParser::new(DocKind::ALL.map(DocKind::as_str))
}

/// Jabatan of a signer: `kpa`, `ppk`, `ppspm`, `bendahara`, `kepala-kantor`.
pub fn jabatan() -> PossibleValuesParser {
    PossibleValuesParser::new(Jabatan::ALL.map(Jabatan::as_str))
}

/// Operator roles: `operator-satker`, `operator-bendahara`.
pub fn operator_role() -> PossibleValuesParser {
    PossibleValuesParser::new(OperatorRole::ALL.map(OperatorRole::as_str))
}

/// The KPPN's processing stages `advance` moves to: `konversi` … `approved`.
pub fn stage() -> PossibleValuesParser {
    PossibleValuesParser::new(DocState::stages().map(DocState::as_str))
}

/// Document states, `draft` … `approved` and `rejected`, for lists.
pub fn state() -> PossibleValuesParser {
    PossibleValuesParser::new(DocState::ALL.map(DocState::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::builder::TypedValueParser;

    fn names(p: PossibleValuesParser) -> Vec<String> {
        p.possible_values()
            .into_iter()
            .flatten()
            .map(|v| v.get_name().to_string())
            .collect()
    }

    #[test]
    fn stages_are_the_four_kppn_steps_in_order() {
        assert_eq!(
            names(stage()),
            ["konversi", "validasi", "reviu", "approved"]
        );
    }

    #[test]
    fn every_kind_jabatan_and_role_is_offered() {
        assert_eq!(names(kind()).len(), DocKind::ALL.len());
        assert_eq!(names(jabatan()).len(), Jabatan::ALL.len());
        assert_eq!(
            names(operator_role()),
            ["operator-satker", "operator-bendahara"]
        );
    }
}
