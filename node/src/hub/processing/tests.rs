//! Service hours in the KPPN's own zone, the after-hours quota, and the atomic take,
//! with the hub's clock set where each rule has its edges.

use std::sync::{Arc, Barrier};

use sync_protocol::{DocState, Timestamp};

use super::*;
use crate::{
    clock::FixedClock,
    config::{parse_service_hours, DEFAULT_ATTACHMENT_EXPIRY_MS},
    testkit::World,
};

fn hub(tz: &str) -> HubConfig {
    let (open_minute, close_minute) = parse_service_hours("08:00-15:00").unwrap();
    HubConfig {
        kppn: "019".into(),
        name: "KPPN".into(),
        tz: tz.into(),
        listen: "127.0.0.1:0".into(),
        open_minute,
        close_minute,
        after_hours_quota: 0,
        attachment_expiry_ms: DEFAULT_ATTACHMENT_EXPIRY_MS,
    }
}

/// The instant that is `local` (e.g. "2026-12-01T08:00") in `tz`.
fn at(local: &str, tz: &str) -> Timestamp {
    let civil: jiff::civil::DateTime = local.parse().unwrap();
    let zoned = civil
        .to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
        .unwrap();
    Timestamp(zoned.timestamp().as_millisecond())
}

#[test]
fn service_hours_are_working_days_08_00_to_15_00_in_the_kppns_own_zone() {
    // 2026-12-01 is a Tuesday, 2026-12-05 a Saturday, 2026-12-06 a Sunday.
    for tz in ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"] {
        let h = hub(tz);
        let when = |local: &str| intake(&h, at(local, tz)).unwrap();
        assert_eq!(
            when("2026-12-01T07:59"),
            Intake::AfterHours {
                day: "2026-12-01".into()
            },
            "{tz}"
        );
        assert_eq!(when("2026-12-01T08:00"), Intake::InHours, "{tz}");
        assert_eq!(when("2026-12-01T14:59"), Intake::InHours, "{tz}");
        assert_eq!(
            when("2026-12-01T15:00"),
            Intake::AfterHours {
                day: "2026-12-01".into()
            },
            "{tz}"
        );
        assert_eq!(when("2026-12-04T10:00"), Intake::InHours, "Friday in {tz}");
        assert_eq!(
            when("2026-12-05T10:00"),
            Intake::AfterHours {
                day: "2026-12-05".into()
            },
            "Saturday in {tz}"
        );
        assert_eq!(
            when("2026-12-06T10:00"),
            Intake::AfterHours {
                day: "2026-12-06".into()
            },
            "Sunday in {tz}"
        );
    }
}

#[test]
fn the_same_instant_is_in_hours_in_one_zone_and_not_in_another() {
    // 08:30 in Jakarta is 10:30 in Jayapura; 14:30 in Jakarta is 16:30 there.
    let morning = at("2026-12-01T07:30", "Asia/Jakarta");
    assert!(matches!(
        intake(&hub("Asia/Jakarta"), morning).unwrap(),
        Intake::AfterHours { .. }
    ));
    assert_eq!(
        intake(&hub("Asia/Makassar"), morning).unwrap(),
        Intake::InHours
    );
    assert_eq!(
        intake(&hub("Asia/Jayapura"), morning).unwrap(),
        Intake::InHours
    );
    let afternoon = at("2026-12-01T14:30", "Asia/Jakarta");
    assert_eq!(
        intake(&hub("Asia/Jakarta"), afternoon).unwrap(),
        Intake::InHours
    );
    assert!(matches!(
        intake(&hub("Asia/Jayapura"), afternoon).unwrap(),
        Intake::AfterHours { .. }
    ));
}

/// A hub in `tz` with a quota, and `n` delivered documents of one satker.
fn delivered(tz: &str, quota: u32, clock: Arc<FixedClock>, n: usize) -> (World, Vec<String>) {
    let mut w = World::with_hub(tz, "08:00-15:00", quota, clock);
    let device = w.satker("100001");
    let signer = w.ppspm(&device);
    let docs: Vec<String> = (0..n)
        .map(|i| w.submit_spm(&device, &signer, &format!("spm-{i}"), Vec::new()))
        .collect();
    w.sync(&device);
    for d in &docs {
        assert_eq!(w.hub_doc("100001", d).unwrap().state, DocState::Delivered);
    }
    (w, docs)
}

#[test]
fn after_hours_only_the_quota_is_taken_in_and_a_refused_take_spends_nothing() {
    let clock = Arc::new(FixedClock::at(at("2026-12-05T10:00", "Asia/Makassar")));
    let (w, docs) = delivered("Asia/Makassar", 2, clock.clone(), 3);
    let first = take(&w.hub, &docs[0]).unwrap();
    assert!(first.after_hours);
    assert_eq!(first.received_at, crate::clock::Clock::now(&*clock));
    take(&w.hub, &docs[1]).unwrap();
    let err = take(&w.hub, &docs[2]).unwrap_err().to_string();
    assert!(
        err.contains("outside service hours (08:00-15:00 WITA, Monday to Friday)")
            && err.contains("quota of 2 is used up"),
        "{err}"
    );
    assert_eq!(
        w.hub_doc("100001", &docs[2]).unwrap().state,
        DocState::Delivered
    );
    // Taking the same document twice is refused and spends no quota either.
    let err = take(&w.hub, &docs[0]).unwrap_err().to_string();
    assert!(
        err.contains("is received; only delivered documents"),
        "{err}"
    );
    // Monday morning is in hours: no quota needed.
    clock.set(at("2026-12-07T08:00", "Asia/Makassar"));
    let monday = take(&w.hub, &docs[2]).unwrap();
    assert!(!monday.after_hours);
}

#[test]
fn concurrent_takes_never_exceed_the_after_hours_quota() {
    let clock = Arc::new(FixedClock::at(at("2026-12-06T20:00", "Asia/Jayapura")));
    let (w, docs) = delivered("Asia/Jayapura", 3, clock, 8);
    let start = Arc::new(Barrier::new(docs.len()));
    let hub = w.hub.clone();
    let takes: Vec<_> = docs
        .iter()
        .cloned()
        .map(|d| {
            let (hub, start) = (hub.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                take(&hub, &d).is_ok()
            })
        })
        .collect();
    let taken = takes
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(taken, 3, "the quota is 3");
    let received = docs
        .iter()
        .filter(|d| w.hub_doc("100001", d).unwrap().state == DocState::Received)
        .count();
    assert_eq!(received, 3);
}

#[test]
fn two_takes_of_one_document_at_once_receive_it_once() {
    let clock = Arc::new(FixedClock::at(at("2026-12-01T09:00", "Asia/Jakarta")));
    let (w, docs) = delivered("Asia/Jakarta", 0, clock, 1);
    let start = Arc::new(Barrier::new(4));
    let takes: Vec<_> = (0..4)
        .map(|_| {
            let (hub, start, d) = (w.hub.clone(), start.clone(), docs[0].clone());
            std::thread::spawn(move || {
                start.wait();
                take(&hub, &d).is_ok()
            })
        })
        .collect();
    let ok = takes
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, 1);
    let rec = w.hub_doc("100001", &docs[0]).unwrap();
    let received = rec
        .history
        .iter()
        .filter(|h| h.state == DocState::Received)
        .count();
    assert_eq!(received, 1, "{rec:?}");
}
