//! The signing policy: which roles must sign each document kind. Requirements are an
//! "all of" list of "any of" groups, so "Bendahara, and KPA or PPK" is two groups. The
//! hub owns the table and distributes it as a [`PolicyTable`] item signed by its
//! authority; [`Policy::default`] is what the hub issues when it is created.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{certificate::Jabatan, document::DocKind, ProtocolError, Timestamp};

/// The most "all of" groups one rule may hold. Five roles exist, so five groups already
/// say "every role"; more would only make the table and its messages larger.
pub const MAX_GROUPS_PER_RULE: usize = Jabatan::ALL.len();

/// The hub authority's signed statement of the signing policy table, in force from
/// `issued_at` (the hub's clock) until a newer table replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTable {
    /// From when the table is in force.
    pub issued_at: Timestamp,
    /// The table.
    pub policy: Policy,
}

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
    /// Checks that a node can apply the table: a rule for every document kind, each with
    /// one to [`MAX_GROUPS_PER_RULE`] groups, each group naming one or more roles, none
    /// twice. An empty rule would let a kind through with no signature at all, and an
    /// empty group could never be met.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |why: String| Err(ProtocolError::BadPolicyTable(why));
        for kind in DocKind::ALL {
            let Some(rule) = self.rules.get(&kind) else {
                return bad(format!("it has no rule for {kind}"));
            };
            if rule.0.is_empty() || rule.0.len() > MAX_GROUPS_PER_RULE {
                return bad(format!(
                    "the rule for {kind} has {} groups of roles; a rule has 1 to {MAX_GROUPS_PER_RULE}",
                    rule.0.len()
                ));
            }
            for group in &rule.0 {
                let distinct: BTreeSet<_> = group.0.iter().collect();
                if group.0.is_empty() || distinct.len() != group.0.len() {
                    return bad(format!(
                        "the rule for {kind} has a group with no role or a role named twice"
                    ));
                }
            }
        }
        Ok(())
    }

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

    /// The groups of the rule for `kind` that the roles that signed leave unmet, each
    /// as its roles joined by "or" (e.g. "KPA or PPK"); empty once the document is
    /// complete, and the whole rule's description when the table has none for `kind`.
    pub fn missing(&self, kind: DocKind, signed: &BTreeSet<Jabatan>) -> Vec<String> {
        let Some(rule) = self.rules.get(&kind) else {
            return vec!["a rule in the policy table".into()];
        };
        rule.0
            .iter()
            .filter(|g| !g.0.iter().any(|j| signed.contains(j)))
            .map(|g| describe(&AllOf(vec![g.clone()])))
            .collect()
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
    fn what_an_lpj_still_misses_is_named_group_by_group() {
        let p = Policy::default();
        assert_eq!(
            p.missing(DocKind::LpjBendahara, &set(&[])),
            ["Bendahara", "KPA or PPK"]
        );
        assert_eq!(
            p.missing(DocKind::LpjBendahara, &set(&[Ppk])),
            ["Bendahara"]
        );
        assert!(p
            .missing(DocKind::LpjBendahara, &set(&[Bendahara, Kpa]))
            .is_empty());
        assert_eq!(p.missing(DocKind::Spm, &set(&[Ppk])), ["PPSPM"]);
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
    fn the_default_table_is_one_a_node_applies() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn a_table_with_an_empty_rule_a_missing_kind_or_an_empty_group_is_refused() {
        // An empty rule would let a Gaji through unsigned; an empty group blocks it forever.
        let mut p = Policy::default();
        p.rules.insert(DocKind::Gaji, AllOf(vec![]));
        assert!(p.validate().unwrap_err().to_string().contains("gaji"));
        let mut p = Policy::default();
        p.rules.remove(&DocKind::Kontrak);
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no rule for kontrak"));
        let mut p = Policy::default();
        p.rules
            .insert(DocKind::Spm, AllOf(vec![AnyOf(vec![Ppspm]), AnyOf(vec![])]));
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.rules
            .insert(DocKind::Spm, AllOf(vec![AnyOf(vec![Ppspm, Ppspm])]));
        assert!(p.validate().is_err());
        let mut p = Policy::default();
        p.rules.insert(
            DocKind::Spm,
            AllOf(vec![AnyOf(vec![Ppspm]); MAX_GROUPS_PER_RULE + 1]),
        );
        assert!(p.validate().is_err());
    }

    #[test]
    fn a_policy_table_has_one_encoding() {
        use crate::encoding::{from_canonical, to_canonical};
        let table = PolicyTable {
            issued_at: Timestamp(1_790_000_000_000),
            policy: Policy::default(),
        };
        let bytes = to_canonical(&table);
        assert_eq!(from_canonical::<PolicyTable>(&bytes, "table"), Ok(table));
        // The same table with two of its rules swapped in the map: another encoding of
        // the same value, which a signature over the first must not be made to cover.
        let mut rules: Vec<(DocKind, AllOf)> =
            Policy::default().rules.into_iter().collect::<Vec<_>>();
        rules.swap(0, 1);
        #[derive(Serialize)]
        struct Loose {
            issued_at: Timestamp,
            policy: LooseRules,
        }
        #[derive(Serialize)]
        struct LooseRules {
            rules: Ordered,
        }
        struct Ordered(Vec<(DocKind, AllOf)>);
        impl Serialize for Ordered {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let swapped = to_canonical(&Loose {
            issued_at: Timestamp(1_790_000_000_000),
            policy: LooseRules {
                rules: Ordered(rules),
            },
        });
        assert_ne!(swapped, bytes);
        assert_eq!(
            from_canonical::<PolicyTable>(&swapped, "table"),
            Err(ProtocolError::NotCanonical { what: "table" })
        );
    }

    #[test]
    fn ppk_may_not_sign_an_spm() {
        let p = Policy::default();
        assert!(!p.may_sign(DocKind::Spm, Ppk));
        assert!(p.may_sign(DocKind::Kontrak, Ppk));
        assert!(p.may_sign(DocKind::LpjBendahara, Kpa));
    }
}
