//! The `espm` binary: parses the command line, finds the data directory, and runs the
//! command locally or through the serving node's control socket.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::Parser;
use espm_node::{
    auditor::verify::Verification,
    cli::render::output,
    cli::{
        path_of,
        run::{execute, init, is_init, Output, Secrets},
        Cli, Command,
    },
    control, demo, serve, Node, NodeError,
};
use zeroize::Zeroizing;

fn data_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(d) = &cli.data_dir {
        return Ok(d.clone());
    }
    let dirs = directories::ProjectDirs::from("id", "kemenkeu", "espm")
        .context("cannot find a home directory for the default data directory; pass --data-dir")?;
    Ok(dirs.data_dir().to_path_buf())
}

fn read_passphrase(cmd: &Command) -> anyhow::Result<Secrets> {
    let Some(whose) = cmd.needs_passphrase() else {
        return Ok(Secrets::default());
    };
    if let Ok(p) = std::env::var("ESPM_PASSPHRASE") {
        return Ok(Secrets {
            passphrase: Some(Zeroizing::new(p)),
            ..Secrets::default()
        });
    }
    if std::io::stdin().is_terminal() {
        let prompt = |text: String| {
            rpassword::prompt_password(text)
                .context("cannot read the passphrase from the terminal")
                .map(Zeroizing::new)
        };
        let p = prompt(format!("{whose} passphrase: "))?;
        // A new key is sealed under it: a typo here would lock the key away for good.
        if cmd.sets_passphrase() {
            let again = prompt(format!("{whose} passphrase again: "))?;
            confirm_passphrase(&p, &again)?;
        }
        return Ok(Secrets {
            passphrase: Some(p),
            ..Secrets::default()
        });
    }
    Ok(Secrets::default())
}

/// Refuses a passphrase typed differently the second time.
fn confirm_passphrase(first: &str, second: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        first == second,
        "the two passphrases differ; nothing was done. Run the command again and type the same passphrase twice"
    );
    Ok(())
}

/// The log filter for `-q` (errors only), the default (warnings), `-v` (info), `-vv`
/// (debug) and `-vvv` (trace). Past `-v` the libraries underneath (QUIC, TLS) stay at
/// warnings until `-vvv`, so debug output is espm's own. A serving node logs at info
/// by default: when it started, what it serves, each sync.
fn log_filter(quiet: bool, verbose: u8, serving: bool) -> String {
    const OURS: [&str; 4] = ["espm", "espm_node", "sync_protocol", "storage"];
    let (ours, theirs) = match (quiet, verbose) {
        (true, _) => ("error", "error"),
        (false, 0) if serving => ("info", "warn"),
        (false, 0) => ("warn", "warn"),
        (false, 1) => ("info", "warn"),
        (false, 2) => ("debug", "warn"),
        _ => ("trace", "trace"),
    };
    let mut f = theirs.to_string();
    for c in OURS {
        f.push_str(&format!(",{c}={ours}"));
    }
    f.push_str(&format!(",{SLED_OFF}"));
    f
}

/// sled, the storage engine, logs what it finds wrong in its files in its own words
/// (and at `error` level for damage the store reports itself, plainly): none of it is
/// for the person at the terminal, whatever the log level.
const SLED_OFF: &str = "sled=off";

/// Keeps the message of a panic inside sled off stderr. sled asserts on what it reads
/// back from its files, so a damaged store can make it panic; the store catches that
/// at its boundary and reports the damage plainly (storage/src/damage.rs), and a panic
/// trace beside that message would only bury it. Every other panic prints as before.
fn quiet_storage_engine_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_sled = info.location().is_some_and(|l| {
            let file = l.file().replace('\\', "/");
            file.contains("/sled-") || file.contains("/sled/")
        });
        if !in_sled {
            default(info);
        }
    }));
}

async fn run(cli: &Cli) -> anyhow::Result<Output> {
    if let Command::Demo = cli.command {
        demo::run().await?;
        return Ok(Output::new(serde_json::Value::Null, ""));
    }
    if let Command::Bench(b) = &cli.command {
        return Ok(espm_node::bench::run(b).await?);
    }
    if let Command::CheckProof(a) = &cli.command {
        // Offline and on no node at all when the hub id is given; else the hub this
        // node pins. The file is read here, where the user typed its name.
        let mut a = a.clone();
        a.text = Some(espm_node::proof::read(&a.file)?);
        let dir = data_dir(cli)?;
        if a.hub_id.is_some() || !dir.exists() {
            // Without a node here, the hub id must be given: the check says so.
            return Ok(output_of_check(&a)?);
        }
        let command = Command::CheckProof(a);
        if let Some(r) = control::forward(&dir, &command, &Secrets::default()).await {
            return Ok(r?);
        }
        let node = Arc::new(Node::open(&dir)?);
        return Ok(execute(node, command, &Secrets::default(), false).await?);
    }
    let dir = data_dir(cli)?;
    if let Some(i) = is_init(&cli.command) {
        let secrets = read_passphrase(&cli.command)?;
        let passphrase = secrets.passphrase.as_deref().map(String::as_str);
        return Ok(init(&dir, i, passphrase)?);
    }
    if let Command::Restore(r) = &cli.command {
        let progress = !cli.json && !cli.quiet && std::io::stderr().is_terminal();
        return Ok(espm_node::cli::run::restore(&dir, &r.file, progress)?);
    }
    if let Command::Serve(a) = &cli.command {
        let node = Arc::new(Node::open(&dir)?);
        serve::serve(node, a.listen.as_deref()).await?;
        return Ok(Output::new(serde_json::Value::Null, ""));
    }
    let mut secrets = read_passphrase(&cli.command)?;
    // Read here, where the user typed the path, before any serving node sees the
    // command: that node's working directory is not the user's.
    if let Some(file) = path_of(&cli.command) {
        secrets.upload = Some(espm_node::satker::upload::read_attachment(file, &dir)?);
    }
    let command = cli
        .command
        .with_absolute_paths()
        .context("cannot resolve the file named on the command line")?;
    if let Some(r) = control::forward(&dir, &command, &secrets).await {
        return Ok(r?);
    }
    let node = Arc::new(Node::open(&dir)?);
    let progress = !cli.json && !cli.quiet && std::io::stderr().is_terminal();
    Ok(execute(node, command, &secrets, progress).await?)
}

/// `espm check-proof --hub-id`: no data directory, no node.
fn output_of_check(a: &espm_node::cli::CheckProofArgs) -> espm_node::Result<Output> {
    let checked = espm_node::cli::run::check_proof(None, a)?;
    Ok(espm_node::cli::render::output(&checked))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let filter = match tracing_subscriber::EnvFilter::try_from_env("ESPM_LOG") {
        // Someone who names sled in ESPM_LOG asked for its lines; nobody else gets them.
        Ok(f) if std::env::var("ESPM_LOG").is_ok_and(|v| v.contains("sled")) => f,
        Ok(f) => match SLED_OFF.parse() {
            Ok(directive) => f.add_directive(directive),
            Err(_) => f,
        },
        Err(_) => tracing_subscriber::EnvFilter::new(log_filter(
            cli.quiet,
            cli.verbose,
            matches!(cli.command, Command::Serve(_)),
        )),
    };
    quiet_storage_engine_panics();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(&cli));
    // Background tasks (a stuck connection, the control socket) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(out) => {
            if cli.json {
                if !out.json.is_null() {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&out.json).unwrap_or_else(|_| "null".into())
                    );
                }
            } else {
                // `-q` drops the chatter, never the answer (an id, a table).
                let text = out.text_for(cli.quiet, cli.verbose);
                if !text.is_empty() {
                    println!("{text}");
                }
            }
            if out.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            let msg = match e.downcast_ref::<NodeError>() {
                Some(n) => n.to_string(),
                None => format!("{e:#}"),
            };
            if cli.json {
                // verify's answer to a damaged store is a verdict, not a bare error.
                let json = match e
                    .downcast_ref::<NodeError>()
                    .and_then(NodeError::store_damage)
                {
                    Some(d) if matches!(cli.command, Command::Verify) => {
                        let verdict = output(&Verification::damaged_store(d)).json;
                        serde_json::to_string_pretty(&verdict).unwrap_or_else(|_| "null".into())
                    }
                    _ => serde_json::json!({ "error": msg }).to_string(),
                };
                println!("{json}");
            }
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passphrase_typed_differently_twice_is_refused() {
        assert!(confirm_passphrase("kata sandi", "kata sandi").is_ok());
        let e = confirm_passphrase("kata sandi", "kata sandl").unwrap_err();
        assert!(e.to_string().contains("differ"), "{e}");
    }

    #[test]
    fn each_v_raises_the_log_level_and_q_lowers_it() {
        assert_eq!(
            log_filter(false, 0, false),
            "warn,espm=warn,espm_node=warn,sync_protocol=warn,storage=warn,sled=off"
        );
        assert!(log_filter(false, 0, true).contains("espm_node=info"));
        assert!(log_filter(false, 1, false).contains("espm_node=info"));
        assert!(log_filter(false, 2, false).contains("espm_node=debug"));
        assert!(log_filter(false, 3, false).starts_with("trace"));
        assert!(log_filter(true, 2, false).contains("espm_node=error"));
        assert!(log_filter(false, 3, false).ends_with(",sled=off"));
    }
}
