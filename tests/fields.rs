//! Documents with real fields: the hub's field schemas reach a satker at its first
//! sync; `draft new`/`draft set` check each value as typed, `sign` checks the whole
//! document, payment-card numbers are refused anywhere, and an SPM nomor is the
//! satker's once a year. Real `espm` processes, real QUIC on loopback.

#[path = "support/mod.rs"]
mod support;

use serde_json::Value;
use support::*;

/// `--set` arguments for `fields`, left out the one named `without`.
fn sets(fields: &[(String, String)], without: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k != without)
        .flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")])
        .collect()
}

fn draft_new(satker: &Satker, kind: &str, sets: &[String]) -> String {
    let mut args = vec!["draft", "new", kind];
    args.extend(sets.iter().map(String::as_str));
    id_of(&satker.ok(&args), "doc_id")
}

#[test]
fn sign_refuses_an_spm_with_a_missing_field_naming_it() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let fields = spm_fields("00001/SPM/2026", "1500000");
    let doc = draft_new(&satker, "spm", &sets(&fields, "npwp"));
    let err = satker.fail_with(
        &["sign", &doc, "--signer", &serials.ppspm],
        Some(PASSPHRASE),
    );
    assert!(
        err.contains(
            "field npwp is missing; expected an NPWP of 15 or 16 digits, without dots or dashes; the spm cannot be signed until it is"
        ),
        "{err}"
    );
    assert_eq!(satker.state(&doc), "draft");
    // Completed, it signs.
    satker.ok(&["draft", "set", &doc, "npwp=012345678901234"]);
    satker.sign(&doc, &serials.ppspm);
    assert_eq!(satker.state(&doc), "signed");
}

#[test]
fn draft_set_refuses_a_value_of_the_wrong_type_naming_the_field_and_what_is_expected() {
    let hub = start_hub();
    let satker = satker(&hub);
    satker.sync();
    let doc = satker.new_spm("00001/SPM/2026", "1500000");
    let err = satker.fail(&["draft", "set", &doc, "nilai=1.500.000"]);
    assert!(
        err.contains(
            "field nilai is not valid; expected whole rupiah greater than zero written as digits, for example 1500000"
        ),
        "{err}"
    );
    let err = satker.fail(&["draft", "set", &doc, "jenis=BLS"]);
    assert!(
        err.contains(
            "field jenis is not valid; expected one of LS, UP, GUP, TUP, GUP-NIHIL, TUP-NIHIL"
        ),
        "{err}"
    );
    let err = satker.fail(&["draft", "set", &doc, "nomer=00002/SPM/2026"]);
    assert!(
        err.contains("a spm has no field 'nomer'; its fields are nomor, tanggal, jenis, nilai"),
        "{err}"
    );
    let err = satker.fail(&["draft", "new", "spm", "--set", "tanggal=02-03-2026"]);
    assert!(
        err.contains("field tanggal is not valid; expected a date written YYYY-MM-DD"),
        "{err}"
    );
    // What was refused was not kept.
    let shown = satker.ok(&["draft", "show", &doc]);
    assert_eq!(shown["fields"]["nilai"], Value::from("1500000"), "{shown}");
    assert_eq!(shown["fields"]["jenis"], Value::from("LS"), "{shown}");
}

#[test]
fn a_payment_card_number_in_a_field_is_refused() {
    let hub = start_hub();
    let satker = satker(&hub);
    satker.sync();
    let doc = satker.new_spm("00001/SPM/2026", "1500000");
    for value in [
        "uraian=bayar kartu 4111 1111 1111 1111",
        "rekening=5500000000000004",
    ] {
        let err = satker.fail(&["draft", "set", &doc, value]);
        assert!(
            err.contains("holds what looks like a payment-card number; payment-card data never belongs in a document"),
            "{value}: {err}"
        );
    }
    let shown = satker.ok(&["draft", "show", &doc]);
    assert_eq!(
        shown["fields"]["uraian"],
        Value::from("Belanja ATK kantor"),
        "{shown}"
    );
}

#[test]
fn a_second_spm_with_a_nomor_already_submitted_is_refused_at_submit() {
    let hub = start_hub();
    let satker = satker(&hub);
    let serials = provision_signers(&hub, &satker);
    let uri = satker.add_operator();
    let first = satker.new_spm("00001/SPM/2026", "1500000");
    satker.sign(&first, &serials.ppspm);
    satker.submit(&[&first], &uri);
    let second = satker.new_spm("00001/SPM/2026", "250000");
    satker.sign(&second, &serials.ppspm);
    let code = fresh_totp_code(&uri);
    let err = satker.fail(&["submit", &second, "--operator", OPERATOR, "--totp", &code]);
    assert!(
        err.contains(&format!(
            "spm nomor 00001/SPM/2026 of 2026 was already submitted as document {first}; give document {second} its own nomor"
        )),
        "{err}"
    );
    assert_eq!(satker.state(&second), "signed");
    // Renumbered and signed again, it goes.
    satker.ok(&["draft", "set", &second, "nomor=00002/SPM/2026"]);
    satker.sign(&second, &serials.ppspm);
    satker.submit(&[&second], &uri);
    satker.sync();
    assert_eq!(satker.state(&first), "delivered");
    assert_eq!(satker.state(&second), "delivered");
    let monitor = hub.ok(&["monitor"]);
    assert_eq!(monitor["alerts"], Value::Array(vec![]), "{monitor}");
}

#[test]
fn kinds_lists_every_kinds_fields_and_signers() {
    let hub = start_hub();
    let satker = satker(&hub);
    satker.sync();
    let all = satker.ok(&["kinds"]);
    let kinds: Vec<&str> = all
        .as_array()
        .unwrap_or_else(|| panic!("kinds is not a list: {all}"))
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 11, "{all}");
    assert_eq!(kinds[0], "spm");
    let spm = satker.ok(&["kinds", "spm"]);
    let spm = &spm[0];
    assert_eq!(spm["signers"], serde_json::json!([["ppspm"]]), "{spm}");
    let nilai = spm["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "nilai")
        .unwrap_or_else(|| panic!("no nilai: {spm}"));
    assert_eq!(nilai["type"], "rupiah");
    assert_eq!(nilai["required"], true);
    let lpj = satker.ok(&["kinds", "lpj-bendahara"]);
    assert_eq!(
        lpj[0]["signers"],
        serde_json::json!([["bendahara"], ["kpa", "ppk"]]),
        "{lpj}"
    );
    // The hub answers too, from the tables it issued.
    assert_eq!(hub.ok(&["kinds"]), all);
    let text = satker.run_plain(&["kinds", "spm"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("spm (signed by PPSPM)"), "{text}");
    assert!(text.contains("akun"), "{text}");
}
