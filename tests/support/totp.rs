//! Security codes as an authenticator app would show them, fresh, drifted or wrong.

use super::*;

/// A TOTP code for `uri` valid for at least a few more seconds (waits out the end of
/// a 30-second step rather than race it).
pub fn totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    assert_eq!(totp.digits, 6, "TOTP codes must have 6 digits");
    assert_eq!(totp.step, 30, "TOTP step must be 30 s");
    let deadline = Instant::now() + Duration::from_secs(10);
    while totp.ttl().expect("clock") < 4 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    totp.generate_current().expect("clock")
}

/// The TOTP step each otpauth URI was last used for through [`fresh_totp_code`].
static USED_STEPS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// A code for `uri` of a later step than any this returned before, since a node accepts
/// each code once. The current code if it is fresh and lasts a few more seconds, else
/// the next step's, which the node accepts as one step of clock drift; if both are
/// used, waits for the clock to move on. Codes a test typed by hand are not tracked.
pub fn fresh_totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    assert_eq!(totp.step, 30, "TOTP step must be 30 s");
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let (step, left) = (now / 30, 30 - now % 30);
        let mut used = USED_STEPS.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |s: u64| !matches!(used.get(uri), Some(last) if s <= *last);
        let pick = if left >= 4 && fresh(step) {
            Some(step)
        } else if fresh(step + 1) {
            Some(step + 1)
        } else {
            None
        };
        if let Some(s) = pick {
            used.insert(uri.to_string(), s);
            return totp.generate(s * 30);
        }
        drop(used);
        assert!(
            Instant::now() < deadline,
            "no fresh TOTP code for {uri} within 45 s"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// The TOTP code of the step `steps` away from now (negative: the past), as an
/// authenticator with a clock that far off would show it. Waits until at least 10 s of
/// the current step remain, so the code keeps its distance from now while a command
/// runs.
pub fn totp_code_steps_away(uri: &str, steps: i64) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    let deadline = Instant::now() + Duration::from_secs(15);
    while totp.ttl().expect("clock") < 10 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(200));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let then = now
        .checked_add_signed(steps * 30)
        .expect("a time after 1970");
    totp.generate(then)
}

/// A six-digit code that is not valid now, nor one step before or after.
pub fn wrong_totp_code(uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(uri)
        .unwrap_or_else(|e| panic!("otpauth URI {uri} is not accepted: {e:?}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let near: Vec<String> = (0..5).map(|i| totp.generate(now + i * 30 - 60)).collect();
    [
        "000000", "111111", "222222", "333333", "444444", "555555", "666666",
    ]
    .into_iter()
    .find(|c| !near.iter().any(|n| n == c))
    .expect("some code is wrong")
    .to_string()
}
