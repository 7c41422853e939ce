//! File and folder names for an export. Document ids and attachment names come from
//! satker devices, and a hostile one controls them: every name written is cut down to
//! a safe alphabet, so no name can climb out of the export (`..`, `/`) or hide
//! (a leading dot), and names that clash or had to change carry a hash of the original.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// The longest name part kept, well inside every file system's limit.
const MAX_CHARS: usize = 80;

/// `text` in the alphabet `A-Z a-z 0-9 . _ -`, every other character `_`, no leading
/// dot, at most [`MAX_CHARS`]; `None` when nothing usable is left.
pub(crate) fn safe(text: &str) -> Option<String> {
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_CHARS)
        .collect();
    let trimmed = mapped.trim_start_matches('.');
    (!trimmed.is_empty() && trimmed.chars().any(|c| c.is_ascii_alphanumeric()))
        .then(|| trimmed.to_string())
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// The folder of document `doc_id` of `satker`, unique among `taken` (which it joins):
/// `SATKER_DOCID`, with a hash of both when either had to change or the name is taken.
pub(crate) fn doc_folder(satker: &str, doc_id: &str, taken: &mut BTreeSet<String>) -> String {
    let original = format!("{satker}/{doc_id}");
    let plain = match (safe(satker), safe(doc_id)) {
        (Some(s), Some(d)) if s == satker && d == doc_id => Some(format!("{s}_{d}")),
        _ => None,
    };
    let name = match plain {
        Some(p) if !taken.contains(&p) => p,
        _ => {
            let stem = safe(&format!("{satker}_{doc_id}")).unwrap_or_else(|| "document".into());
            format!("{stem}-{}", short_hash(&original))
        }
    };
    taken.insert(name.clone());
    name
}

/// The file name of an attachment named `name` with SHA-256 `sha256` (hex), unique
/// among `taken` (which it joins): the name where it is safe as given and free, else
/// the SHA-256 followed by whatever safe extension the name has.
pub(crate) fn attachment_file(name: &str, sha256: &str, taken: &mut BTreeSet<String>) -> String {
    let sha = safe(sha256).unwrap_or_else(|| short_hash(sha256));
    let file = match safe(name) {
        Some(s) if s == name && !taken.contains(&s) && s != "document.json" => s,
        _ => {
            let ext = name
                .rsplit_once('.')
                .and_then(|(_, e)| safe(e))
                .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
            let mut candidate = match ext {
                Some(e) => format!("{sha}.{e}"),
                None => sha.clone(),
            };
            // The same file attached twice under two names.
            let mut n = 1;
            while taken.contains(&candidate) {
                n += 1;
                candidate = format!("{sha}-{n}");
            }
            candidate
        }
    };
    taken.insert(file.clone());
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stays_inside(name: &str) {
        assert!(!name.is_empty());
        assert!(!name.contains('/') && !name.contains('\\'), "{name}");
        assert!(!name.starts_with('.'), "{name}");
        assert!(name != "." && name != "..", "{name}");
        let p = std::path::Path::new("/export").join(name);
        assert_eq!(p.parent(), Some(std::path::Path::new("/export")), "{name}");
    }

    #[test]
    fn a_hostile_doc_id_or_attachment_name_cannot_escape_the_export() {
        let hostile = [
            "../../etc/passwd",
            "..",
            ".",
            "/",
            "/absolute/path",
            "a/../../b",
            "..\\..\\windows",
            ".hidden",
            "",
            "\u{0}nul",
            "é/ü/ß",
            "....//....//",
            &"x".repeat(5000),
        ];
        let mut folders = BTreeSet::new();
        let mut files = BTreeSet::new();
        for h in hostile {
            let folder = doc_folder("123456", h, &mut folders);
            stays_inside(&folder);
            let folder = doc_folder(h, "spm-1", &mut folders);
            stays_inside(&folder);
            let file = attachment_file(h, &"ab".repeat(32), &mut files);
            stays_inside(&file);
            assert!(file.len() <= 100, "{file}");
        }
        assert_eq!(folders.len(), 2 * hostile.len(), "every folder is distinct");
        assert_eq!(files.len(), hostile.len(), "every file is distinct");
    }

    #[test]
    fn plain_names_are_kept_and_clashes_get_a_hash() {
        let mut folders = BTreeSet::new();
        assert_eq!(
            doc_folder("123456", "spm-0001", &mut folders),
            "123456_spm-0001"
        );
        // Another satker's id that maps onto the same plain name.
        let other = doc_folder("123456_spm", "0001", &mut folders);
        assert_ne!(other, "123456_spm-0001");
        let mut files = BTreeSet::new();
        let sha = "cd".repeat(32);
        assert_eq!(
            attachment_file("kuitansi.pdf", &sha, &mut files),
            "kuitansi.pdf"
        );
        assert_eq!(
            attachment_file("kuitansi.pdf", &sha, &mut files),
            format!("{sha}.pdf")
        );
        assert_eq!(
            attachment_file("../kuitansi.pdf", &sha, &mut files),
            format!("{sha}-2")
        );
    }
}
