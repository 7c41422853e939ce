//! End-to-end: `espm demo` as CLI.md promises it: a hub, two satker devices and an
//! auditor on loopback, each step printed as a command to paste and its short result.

#[path = "support/mod.rs"]
mod support;

use std::{process::Command, time::Duration};

use support::*;

/// The words `sh` makes of a printed command line (after the `$ `), `espm` first.
fn words(line: &str) -> Vec<String> {
    let line = line.trim_end_matches(" &");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("for w in {line}; do printf '%s\\0' \"$w\"; done"))
        .output()
        .expect("run sh");
    assert!(out.status.success(), "sh cannot read: {line}");
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_demo_walks_one_spm_through_a_hub_two_devices_and_an_auditor_printing_pasteable_steps() {
    let mut cmd = Command::new(BIN);
    cmd.arg("demo").env_remove("ESPM_DATA_DIR");
    let out = execute(cmd, "espm demo", Duration::from_secs(240));
    assert!(
        out.status.success(),
        "{}",
        describe("espm demo failed", &out)
    );
    let text = String::from_utf8_lossy(&out.stdout);

    let commands: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("$ "))
        .collect();
    let results = text
        .lines()
        .filter(|l| l.trim_start().starts_with("→ "))
        .count();
    let steps = text.lines().filter(|l| l.starts_with('[')).count();
    assert!(steps > 30, "only {steps} steps:\n{text}");
    assert_eq!(commands.len(), steps, "a step without its command:\n{text}");
    // Every step but starting the hub in the background prints its result.
    assert_eq!(results, steps - 1, "a step without its result:\n{text}");
    // Short results, never a whole JSON document.
    assert!(
        !text.lines().any(|l| l.trim() == "{" || l.contains("\":")),
        "JSON printed:\n{text}"
    );

    // The devices: a hub, two devices of the satker, an auditor, each its own node.
    for role in ["init hub", "init satker", "init auditor"] {
        assert!(
            commands.iter().any(|c| c.contains(role)),
            "no `{role}`:\n{text}"
        );
    }
    let inits_satker = commands
        .iter()
        .filter(|c| c.contains("init satker"))
        .count();
    assert_eq!(inits_satker, 2, "{text}");
    assert!(commands
        .iter()
        .any(|c| c.contains("enroll") && c.contains("--auditor")));

    // Quoted so a shell reads each argument back whole.
    let hub = commands.iter().find(|c| c.contains("init hub")).unwrap();
    let w = words(hub);
    assert!(w.iter().any(|w| w == "KPPN Kotabumi"), "{hub} → {w:?}");
    let add = commands
        .iter()
        .find(|c| c.contains("operator add"))
        .unwrap();
    let w = words(add);
    assert!(w.iter().any(|w| w == "SK KPA No. 12/2026"), "{add} → {w:?}");
    for c in &commands {
        let w = words(c);
        let espm = w.iter().position(|w| w == "espm");
        assert!(espm.is_some(), "not an espm command: {c}");
    }

    // The journey ends approved, seen on the second device and by the auditor, and
    // times for people are in the hub's zone.
    assert!(text.contains("→ reviu → approved"), "{text}");
    assert!(text.contains(" WIB"), "{text}");
    assert!(text.contains("ok: true"), "{text}");
    assert!(text.contains("Done: SPM "), "{text}");
}
