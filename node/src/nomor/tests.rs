//! One SPM nomor per satker, kind and year: refused at `submit` on the device, flagged
//! in the hub's monitor when a second document carrying it is delivered anyway.

use sync_protocol::DocState;

use crate::{
    cli::{Command, SubmitArgs},
    satker::signing::tests::{draft_spm, sign},
    satker::submit::tests::{operator, OPERATOR},
    testkit::{run, spm_fields, World},
};

const SATKER: &str = "123456";

#[test]
fn two_spm_with_one_nomor_in_one_submission_are_refused_at_submit() {
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let uri = operator(&w, &device);
    let first = draft_spm(&device, "00007/SPM/2026");
    let second = draft_spm(&device, "00007/SPM/2026");
    sign(&device, &first, &ppspm.serial).unwrap();
    sign(&device, &second, &ppspm.serial).unwrap();
    let code = totp_rs::TOTP::from_url(&uri)
        .unwrap()
        .generate_current()
        .unwrap();
    let err = run(
        &device,
        Command::Submit(SubmitArgs {
            doc_ids: vec![first.clone(), second.clone()],
            operator: OPERATOR.into(),
            totp: code,
        }),
        None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("spm nomor 00007/SPM/2026 of 2026 was already submitted as document {first}; give document {second} its own nomor (`espm draft set {second} nomor=…`), sign it again and submit it. Nothing was submitted")
    );
    assert_eq!(World::doc(&device, &first).state, DocState::Signed);
    assert_eq!(World::doc(&device, &second).state, DocState::Signed);
}

#[test]
fn a_second_document_delivered_with_a_nomor_is_flagged_in_the_hubs_monitor() {
    // The device's `submit` would refuse it; one that skipped that check still gets its
    // SPM delivered (the hub cannot tell which is the right one), but the KPPN sees it.
    let mut w = World::new();
    let device = w.satker(SATKER);
    let ppspm = w.ppspm(&device);
    let fields = || spm_fields("00007/SPM/2026", "1500000");
    w.submit_spm_with(&device, &ppspm, "spm-00000000000a", fields(), Vec::new());
    w.sync(&device);
    let quiet = crate::hub::monitor::monitor(&w.hub).unwrap();
    assert!(quiet.alerts.is_empty(), "{:?}", quiet.alerts);
    w.submit_spm_with(&device, &ppspm, "spm-00000000000b", fields(), Vec::new());
    // Another year's SPM may carry the same nomor.
    let mut next_year = fields();
    next_year.insert("tanggal".into(), "2027-01-04".into());
    w.submit_spm_with(&device, &ppspm, "spm-00000000000c", next_year, Vec::new());
    w.sync(&device);
    let monitor = crate::hub::monitor::monitor(&w.hub).unwrap();
    assert_eq!(
        monitor.alerts,
        vec![format!(
            "satker {SATKER}: spm nomor 00007/SPM/2026 of 2026 was delivered in 2 documents: spm-00000000000a, spm-00000000000b"
        )]
    );
}
