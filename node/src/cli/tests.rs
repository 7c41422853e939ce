use clap::CommandFactory;

use super::Cli;

/// Every leaf command, by its full name, with its long help.
fn helps(cmd: &mut clap::Command, path: String, out: &mut Vec<(String, String)>) {
    let mut subs: Vec<_> = cmd
        .get_subcommands_mut()
        .filter(|c| c.get_name() != "help")
        .map(|c| c.clone())
        .collect();
    out.push((path.clone(), cmd.render_long_help().to_string()));
    for sub in &mut subs {
        let name = format!("{path} {}", sub.get_name());
        helps(sub, name, out);
    }
}

#[test]
fn every_command_shows_an_example_and_lists_global_options_apart() {
    let mut root = Cli::command();
    root.build();
    let mut all = Vec::new();
    helps(&mut root, "espm".into(), &mut all);
    assert!(all.len() > 30, "only {} commands found", all.len());
    for (name, help) in all.iter().skip(1) {
        assert!(
            help.contains("Example:\n  espm "),
            "`{name} --help` gives no example:\n{help}"
        );
        assert!(
            help.contains("Global options:\n"),
            "`{name} --help` does not list the global options apart:\n{help}"
        );
        // The command's own options are not mixed into the global heading.
        let global = &help[help.find("Global options:").unwrap()..help.find("Example:").unwrap()];
        assert!(!global.contains("--stage"), "{name}: {global}");
    }
}
