//! The field schema of each document kind: which fields a document of that kind has,
//! the type of each value, and which must be present before it is signed. The hub owns
//! the schemas and distributes them as a [`FieldSchemaTable`] item signed by its
//! authority, as it does the signing policy; [`FieldSchemas::default`] is what the hub
//! issues when it is created.
//!
//! Values are text, as a draft holds them. The types and their syntax:
//! - `text`: one line of at most [`MAX_TEXT_CHARS`] characters, not blank;
//! - `note`: free text over several lines, at most [`MAX_NOTE_CHARS`] characters;
//! - `date`: `YYYY-MM-DD`, a day of the calendar;
//! - `rupiah`: whole rupiah written as digits, greater than zero (`1500000`);
//! - `choice`: one of a fixed set (`LS`, `UP`, …);
//! - `digits`: only digits, of a given length (a bank account number);
//! - `npwp`: the taxpayer number, 15 or 16 digits;
//! - `document`: the document id of another document of the satker (`spm-0123456789ab`);
//! - `akun`: the account (MAK) lines, `AKUN:RUPIAH` separated by commas, each akun six
//!   digits, at most once, for example `525111:1500000,525113:500000`; where a kind has
//!   both an `akun` field and `nilai`, the lines add up to `nilai`.

#[cfg(test)]
mod tests;
mod values;

pub use values::holds_card_number;
use values::{akun_lines, all_digits, is_date, rupiah};

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::{document::DocKind, ProtocolError, Timestamp};

/// The most characters a `text` value may hold.
pub const MAX_TEXT_CHARS: usize = 500;
/// The most characters a `note` value may hold.
pub const MAX_NOTE_CHARS: usize = 16_000;
/// The most lines an `akun` value may hold.
pub const MAX_AKUN_LINES: usize = 99;
/// The most fields one kind's schema may declare.
pub const MAX_FIELDS_PER_KIND: usize = 32;
/// The most characters a field name may hold.
pub const MAX_FIELD_NAME_CHARS: usize = 32;
/// The most values a `choice` may offer.
pub const MAX_CHOICES: usize = 32;

/// The field of an SPM Koreksi naming the document it corrects; its value is what the
/// snapshot's `corrects` carries.
pub const CORRECTS_FIELD: &str = "dikoreksi";

/// The name of the field whose value the `akun` lines must add up to.
pub const TOTAL_FIELD: &str = "nilai";

/// The hub authority's signed statement of the field schemas, in force from `issued_at`
/// (the hub's clock) until a newer table replaces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSchemaTable {
    /// From when the table is in force.
    pub issued_at: Timestamp,
    /// The schemas.
    pub schemas: FieldSchemas,
}

/// The type of one field's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldType {
    /// One line of free text.
    Text,
    /// Free text over several lines.
    Note,
    /// A calendar day, `YYYY-MM-DD`.
    Date,
    /// Whole rupiah greater than zero, as digits.
    Rupiah,
    /// One of a fixed set of values.
    Choice(Vec<String>),
    /// Only digits, `min` to `max` of them.
    Digits {
        /// The fewest digits.
        min: u8,
        /// The most digits.
        max: u8,
    },
    /// A taxpayer number (NPWP): 15 or 16 digits.
    Npwp,
    /// The id of another document of the satker.
    Document,
    /// Account (MAK) lines, `AKUN:RUPIAH,…`.
    Akun,
}

impl FieldType {
    /// The type's name as `espm kinds` prints it (`text`, `choice LS|UP`, `digits 6-20`).
    pub fn name(&self) -> String {
        match self {
            FieldType::Text => "text".into(),
            FieldType::Note => "note".into(),
            FieldType::Date => "date".into(),
            FieldType::Rupiah => "rupiah".into(),
            FieldType::Choice(set) => format!("choice {}", set.join("|")),
            FieldType::Digits { min, max } if min == max => format!("digits {min}"),
            FieldType::Digits { min, max } => format!("digits {min}-{max}"),
            FieldType::Npwp => "npwp".into(),
            FieldType::Document => "document".into(),
            FieldType::Akun => "akun".into(),
        }
    }

    /// What a value of this type looks like, for a person who typed a wrong one.
    pub fn expected(&self) -> String {
        match self {
            FieldType::Text => format!("one line of text of at most {MAX_TEXT_CHARS} characters"),
            FieldType::Note => format!("text of at most {MAX_NOTE_CHARS} characters"),
            FieldType::Date => "a date written YYYY-MM-DD, for example 2026-03-01".into(),
            FieldType::Rupiah => {
                "whole rupiah greater than zero written as digits, for example 1500000".into()
            }
            FieldType::Choice(set) => format!("one of {}", set.join(", ")),
            FieldType::Digits { min, max } if min == max => format!("{min} digits"),
            FieldType::Digits { min, max } => format!("{min} to {max} digits"),
            FieldType::Npwp => "an NPWP of 15 or 16 digits, without dots or dashes".into(),
            FieldType::Document => {
                "the document id of another document of the satker, for example spm-0123456789ab"
                    .into()
            }
            FieldType::Akun => format!(
                "akun lines AKUN:RUPIAH separated by commas, each akun six digits and named once, \
                 at most {MAX_AKUN_LINES} lines, for example 525111:1500000,525113:500000"
            ),
        }
    }

    /// Whether `value` is a value of this type.
    fn accepts(&self, value: &str) -> bool {
        match self {
            FieldType::Text => {
                !value.trim().is_empty()
                    && value.chars().count() <= MAX_TEXT_CHARS
                    && !value.chars().any(char::is_control)
            }
            FieldType::Note => {
                !value.trim().is_empty()
                    && value.chars().count() <= MAX_NOTE_CHARS
                    && !value
                        .chars()
                        .any(|c| c.is_control() && c != '\n' && c != '\t')
            }
            FieldType::Date => is_date(value),
            FieldType::Rupiah => rupiah(value).is_some(),
            FieldType::Choice(set) => set.iter().any(|c| c == value),
            FieldType::Digits { min, max } => {
                all_digits(value) && (*min as usize..=*max as usize).contains(&value.len())
            }
            FieldType::Npwp => all_digits(value) && (15..=16).contains(&value.len()),
            FieldType::Document => crate::draft_sync::check_doc_id(value).is_ok(),
            FieldType::Akun => akun_lines(value).is_some(),
        }
    }

    /// Whether a payment-card number in a value of this type is refused. Amounts and
    /// the NPWP are exempt: they are numbers by type, and one in ten 15-digit NPWPs or
    /// 13-digit amounts passes the Luhn check by chance.
    fn screens_for_cards(&self) -> bool {
        !matches!(self, FieldType::Rupiah | FieldType::Akun | FieldType::Npwp)
    }
}

/// One field of a kind's schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Its name, as `draft set NAME=VALUE` names it.
    pub name: String,
    /// The type of its value.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether a document is signed only with this field present.
    pub required: bool,
}

/// The fields of one kind, in the order people fill them in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSchema(pub Vec<FieldSpec>);

impl KindSchema {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.0.iter().find(|f| f.name == name)
    }

    fn names(&self) -> String {
        self.0
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a field value or a document's fields are refused; its `Display` names the field
/// and what is expected, as people see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldRefusal {
    /// The kind has no field of that name.
    Unknown {
        /// The kind.
        kind: DocKind,
        /// The name given.
        field: String,
        /// The kind's field names, comma-separated.
        known: String,
    },
    /// A required field is missing.
    Missing {
        /// The field.
        field: String,
        /// What its value looks like.
        expected: String,
    },
    /// A value is not of the field's type.
    Invalid {
        /// The field.
        field: String,
        /// What its value looks like.
        expected: String,
    },
    /// A value holds what looks like a payment-card number.
    PaymentCard {
        /// The field.
        field: String,
    },
    /// The akun lines do not add up to `nilai`.
    AkunSum {
        /// The akun field.
        field: String,
        /// What the lines add up to, or `None` past the largest amount.
        total: Option<u64>,
        /// The value of `nilai`.
        nilai: u64,
    },
    /// The hub's table has no schema for the kind.
    NoSchema {
        /// The kind.
        kind: DocKind,
    },
}

impl fmt::Display for FieldRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRefusal::Unknown { kind, field, known } => write!(
                f,
                "a {kind} has no field '{}'; its fields are {known}",
                field.chars().take(MAX_FIELD_NAME_CHARS).collect::<String>()
            ),
            FieldRefusal::Missing { field, expected } => {
                write!(f, "field {field} is missing; expected {expected}")
            }
            FieldRefusal::Invalid { field, expected } => {
                write!(f, "field {field} is not valid; expected {expected}")
            }
            FieldRefusal::PaymentCard { field } => write!(
                f,
                "field {field} holds what looks like a payment-card number; \
                 payment-card data never belongs in a document"
            ),
            FieldRefusal::AkunSum {
                field,
                total: Some(total),
                nilai,
            } => write!(
                f,
                "field {field} adds up to {total} rupiah but nilai is {nilai}; \
                 the akun lines must add up to nilai"
            ),
            FieldRefusal::AkunSum {
                field,
                total: None,
                nilai,
            } => write!(
                f,
                "field {field} adds up to more than any amount; the akun lines must add up to nilai ({nilai})"
            ),
            FieldRefusal::NoSchema { kind } => {
                write!(f, "the KPPN's field schemas have none for {kind}")
            }
        }
    }
}

impl std::error::Error for FieldRefusal {}

/// The table from document kind to its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSchemas {
    /// The schema of each kind.
    pub kinds: BTreeMap<DocKind, KindSchema>,
}

impl Default for FieldSchemas {
    /// The fields of PER-10/PB/2018's documents as DESIGN.md §3 lists the kinds.
    fn default() -> Self {
        use FieldType::*;
        let f = |name: &str, ty: FieldType, required: bool| FieldSpec {
            name: name.into(),
            ty,
            required,
        };
        let rekening = || Digits { min: 6, max: 20 };
        let jenis = Choice(
            ["LS", "UP", "GUP", "TUP", "GUP-NIHIL", "TUP-NIHIL"]
                .map(String::from)
                .to_vec(),
        );
        let bulan = Choice((1..=12).map(|m| format!("{m:02}")).collect());
        let payment = |jenis: Option<FieldType>, basis: Option<&str>| {
            let mut fields = vec![f("nomor", Text, true), f("tanggal", Date, true)];
            if let Some(j) = jenis {
                fields.push(f("jenis", j, true));
            }
            if let Some(b) = basis {
                fields.push(f(b, Text, true));
            }
            fields.extend([
                f("nilai", Rupiah, true),
                f("uraian", Text, true),
                f("penerima", Text, true),
                f("rekening", rekening(), true),
                f("npwp", Npwp, true),
                f("akun", Akun, true),
                f("keterangan", Note, false),
            ]);
            KindSchema(fields)
        };
        let mut kinds = BTreeMap::new();
        kinds.insert(DocKind::Spm, payment(Some(jenis), None));
        kinds.insert(
            DocKind::SpmKoreksi,
            KindSchema(vec![
                f("nomor", Text, true),
                f("tanggal", Date, true),
                f(CORRECTS_FIELD, Document, true),
                f("uraian", Text, true),
                f("nilai", Rupiah, true),
                f("akun", Akun, true),
            ]),
        );
        // Refunds and interest name the decision they pay out on (SKPLB, SKKPP, SK).
        for kind in [
            DocKind::SpmKp,
            DocKind::SpmKpbb,
            DocKind::SpmKbc,
            DocKind::SpmIb,
            DocKind::SpmBphtb,
        ] {
            kinds.insert(kind, payment(None, Some("dasar")));
        }
        kinds.insert(
            DocKind::Kontrak,
            KindSchema(vec![
                f("nomor", Text, true),
                f("tanggal", Date, true),
                f("nilai", Rupiah, true),
                f("uraian", Text, true),
                f("penyedia", Text, true),
                f("rekening", rekening(), true),
                f("npwp", Npwp, true),
                f("mulai", Date, true),
                f("selesai", Date, true),
                f("akun", Akun, false),
            ]),
        );
        kinds.insert(
            DocKind::RpdHarian,
            KindSchema(vec![
                f("tanggal", Date, true),
                f("nilai", Rupiah, true),
                f("akun", Akun, true),
                f("uraian", Text, false),
            ]),
        );
        kinds.insert(
            DocKind::Gaji,
            KindSchema(vec![
                f("nomor", Text, true),
                f("tanggal", Date, true),
                f("bulan", bulan.clone(), true),
                f("nilai", Rupiah, true),
                f("pegawai", Digits { min: 1, max: 6 }, true),
                f("akun", Akun, true),
                f("uraian", Text, false),
            ]),
        );
        kinds.insert(
            DocKind::LpjBendahara,
            KindSchema(vec![
                f("nomor", Text, true),
                f("tanggal", Date, true),
                f("bulan", bulan, true),
                f("uraian", Text, true),
                f("saldo", Rupiah, false),
            ]),
        );
        FieldSchemas { kinds }
    }
}

impl FieldSchemas {
    /// Checks that a node can apply the table: a schema for every kind, each of one to
    /// [`MAX_FIELDS_PER_KIND`] fields with distinct short names, choices of one to
    /// [`MAX_CHOICES`] values and digit lengths that can be met.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |why: String| Err(ProtocolError::BadFieldSchemas(why));
        for kind in DocKind::ALL {
            let Some(schema) = self.kinds.get(&kind) else {
                return bad(format!("it has no schema for {kind}"));
            };
            if schema.0.is_empty() || schema.0.len() > MAX_FIELDS_PER_KIND {
                return bad(format!(
                    "the schema for {kind} has {} fields; a schema has 1 to {MAX_FIELDS_PER_KIND}",
                    schema.0.len()
                ));
            }
            for (i, field) in schema.0.iter().enumerate() {
                let name_ok = !field.name.is_empty()
                    && field.name.len() <= MAX_FIELD_NAME_CHARS
                    && field
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !name_ok || schema.0[..i].iter().any(|g| g.name == field.name) {
                    return bad(format!(
                        "the schema for {kind} has a field name that is empty, too long, \
                         not lowercase ASCII or given twice"
                    ));
                }
                let type_ok = match &field.ty {
                    FieldType::Choice(set) => {
                        !set.is_empty()
                            && set.len() <= MAX_CHOICES
                            && set.iter().all(|c| !c.is_empty() && c.len() <= 32)
                    }
                    FieldType::Digits { min, max } => *min >= 1 && min <= max && *max <= 64,
                    _ => true,
                };
                if !type_ok {
                    return bad(format!(
                        "the schema for {kind} gives field {} a type no value can meet",
                        field.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The schema of `kind`.
    pub fn of(&self, kind: DocKind) -> Result<&KindSchema, FieldRefusal> {
        self.kinds.get(&kind).ok_or(FieldRefusal::NoSchema { kind })
    }

    /// Checks one value as it is typed (`draft set`): the kind has the field, the value
    /// is of its type and holds no payment-card number.
    pub fn check_value(&self, kind: DocKind, name: &str, value: &str) -> Result<(), FieldRefusal> {
        let schema = self.of(kind)?;
        let spec = schema.field(name).ok_or_else(|| FieldRefusal::Unknown {
            kind,
            field: name.to_string(),
            known: schema.names(),
        })?;
        check_spec(spec, value)
    }

    /// Checks a whole document's fields (`sign`, and the hub at ingest): every field
    /// known and of its type, every required one present, and the akun lines adding up
    /// to `nilai`.
    pub fn check_document(
        &self,
        kind: DocKind,
        fields: &BTreeMap<String, String>,
    ) -> Result<(), FieldRefusal> {
        let schema = self.of(kind)?;
        for (name, value) in fields {
            self.check_value(kind, name, value)?;
        }
        if let Some(missing) = schema
            .0
            .iter()
            .find(|f| f.required && !fields.contains_key(&f.name))
        {
            return Err(FieldRefusal::Missing {
                field: missing.name.clone(),
                expected: missing.ty.expected(),
            });
        }
        let nilai = fields.get(TOTAL_FIELD).and_then(|v| rupiah(v));
        for spec in schema.0.iter().filter(|f| f.ty == FieldType::Akun) {
            let (Some(lines), Some(nilai)) =
                (fields.get(&spec.name).and_then(|v| akun_lines(v)), nilai)
            else {
                continue;
            };
            let total = lines
                .iter()
                .try_fold(0u64, |sum, (_, amount)| sum.checked_add(*amount));
            if total != Some(nilai) {
                return Err(FieldRefusal::AkunSum {
                    field: spec.name.clone(),
                    total,
                    nilai,
                });
            }
        }
        Ok(())
    }
}

fn check_spec(spec: &FieldSpec, value: &str) -> Result<(), FieldRefusal> {
    if !spec.ty.accepts(value) {
        return Err(FieldRefusal::Invalid {
            field: spec.name.clone(),
            expected: spec.ty.expected(),
        });
    }
    if spec.ty.screens_for_cards() && holds_card_number(value) {
        return Err(FieldRefusal::PaymentCard {
            field: spec.name.clone(),
        });
    }
    Ok(())
}
