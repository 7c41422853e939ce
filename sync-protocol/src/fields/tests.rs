use super::*;

fn schemas() -> FieldSchemas {
    FieldSchemas::default()
}

/// A complete, valid SPM.
fn spm() -> BTreeMap<String, String> {
    [
        ("nomor", "00001/SPM/2026"),
        ("tanggal", "2026-03-02"),
        ("jenis", "LS"),
        ("nilai", "2000000"),
        ("uraian", "Belanja ATK"),
        ("penerima", "CV Maju Jaya"),
        ("rekening", "1234567890"),
        ("npwp", "012345678901234"),
        ("akun", "525111:1500000,525113:500000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn refusal(kind: DocKind, field: &str, value: &str) -> String {
    schemas()
        .check_value(kind, field, value)
        .expect_err(value)
        .to_string()
}

#[test]
fn the_default_schemas_cover_every_kind_and_validate() {
    let s = schemas();
    s.validate().unwrap();
    for kind in DocKind::ALL {
        assert!(!s.of(kind).unwrap().0.is_empty(), "{kind}");
    }
}

#[test]
fn a_complete_spm_passes() {
    schemas().check_document(DocKind::Spm, &spm()).unwrap();
}

#[test]
fn every_field_an_spm_needs_is_required() {
    for field in [
        "nomor", "tanggal", "jenis", "nilai", "uraian", "penerima", "rekening", "npwp", "akun",
    ] {
        let mut doc = spm();
        doc.remove(field);
        let err = schemas().check_document(DocKind::Spm, &doc).unwrap_err();
        assert!(
            matches!(&err, FieldRefusal::Missing { field: f, .. } if f == field),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("field {field} is missing; expected")));
    }
}

#[test]
fn a_date_is_a_calendar_day_written_yyyy_mm_dd() {
    assert!(schemas()
        .check_value(DocKind::Spm, "tanggal", "2028-02-29")
        .is_ok());
    for bad in [
        "2026-02-30",
        "2026-13-01",
        "1/3/2026",
        "2026-3-1",
        "20260301",
        "+026-03-01",
    ] {
        assert_eq!(
            refusal(DocKind::Spm, "tanggal", bad),
            "field tanggal is not valid; expected a date written YYYY-MM-DD, for example 2026-03-01"
        );
    }
}

#[test]
fn rupiah_is_a_whole_number_above_zero_in_digits() {
    for bad in [
        "0",
        "-5",
        "1.500.000",
        "1500000.00",
        "Rp1500000",
        "01500000",
        "",
        "99999999999999999999",
    ] {
        let err = refusal(DocKind::Spm, "nilai", bad);
        assert!(
            err.starts_with("field nilai is not valid; expected whole rupiah greater than zero"),
            "{bad}: {err}"
        );
    }
    assert!(schemas().check_value(DocKind::Spm, "nilai", "1").is_ok());
}

#[test]
fn jenis_is_one_of_the_spm_types() {
    for good in ["LS", "UP", "GUP", "TUP", "GUP-NIHIL", "TUP-NIHIL"] {
        assert!(schemas().check_value(DocKind::Spm, "jenis", good).is_ok());
    }
    assert_eq!(
        refusal(DocKind::Spm, "jenis", "ls"),
        "field jenis is not valid; expected one of LS, UP, GUP, TUP, GUP-NIHIL, TUP-NIHIL"
    );
}

#[test]
fn npwp_and_rekening_are_digits_of_their_length() {
    let s = schemas();
    assert!(s
        .check_value(DocKind::Spm, "npwp", "0123456789012345")
        .is_ok());
    for bad in [
        "01.234.567.8-901.234",
        "01234567890123",
        "01234567890123456",
    ] {
        assert_eq!(
            refusal(DocKind::Spm, "npwp", bad),
            "field npwp is not valid; expected an NPWP of 15 or 16 digits, without dots or dashes"
        );
    }
    assert_eq!(
        refusal(DocKind::Spm, "rekening", "12345"),
        "field rekening is not valid; expected 6 to 20 digits"
    );
}

#[test]
fn text_is_one_line_within_its_bound() {
    let s = schemas();
    assert!(s
        .check_value(DocKind::Spm, "uraian", &"a".repeat(MAX_TEXT_CHARS))
        .is_ok());
    for bad in [
        "   ".to_string(),
        "a\nb".to_string(),
        "a".repeat(MAX_TEXT_CHARS + 1),
    ] {
        assert!(refusal(DocKind::Spm, "uraian", &bad)
            .starts_with("field uraian is not valid; expected one line"));
    }
}

#[test]
fn a_note_may_run_over_several_lines_within_its_bound() {
    let s = schemas();
    assert!(s
        .check_value(DocKind::Spm, "keterangan", "baris satu\nbaris dua")
        .is_ok());
    assert!(s
        .check_value(DocKind::Spm, "keterangan", &"a".repeat(MAX_NOTE_CHARS))
        .is_ok());
    assert!(
        refusal(DocKind::Spm, "keterangan", &"a".repeat(MAX_NOTE_CHARS + 1))
            .starts_with("field keterangan is not valid; expected text of at most")
    );
    assert!(s
        .check_value(DocKind::Spm, "keterangan", "a\u{0}b")
        .is_err());
}

#[test]
fn a_document_reference_is_a_document_id() {
    let s = schemas();
    assert!(s
        .check_value(DocKind::SpmKoreksi, "dikoreksi", "spm-0123456789ab")
        .is_ok());
    assert!(refusal(DocKind::SpmKoreksi, "dikoreksi", "spm 01/02")
        .starts_with("field dikoreksi is not valid; expected the document id"));
}

#[test]
fn akun_lines_are_six_digit_accounts_each_named_once() {
    let s = schemas();
    assert!(s
        .check_value(DocKind::Spm, "akun", "525111:1500000")
        .is_ok());
    assert!(s
        .check_value(DocKind::Spm, "akun", "525111:1500000, 525113:500000")
        .is_ok());
    for bad in [
        "525111",
        "52511:100",
        "525111:0",
        "525111:100,525111:200",
        "525111:100,",
        "525111=100",
    ] {
        assert!(
            refusal(DocKind::Spm, "akun", bad)
                .starts_with("field akun is not valid; expected akun lines AKUN:RUPIAH"),
            "{bad}"
        );
    }
    let many = (0..=MAX_AKUN_LINES)
        .map(|i| format!("{:06}:1", 100000 + i))
        .collect::<Vec<_>>()
        .join(",");
    assert!(s.check_value(DocKind::Spm, "akun", &many).is_err());
}

#[test]
fn the_akun_lines_must_add_up_to_nilai() {
    let mut doc = spm();
    doc.insert("nilai".into(), "2000001".into());
    let err = schemas().check_document(DocKind::Spm, &doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field akun adds up to 2000000 rupiah but nilai is 2000001; the akun lines must add up to nilai"
    );
    doc.insert(
        "akun".into(),
        format!("525111:{},525113:{}", u64::MAX, u64::MAX),
    );
    let err = schemas().check_document(DocKind::Spm, &doc).unwrap_err();
    assert!(
        matches!(err, FieldRefusal::AkunSum { total: None, .. }),
        "{err}"
    );
}

#[test]
fn an_unknown_field_is_refused_listing_the_kinds_fields() {
    assert_eq!(
        refusal(DocKind::Spm, "nomer", "1"),
        "a spm has no field 'nomer'; its fields are nomor, tanggal, jenis, nilai, uraian, \
         penerima, rekening, npwp, akun, keterangan"
    );
    let mut doc = spm();
    doc.insert("catatan".into(), "x".into());
    assert!(matches!(
        schemas().check_document(DocKind::Spm, &doc),
        Err(FieldRefusal::Unknown { .. })
    ));
}

#[test]
fn a_payment_card_number_in_any_field_is_refused() {
    // 4111 1111 1111 1111 is the classic test Visa number; it passes Luhn.
    for value in [
        "4111111111111111",
        "bayar ke kartu 4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500000000000004",
    ] {
        assert_eq!(
            refusal(DocKind::Spm, "uraian", value),
            "field uraian holds what looks like a payment-card number; payment-card data never belongs in a document",
        );
    }
    assert!(refusal(DocKind::Spm, "rekening", "4111111111111111").contains("payment-card"));
    // Not Luhn, or not card length: kept.
    let s = schemas();
    assert!(s
        .check_value(DocKind::Spm, "uraian", "4111111111111112")
        .is_ok());
    assert!(s
        .check_value(DocKind::Spm, "uraian", "00001/SPM/2026 tanggal 2026-03-02")
        .is_ok());
    assert!(s
        .check_value(DocKind::Spm, "rekening", "123456789012")
        .is_ok());
}

#[test]
fn card_detection_follows_luhn() {
    assert!(holds_card_number("378282246310005")); // Amex, 15 digits
    assert!(!holds_card_number("378282246310006"));
    assert!(!holds_card_number("411111111111")); // 12 digits: too short
    assert!(!holds_card_number("41111111111111111111")); // 20 digits: not a card
}

#[test]
fn amounts_and_npwp_are_not_screened_for_cards() {
    // A 13-digit nilai (a trillion rupiah) may pass Luhn by chance; it is an amount.
    let s = schemas();
    assert!(holds_card_number("1000000000009"));
    assert!(s
        .check_value(DocKind::Spm, "nilai", "1000000000009")
        .is_ok());
    assert!(holds_card_number("012345678901237"));
    assert!(s
        .check_value(DocKind::Spm, "npwp", "012345678901237")
        .is_ok());
}

#[test]
fn every_kind_has_its_own_schema_and_a_filled_one_passes() {
    let s = schemas();
    let sample = |ty: &FieldType| match ty {
        FieldType::Text => "isian".to_string(),
        FieldType::Note => "baris satu\nbaris dua".into(),
        FieldType::Date => "2026-03-02".into(),
        FieldType::Rupiah => "750000".into(),
        FieldType::Choice(c) => c[0].clone(),
        FieldType::Digits { min, .. } => "7".repeat(*min as usize),
        FieldType::Npwp => "012345678901234".into(),
        FieldType::Document => "spm-0123456789ab".into(),
        FieldType::Akun => "525111:750000".into(),
    };
    for kind in DocKind::ALL {
        let schema = s.of(kind).unwrap();
        let full: BTreeMap<_, _> = schema
            .0
            .iter()
            .map(|f| (f.name.clone(), sample(&f.ty)))
            .collect();
        s.check_document(kind, &full)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let required: BTreeMap<_, _> = schema
            .0
            .iter()
            .filter(|f| f.required)
            .map(|f| (f.name.clone(), sample(&f.ty)))
            .collect();
        s.check_document(kind, &required)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(s.check_document(kind, &BTreeMap::new()).is_err(), "{kind}");
    }
    assert!(
        s.of(DocKind::SpmKoreksi)
            .unwrap()
            .field("dikoreksi")
            .unwrap()
            .required
    );
    assert!(
        s.of(DocKind::SpmKp)
            .unwrap()
            .field("dasar")
            .unwrap()
            .required
    );
    assert!(s.of(DocKind::Kontrak).unwrap().field("penyedia").is_some());
    assert!(s.of(DocKind::Gaji).unwrap().field("bulan").is_some());
    assert!(s.of(DocKind::LpjBendahara).unwrap().field("akun").is_none());
}

#[test]
fn a_table_a_node_cannot_apply_is_refused() {
    let mut s = schemas();
    s.kinds.remove(&DocKind::Gaji);
    assert!(s
        .validate()
        .unwrap_err()
        .to_string()
        .contains("no schema for gaji"));
    let mut s = schemas();
    let spm = s.kinds.get_mut(&DocKind::Spm).unwrap();
    spm.0.push(spm.0[0].clone());
    assert!(s.validate().is_err());
    let mut s = schemas();
    s.kinds.get_mut(&DocKind::Spm).unwrap().0[0].ty = FieldType::Choice(vec![]);
    assert!(s.validate().is_err());
    let mut s = schemas();
    s.kinds.get_mut(&DocKind::Spm).unwrap().0[0].ty = FieldType::Digits { min: 9, max: 3 };
    assert!(s.validate().is_err());
}

#[test]
fn the_table_survives_its_canonical_encoding() {
    let table = FieldSchemaTable {
        issued_at: Timestamp(1_700_000_000_000),
        schemas: schemas(),
    };
    let bytes = crate::to_canonical(&table);
    let back: FieldSchemaTable = crate::from_canonical(&bytes, "table").unwrap();
    assert_eq!(back, table);
}
