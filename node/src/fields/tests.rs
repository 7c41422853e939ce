//! The field schemas as the hub distributes them (issued at `init hub`, taken by
//! devices only from the pinned authority and only if they can apply them), and the
//! checks `draft new`/`draft set` and `sign` make by the table in force.

use sync_protocol::{
    DocKind, FieldSchemaTable, FieldSchemas, FieldType, Item, SecretKey, SignedItem, Timestamp,
};

use crate::{
    device::receive::client_receive,
    node::Node,
    satker::{documents, signing},
    testkit::{spm_assignments, World, SIGNER},
    verdict::Verdict,
};

const SATKER: &str = "123456";

/// The defaults, with a required three-digit `kode` field added to the SPM.
fn with_kode() -> FieldSchemas {
    let mut s = FieldSchemas::default();
    let spm = s.kinds.get_mut(&DocKind::Spm).unwrap();
    spm.0.push(sync_protocol::FieldSpec {
        name: "kode".into(),
        ty: FieldType::Digits { min: 3, max: 3 },
        required: true,
    });
    s
}

fn table_by(key: &SecretKey, schemas: FieldSchemas) -> SignedItem {
    SignedItem::seal(
        Item::FieldSchemaTable(FieldSchemaTable {
            issued_at: Timestamp(4_000_000_000_000),
            schemas,
        }),
        key,
    )
}

fn offer(node: &Node, item: &SignedItem) -> Verdict {
    node.store
        .write(|t| client_receive(node, t, SignedItem::open(&item.bytes)))
        .unwrap()
}

fn in_force(node: &Node) -> FieldSchemas {
    crate::fields::in_force(node).unwrap()
}

#[test]
fn a_new_hub_distributes_the_default_field_schemas_and_a_device_takes_them_at_its_first_sync() {
    let mut w = World::new();
    assert_eq!(in_force(&w.hub), FieldSchemas::default());
    let device = w.satker(SATKER);
    assert_eq!(in_force(&device), FieldSchemas::default());
}

#[test]
fn a_device_refuses_a_field_schema_table_not_signed_by_the_hub_authority() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let stranger = SecretKey::generate();
    for key in [&stranger, w.hub.service.as_ref().unwrap(), &w.hub.key] {
        let forged = table_by(key, with_kode());
        assert_eq!(
            offer(&device, &forged).unwrap_err().to_string(),
            "field schema table is not signed by the hub key that issues it (authority or service key of the hub this node pinned)"
        );
        assert_eq!(device.store.item(&forged.address).unwrap(), None);
        assert_eq!(in_force(&device), FieldSchemas::default());
    }
}

#[test]
fn a_device_refuses_an_authority_signed_schema_table_it_cannot_apply() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let authority = w.hub.authority(Some(crate::testkit::CSO)).unwrap();
    let mut none_for_gaji = FieldSchemas::default();
    none_for_gaji.kinds.remove(&DocKind::Gaji);
    let table = table_by(&authority, none_for_gaji);
    assert_eq!(
        offer(&device, &table).unwrap_err().to_string(),
        "field schema table refused: it has no schema for gaji"
    );
    assert_eq!(device.store.item(&table.address).unwrap(), None);
    assert_eq!(in_force(&device), FieldSchemas::default());
}

#[test]
fn a_newer_schema_table_is_in_force_on_the_device_after_its_next_sync() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let first = crate::fields::newest(&w.hub.store).unwrap().unwrap();
    w.issue_field_schemas(Timestamp(first.issued_at.0 + 1000), with_kode());
    assert_eq!(in_force(&w.hub), with_kode());
    assert_eq!(in_force(&device), FieldSchemas::default());
    w.sync(&device);
    assert_eq!(in_force(&device), with_kode());
    // `draft new --set` now knows the new field.
    let err = documents::new(&device, "spm", &["kode=12".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field kode is not valid; expected 3 digits"
    );
}

#[test]
fn draft_set_refuses_an_unknown_field_listing_the_kinds_fields() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let err = documents::new(&device, "kontrak", &["nomer=1".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a kontrak has no field 'nomer'; its fields are nomor, tanggal, nilai, uraian, penyedia, rekening, npwp, mulai, selesai, akun"
    );
    let doc = documents::new(&device, "spm", &[]).unwrap().doc_id;
    let err = documents::set(&device, &doc, &["tanggal=2/3/2026".into()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field tanggal is not valid; expected a date written YYYY-MM-DD, for example 2026-03-01"
    );
    // Nothing of a refused edit is kept, not even its valid fields.
    documents::set(
        &device,
        &doc,
        &["nomor=00001/SPM/2026".into(), "nilai=0".into()],
    )
    .unwrap_err();
    assert!(documents::show(&device, &doc).unwrap().fields.is_empty());
}

#[test]
fn sign_refuses_a_document_with_a_missing_field_naming_it_before_the_passphrase() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let mut set = spm_assignments("00001/SPM/2026", "1500000");
    set.retain(|a| !a.starts_with("penerima="));
    let doc = documents::new(&device, "spm", &set).unwrap().doc_id;
    // A wrong passphrase would cost an attempt; the field is named first.
    let err = signing::sign(&device, &doc, &ppspm.serial, "salah", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field penerima is missing; expected one line of text of at most 500 characters; the spm cannot be signed until it is"
    );
    documents::set(&device, &doc, &["penerima=CV Maju Jaya".into()]).unwrap();
    documents::set(&device, &doc, &["nilai=1500001".into()]).unwrap();
    let err = signing::sign(&device, &doc, &ppspm.serial, SIGNER, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field akun adds up to 1500000 rupiah but nilai is 1500001; the akun lines must add up to nilai; the spm cannot be signed until it is"
    );
    documents::set(&device, &doc, &["nilai=1500000".into()]).unwrap();
    signing::sign(&device, &doc, &ppspm.serial, SIGNER, None).unwrap();
}

#[test]
fn an_spm_koreksi_names_the_document_it_corrects_in_its_signed_snapshot() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let set: Vec<String> = [
        "nomor=00001/SPM-K/2026",
        "tanggal=2026-03-09",
        "dikoreksi=spm-0123456789ab",
        "uraian=Koreksi akun belanja",
        "nilai=1500000",
        "akun=525113:1500000",
    ]
    .map(String::from)
    .to_vec();
    let doc = documents::new(&device, "spm-koreksi", &set).unwrap().doc_id;
    signing::sign(&device, &doc, &ppspm.serial, SIGNER, None).unwrap();
    let rec = World::doc(&device, &doc);
    let bytes = device.store.item(&rec.snapshot.unwrap()).unwrap().unwrap();
    let Item::Snapshot(snapshot) = SignedItem::open(&bytes).unwrap().item else {
        panic!("not a snapshot");
    };
    assert_eq!(snapshot.corrects.as_deref(), Some("spm-0123456789ab"));
}
