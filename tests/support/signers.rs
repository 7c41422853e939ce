//! Signers and operators every journey provisions: both certificates requested,
//! approved at the hub and seen valid on the satker.

use super::*;

/// The operator every test provisions.
pub const OPERATOR: &str = "operator01";

/// A pejabat who requests a signer certificate.
pub struct Person {
    pub name: &'static str,
    pub nip: &'static str,
    pub nik: &'static str,
    pub jabatan: &'static str,
    pub email: &'static str,
}

/// The PPSPM, who signs SPM.
pub const SITI: Person = Person {
    name: "Siti Rahma",
    nip: "198001012005012001",
    nik: "3171234567890123",
    jabatan: "ppspm",
    email: "siti@kemenkeu.go.id",
};

/// The PPK, whose signature an SPM does not accept.
pub const BUDI: Person = Person {
    name: "Budi Santoso",
    nip: "197905152003121002",
    nik: "3171234567890456",
    jabatan: "ppk",
    email: "budi@kemenkeu.go.id",
};

/// Serials of the two approved certificates.
pub struct Serials {
    pub ppspm: String,
    pub ppk: String,
}

/// Both signers request certificates on the satker; returns the request ids
/// (ppspm, ppk).
pub fn request_both(satker: &Satker) -> (String, String) {
    let a = satker.request_signer(&SITI);
    let b = satker.request_signer(&BUDI);
    assert_ne!(a, b, "two requests got one id");
    (a, b)
}

/// Checks the hub's pending requests are exactly these two, then approves both.
pub fn approve_both(hub: &Hub, requests: &(String, String)) -> Serials {
    let v = hub.ok(&["certs", "requests"]);
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("`certs requests` is not a list: {v}"));
    assert_eq!(list.len(), 2, "expected the two pending requests, got {v}");
    let find = |id: &str| {
        list.iter()
            .find(|r| id_of(r, "request_id") == id)
            .unwrap_or_else(|| panic!("request {id} is not pending on the hub: {v}"))
            .clone()
    };
    let siti = find(&requests.0);
    assert_eq!(str_of(&siti, "name"), SITI.name);
    assert_eq!(str_of(&siti, "jabatan"), "ppspm");
    assert_eq!(str_of(&siti, "satker"), SATKER_CODE);
    let budi = find(&requests.1);
    assert_eq!(str_of(&budi, "name"), BUDI.name);
    assert_eq!(str_of(&budi, "jabatan"), "ppk");
    assert_eq!(str_of(&budi, "satker"), SATKER_CODE);

    let ppspm = id_of(&hub.ok(&["certs", "approve", &requests.0]), "serial");
    let ppk = id_of(&hub.ok(&["certs", "approve", &requests.1]), "serial");
    assert!(!ppspm.is_empty() && !ppk.is_empty());
    assert_ne!(ppspm, ppk, "two certificates got one serial");

    let pending = hub.ok(&["certs", "requests"]);
    assert_eq!(
        pending,
        Value::Array(vec![]),
        "approved requests are still pending"
    );
    Serials { ppspm, ppk }
}

/// Checks the satker sees both certificates, valid, under the approved serials.
pub fn assert_signers_valid(satker: &Satker, serials: &Serials) {
    let signers = satker.signers();
    let ppspm = signers
        .get("ppspm")
        .unwrap_or_else(|| panic!("no ppspm signer on the satker: {signers:?}"));
    assert_eq!(
        ppspm,
        &(
            serials.ppspm.clone(),
            SITI.name.to_string(),
            "valid".to_string()
        )
    );
    let ppk = signers
        .get("ppk")
        .unwrap_or_else(|| panic!("no ppk signer on the satker: {signers:?}"));
    assert_eq!(
        ppk,
        &(
            serials.ppk.clone(),
            BUDI.name.to_string(),
            "valid".to_string()
        )
    );
}

/// On `hub`: checks `operators requests` lists `request_id` for `username` with `role`
/// and `satker`, approves it, and checks the answer and that it is no longer pending.
pub fn approve_operator(hub: &Espm, request_id: &str, username: &str, role: &str, satker: &str) {
    let v = hub.ok(&["operators", "requests"]);
    let list = v
        .as_array()
        .unwrap_or_else(|| panic!("`operators requests` is not a list: {v}"));
    let req = list
        .iter()
        .find(|r| id_of(r, "request_id") == request_id)
        .unwrap_or_else(|| panic!("operator request {request_id} is not pending on the hub: {v}"));
    assert_eq!(str_of(req, "username"), username, "{v}");
    assert_eq!(str_of(req, "role"), role, "{v}");
    assert_eq!(str_of(req, "satker"), satker, "{v}");
    let approved = hub.ok(&["operators", "approve", request_id]);
    assert_eq!(str_of(&approved, "username"), username, "{approved}");
    assert_eq!(str_of(&approved, "satker"), satker, "{approved}");
    let after = hub.ok(&["operators", "requests"]);
    assert!(
        !after
            .as_array()
            .unwrap_or_else(|| panic!("`operators requests` is not a list: {after}"))
            .iter()
            .any(|r| id_of(r, "request_id") == request_id),
        "approved operator request {request_id} is still pending: {after}"
    );
}

/// Everything up to usable signers: request both, sync, approve both, sync, check.
pub fn provision_signers(hub: &Hub, satker: &Satker) -> Serials {
    let requests = request_both(satker);
    let sent = satker.sync();
    assert!(
        sent["sent_items"].as_u64().unwrap() >= 2,
        "the two requests were not sent: {sent}"
    );
    let serials = approve_both(hub, &requests);
    let got = satker.sync();
    assert!(
        got["received_items"].as_u64().unwrap() >= 2,
        "the two certificates were not received: {got}"
    );
    assert_signers_valid(satker, &serials);
    serials
}
