//! The signing policy: which roles must sign each document kind. Requirements are an
//! "all of" list of "any of" groups, so "Bendahara, and KPA or PPK" is two groups.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{certificate::Jabatan, document::DocKind, ProtocolError};

/// One group of roles of which at least one must have signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnyOf(pub Vec<Jabatan>);

/// All of these groups must be satisfied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllOf(pub Vec<AnyOf>);

/// The table from document kind to required signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Requirements per kind.
    pub rules: BTreeMap<DocKind, AllOf>,
}

impl Default for Policy {
    /// The defaults of PER-10/PB/2018 as DESIGN.md §3 tabulates them.
    fn default() -> Self {
        use Jabatan::*;
        let one = |j: Jabatan| AllOf(vec![AnyOf(vec![j])]);
        let mut rules = BTreeMap::new();
        for k in [DocKind::Spm, DocKind::SpmKoreksi] {
            rules.insert(k, one(Ppspm));
        }
        for k in [
            DocKind::SpmKp,
            DocKind::SpmKpbb,
            DocKind::SpmKbc,
            DocKind::SpmIb,
            DocKind::SpmBphtb,
        ] {
            rules.insert(k, one(KepalaKantor));
        }
        rules.insert(DocKind::Kontrak, one(Ppk));
        rules.insert(DocKind::RpdHarian, one(Ppk));
        rules.insert(DocKind::Gaji, one(Kpa));
        rules.insert(
            DocKind::LpjBendahara,
            AllOf(vec![AnyOf(vec![Bendahara]), AnyOf(vec![Kpa, Ppk])]),
        );
        Policy { rules }
    }
}

impl Policy {
    /// The requirement for `kind`, or an error if the table has none.
    pub fn requirement(&self, kind: DocKind) -> Result<&AllOf, ProtocolError> {
        self.rules
            .get(&kind)
            .ok_or_else(|| ProtocolError::PolicyNotMet {
                kind: kind.to_string(),
                needed: "a rule in the policy table".into(),
                present: "none".into(),
            })
    }

    /// Whether `jabatan` appears anywhere in the rule for `kind`: a signer in any other
    /// role has no business signing that kind.
    pub fn may_sign(&self, kind: DocKind, jabatan: Jabatan) -> bool {
        self.rules
            .get(&kind)
            .is_some_and(|r| r.0.iter().any(|g| g.0.contains(&jabatan)))
    }

    /// Checks that the roles that signed satisfy the rule for `kind`.
    pub fn check(&self, kind: DocKind, signed: &BTreeSet<Jabatan>) -> Result<(), ProtocolError> {
        let rule = self.requirement(kind)?;
        if rule
            .0
            .iter()
            .all(|g| g.0.iter().any(|j| signed.contains(j)))
        {
            return Ok(());
        }
        Err(ProtocolError::PolicyNotMet {
            kind: kind.to_string(),
            needed: describe(rule),
            present: if signed.is_empty() {
                "no signatures".into()
            } else {
                signed
                    .iter()
                    .map(|j| j.title())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// The roles that may sign `kind`, as a sentence.
    pub fn describe(&self, kind: DocKind) -> String {
        self.rules
            .get(&kind)
            .map(describe)
            .unwrap_or_else(|| "no rule".into())
    }
}

fn describe(rule: &AllOf) -> String {
    rule.0
        .iter()
        .map(|g| {
            g.0.iter()
                .map(|j| j.title())
                .collect::<Vec<_>>()
                .join(" or ")
        })
        .collect::<Vec<_>>()
        .join(", and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Jabatan::*;

    fn set(js: &[Jabatan]) -> BTreeSet<Jabatan> {
        js.iter().copied().collect()
    }

    #[test]
    fn spm_needs_ppspm() {
        let p = Policy::default();
        assert!(p.check(DocKind::Spm, &set(&[Ppspm])).is_ok());
        let err = p.check(DocKind::Spm, &set(&[Ppk])).unwrap_err();
        assert!(err.to_string().contains("spm needs PPSPM"), "{err}");
    }

    #[test]
    fn lpj_needs_bendahara_and_kpa_or_ppk() {
        let p = Policy::default();
        assert!(p
            .check(DocKind::LpjBendahara, &set(&[Bendahara, Kpa]))
            .is_ok());
        assert!(p
            .check(DocKind::LpjBendahara, &set(&[Bendahara, Ppk]))
            .is_ok());
        assert!(p.check(DocKind::LpjBendahara, &set(&[Bendahara])).is_err());
        assert!(p.check(DocKind::LpjBendahara, &set(&[Kpa, Ppk])).is_err());
    }

    #[test]
    fn special_spm_kinds_need_kepala_kantor() {
        let p = Policy::default();
        for k in [
            DocKind::SpmKp,
            DocKind::SpmKpbb,
            DocKind::SpmKbc,
            DocKind::SpmIb,
            DocKind::SpmBphtb,
        ] {
            assert!(p.check(k, &set(&[KepalaKantor])).is_ok());
            assert!(p.check(k, &set(&[Ppspm])).is_err());
        }
    }

    #[test]
    fn ppk_may_not_sign_an_spm() {
        let p = Policy::default();
        assert!(!p.may_sign(DocKind::Spm, Ppk));
        assert!(p.may_sign(DocKind::Kontrak, Ppk));
        assert!(p.may_sign(DocKind::LpjBendahara, Kpa));
    }
}
