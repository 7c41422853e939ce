//! Time: the wall clock as protocol timestamps, and display in a KPPN's time zone.

use std::time::{SystemTime, UNIX_EPOCH};

use sync_protocol::Timestamp;

/// Now, as a protocol timestamp.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp(ms)
}

/// RFC 3339 in UTC, the form JSON output uses.
pub fn rfc3339(t: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(t.0) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("@{}ms", t.0),
    }
}

/// Local time in `tz` for people, e.g. `2026-11-23 10:15:02 WIB`.
pub fn local(t: Timestamp, tz: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(t.0) else {
        return rfc3339(t);
    };
    match ts.in_tz(tz) {
        Ok(z) => z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        Err(_) => rfc3339(t),
    }
}
