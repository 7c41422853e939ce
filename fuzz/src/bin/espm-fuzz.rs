//! `espm-fuzz TARGET|all [--seconds N] [--seed S]`: runs the mutation loop against one
//! target (or each in turn) for a time budget, printing executions per second, and
//! saves any input that panics under `fuzz/artifacts/TARGET/`.
//! `espm-fuzz replay TARGET FILE` runs one saved input again.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use espm_fuzz::{mutate::Mutator, seeds, target, Target, TARGETS};

fn usage() -> ExitCode {
    eprintln!(
        "usage: espm-fuzz TARGET|all [--seconds N] [--seed S]\n       espm-fuzz replay TARGET FILE\ntargets: {}",
        TARGETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    );
    ExitCode::from(2)
}

/// Runs `t` for `budget`; returns (executions, crashes saved).
fn run(name: &str, t: Target, budget: Duration, seed: u64) -> (u64, u64) {
    let seeds = seeds::for_target(name);
    let mut m = Mutator::new(seed);
    let start = Instant::now();
    let (mut execs, mut crashes) = (0u64, 0u64);
    while start.elapsed() < budget {
        let input = m.next(&seeds);
        execs += 1;
        if catch_unwind(AssertUnwindSafe(|| t(&input))).is_err() {
            crashes += 1;
            let dir = PathBuf::from("fuzz/artifacts").join(name);
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("crash-{execs}"));
            match std::fs::write(&file, &input) {
                Ok(()) => eprintln!("{name}: input that panics saved to {}", file.display()),
                Err(e) => eprintln!("{name}: input that panics could not be saved: {e}"),
            }
        }
    }
    (execs, crashes)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(first) = args.first() else {
        return usage();
    };
    if first == "replay" {
        let (Some(name), Some(file)) = (args.get(1), args.get(2)) else {
            return usage();
        };
        let Some(t) = target(name) else {
            return usage();
        };
        let input = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                return ExitCode::from(1);
            }
        };
        t(&input);
        println!("{name}: {file} runs without a panic");
        return ExitCode::SUCCESS;
    }
    let flag = |name: &str, default: u64| -> Option<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()),
            None => Some(default),
        }
    };
    let (Some(seconds), Some(seed)) = (flag("--seconds", 10), flag("--seed", 1)) else {
        return usage();
    };
    let chosen: Vec<(&str, Target)> = if first == "all" {
        TARGETS.to_vec()
    } else {
        match target(first) {
            Some(t) => vec![(first.as_str(), t)],
            None => return usage(),
        }
    };
    // A panic is reported by the loop; the default hook would print each one too.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for (name, t) in chosen {
        let (execs, crashes) = run(name, t, Duration::from_secs(seconds), seed);
        println!(
            "{name}: {execs} inputs in {seconds} s ({:.0}/s), {crashes} panicked",
            execs as f64 / seconds.max(1) as f64
        );
        failed |= crashes > 0;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
