//! A bounded fuzz run on every `cargo test`: each target over random bytes (proptest)
//! and over mutated seeds (the same engine as `espm-fuzz`), plus every saved regression.

use espm_fuzz::{mutate::Mutator, seeds, target, TARGETS};
use proptest::prelude::*;

/// Mutated inputs per target per test run: enough to cross every decoder's edges,
/// few enough that the suite stays quick in a debug build.
const MUTATIONS: usize = 20_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_target_survives_mutated_seeds() {
    for (name, t) in TARGETS {
        let seeds = seeds::for_target(name);
        assert!(!seeds.is_empty(), "{name} has no seeds");
        // The seeds themselves are valid input.
        for s in &seeds {
            t(s);
        }
        let mut m = Mutator::new(0x5eed ^ name.len() as u64);
        for _ in 0..MUTATIONS {
            let input = m.next(&seeds);
            let outcome = std::panic::catch_unwind(|| t(&input));
            assert!(
                outcome.is_ok(),
                "{name} panicked on input {}; save it under fuzz/regressions/{name}/",
                hex(&input)
            );
        }
    }
}

#[test]
fn every_saved_regression_still_runs_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        let t = target(&name).unwrap_or_else(|| panic!("regressions/{name}: no such target"));
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let input = std::fs::read(file.path()).expect("read a regression");
            t(&input);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_a_decoder(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        for (_, t) in TARGETS {
            t(&data);
        }
    }
}
