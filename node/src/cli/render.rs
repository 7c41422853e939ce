//! How the CLI shows what the node API returns: one JSON document for `--json` (with
//! exactly the keys ../shared/CLI.md promises) and text for people. The API decides;
//! this module only formats, one `impl Render` per result type, grouped by room.

pub(crate) mod backup;
mod docs;
mod export;
mod hub;
mod kinds;
mod proof;
mod satker;
mod signing;
pub(crate) mod sync;
mod verify;

use crate::cli::run::Output;

pub use kinds::Kinds;

/// A result of the node API as the CLI prints it.
pub trait Render {
    /// The `--json` document.
    fn json(&self) -> serde_json::Value;
    /// The text for people.
    fn text(&self) -> String;
    /// Whether the command found a failure to report (it exits 1 with this output).
    fn failed(&self) -> bool {
        false
    }
    /// What `-q` keeps: the answer alone (an id, a table) without the chatter around
    /// it. Most texts are all answer.
    fn answer(&self) -> String {
        self.text()
    }
    /// The text `-v` shows, where it says more than [`Render::text`].
    fn detail(&self) -> String {
        self.text()
    }
}

/// The output of a command that returned `result`.
pub fn output(result: &impl Render) -> Output {
    let text = result.text();
    let mut out = Output::new(result.json(), text.trim_end());
    out.failed = result.failed();
    let (answer, detail) = (result.answer(), result.detail());
    out.answer = (answer != text).then(|| answer.trim_end().to_string());
    out.detail = (detail != text).then(|| detail.trim_end().to_string());
    out
}

/// A fixed-width table: a header row and one row per item, as the CLI lists things.
pub(crate) fn table(widths: &[usize], header: &[&str], rows: &[Vec<String>]) -> String {
    let line = |cells: &[String]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            match widths.get(i) {
                Some(w) if i + 1 < cells.len() => l.push_str(&format!("{c:<w$} ")),
                _ => l.push_str(c),
            }
        }
        l.push('\n');
        l
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}
