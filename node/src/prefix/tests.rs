use super::*;
use crate::testkit::{World, CSO};

#[test]
fn a_unique_start_of_a_node_id_names_the_enrolled_device() {
    let mut w = World::new();
    let device = w.satker("123456");
    let hex = device.node_id().to_hex();
    assert_eq!(device_of(&w, &hex[..8]), device.node_id());
    assert_eq!(device_of(&w, &hex), device.node_id());
}

fn device_of(w: &World, typed: &str) -> NodeId {
    device(&w.hub, typed).expect("resolves")
}

#[test]
fn text_shorter_than_four_characters_is_never_taken_as_a_prefix() {
    let mut w = World::new();
    let satker = w.satker("123456");
    let hex = satker.node_id().to_hex();
    let e = device(&w.hub, &hex[..3]).unwrap_err();
    assert!(e.to_string().contains("is not a node id"), "{e}");
}

#[test]
fn a_start_shared_by_two_certificates_is_refused_naming_both() {
    let mut w = World::new();
    let a = w.satker("123456");
    let b = w.satker("654321");
    let first = w.ppspm(&a).serial;
    let second = w.ppspm(&b).serial;
    let common = &first[..first.len() - 1];
    assert!(second.starts_with(common), "{first} {second}");
    match resolve(&w.hub, crate::schema::CERTS, common, "certificate") {
        Err(NodeError::Ambiguous {
            what,
            typed,
            matches,
            more,
        }) => {
            assert_eq!(what, "certificate");
            assert_eq!(typed, common);
            assert_eq!(matches, vec![first.clone(), second.clone()]);
            assert!(!more);
        }
        other => panic!("expected an ambiguous prefix, got {other:?}"),
    }
    // A whole serial is itself, even where it starts another.
    assert_eq!(
        resolve(&w.hub, crate::schema::CERTS, &first, "certificate").expect("exact"),
        first
    );
    // And revoking by the unambiguous rest works through the API.
    let r = crate::hub::revoke::certificate(&w.hub, &second, "hilang", Some(CSO)).expect("revoke");
    assert_eq!(r.serial, second);
}

#[test]
fn a_unique_start_of_a_request_id_approves_that_request() {
    let mut w = World::new();
    let device = w.satker("123456");
    let requested = crate::satker::signers::request(
        &device,
        crate::testkit::SIGNER,
        crate::satker::signers::RequestArgs {
            name: "Siti Rahma".into(),
            nip: "198001012005012001".into(),
            nik: "3171234567890123".into(),
            jabatan: "ppspm".into(),
            email: "siti@kemenkeu.go.id".into(),
            unit: None,
            instansi: String::new(),
        },
    )
    .expect("signer request");
    w.sync(&device);
    let issued = crate::hub::authority::approve(&w.hub, &requested.request_id[..6], Some(CSO))
        .expect("approve");
    assert!(issued.serial.starts_with("019-"), "{}", issued.serial);
}
