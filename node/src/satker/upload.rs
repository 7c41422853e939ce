//! Reading a file the user attaches, in the `espm` process the user typed the command
//! in, so a relative path means what it means in that folder and the bytes, not the
//! path, go to a serving node.
//!
//! This module must never follow a symbolic link, open anything but a regular file,
//! block on a FIFO or device, read more than [`MAX_ATTACHMENT_BYTES`] + 1 bytes, or
//! read a file inside the node's data directory (where its keys and store live).

use std::{
    fmt,
    fs::{self, FileType, OpenOptions},
    io::{self, Read},
    os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt},
    path::Path,
};

use serde::{Deserialize, Serialize};

use crate::error::{NodeError, Result};

/// Attachments larger than this are refused; the hub holds documents to the same limit.
pub use sync_protocol::MAX_ATTACHMENT_BYTES;

/// The limit as people read it, for messages.
const LIMIT_TEXT: &str = "10 MiB (10485760 bytes)";

/// Longest file name kept with an attachment, as on common file systems.
const MAX_NAME_BYTES: usize = 255;

/// How much of the start of a file is looked at to call it plain text.
const TEXT_SNIFF_BYTES: usize = 8192;

/// A file read for attaching: its own name (never the path) and its contents.
#[derive(Clone, Serialize, Deserialize)]
pub struct Upload {
    /// The file's name, without any folder.
    pub name: String,
    /// The file's contents; base64 in the control socket's JSON.
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Upload {
    /// Checks what any upload must be, wherever it came from (the CLI's own read, or a
    /// control request): a plain file name, 1 byte to [`MAX_ATTACHMENT_BYTES`], and a
    /// PDF, PNG or JPEG by content. `label` names the file in messages.
    pub fn check(&self, label: &str) -> Result<()> {
        check_name(&self.name)?;
        if self.bytes.is_empty() {
            return Err(NodeError::user(format!(
                "{label} is empty; attach the scanned document itself"
            )));
        }
        if self.bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
            return Err(NodeError::user(format!(
                "{label} is larger than the {LIMIT_TEXT} limit for attachments; scan it at a lower resolution or split it"
            )));
        }
        if accepted_type(&self.bytes).is_none() {
            return Err(NodeError::user(format!(
                "{label} is {}; attachments must be PDF, PNG or JPEG (judged by content, not by name)",
                describe_content(&self.bytes)
            )));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > MAX_NAME_BYTES
        || name.contains(['/', '\0'])
    {
        return Err(NodeError::user(format!(
            "'{}' is not a file name an attachment can carry; rename the file",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// Reads `path` (relative to this process's working directory) for attaching to a draft
/// of the node whose data directory is `data_dir`, refusing anything but a regular
/// PDF, PNG or JPEG of at most [`MAX_ATTACHMENT_BYTES`] outside that directory.
pub fn read_attachment(path: &Path, data_dir: &Path) -> Result<Upload> {
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let label = shown.display().to_string();
    let cannot = |e: io::Error| NodeError::Io {
        action: format!("cannot read {label}"),
        source: e,
    };

    // 1. Where it leads, every link followed: never into the data directory.
    let real = match fs::canonicalize(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A link to nothing is still a link: say what it is.
            if let Ok(m) = fs::symlink_metadata(path) {
                if let Some(what) = not_regular(m.file_type()) {
                    return Err(not_regular_error(&label, what));
                }
            }
            return Err(NodeError::user(format!(
                "no such file: {label}; check the file's name and the folder you typed the command in"
            )));
        }
        Err(e) => return Err(cannot(e)),
    };
    let data_real = fs::canonicalize(data_dir)
        .or_else(|_| std::path::absolute(data_dir))
        .unwrap_or_else(|_| data_dir.to_path_buf());
    if real.starts_with(&data_real) {
        return Err(inside_data_dir(&label, &data_real));
    }
    let checked = fs::metadata(&real).map_err(cannot)?;

    // 2. What it is, before opening it: opening a device or socket can itself do harm
    //    or fail obscurely.
    let meta = fs::symlink_metadata(path).map_err(cannot)?;
    if let Some(what) = not_regular(meta.file_type()) {
        return Err(not_regular_error(&label, what));
    }

    // 3. Open without following a link (a swap to one since step 2 fails here) and
    //    without blocking (a swap to a FIFO cannot hang this command), then judge what
    //    was opened, not what the path named a moment ago.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => not_regular_error(&label, "a symbolic link"),
            _ => cannot(e),
        })?;
    let opened = file.metadata().map_err(cannot)?;
    if let Some(what) = not_regular(opened.file_type()) {
        return Err(not_regular_error(&label, what));
    }
    if (opened.dev(), opened.ino()) != (checked.dev(), checked.ino()) {
        return Err(NodeError::user(format!(
            "{label} changed while it was being read; nothing was attached. Try again"
        )));
    }

    // 4. Read at most one byte past the cap: the size the file system reports is not
    //    trusted (it can grow while being read).
    let expected = opened.len().min(MAX_ATTACHMENT_BYTES + 1) as usize;
    let mut bytes = Vec::with_capacity(expected);
    file.take(MAX_ATTACHMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    let name = file_name(path).ok_or_else(|| {
        NodeError::user(format!(
            "{label} does not end in a file name; give the file's path"
        ))
    })?;
    let upload = Upload { name, bytes };
    upload.check(&label)?;
    Ok(upload)
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
}

fn inside_data_dir(label: &str, data_dir: &Path) -> NodeError {
    NodeError::user(format!(
        "{label} is inside this node's data directory {}, where its keys and store live; nothing was attached. Copy the document to another folder and attach it from there",
        data_dir.display()
    ))
}

fn not_regular_error(label: &str, what: &str) -> NodeError {
    NodeError::user(format!(
        "{label} is {what}, not a regular file; attach the scanned document file itself"
    ))
}

/// What a file that is not a regular file is, in plain words; `None` for a regular file.
pub fn not_regular(t: FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("a special file")
    }
}

/// The attachment types DESIGN.md §3 names (decrees as PDF, identity scans as PNG or
/// JPEG), judged by their signatures at the very start of the content. Written here
/// rather than taken from `infer`, whose PDF match also takes a header anywhere in the
/// first KiB: what is accepted must be exact.
pub fn accepted_type(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(b"%PDF-") {
        Some("PDF")
    } else if bytes.starts_with(PNG) {
        Some("PNG")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("JPEG")
    } else {
        None
    }
}

/// What some content is, in plain words, for refusing it: "a ZIP archive", "plain
/// text", "unrecognised content"; named with `infer` where it knows the format.
pub fn describe_content(bytes: &[u8]) -> String {
    if let Some(t) = infer::get(bytes) {
        let plain = match t.extension() {
            "zip" => "a ZIP archive",
            "docx" => "a Word document (.docx)",
            "doc" => "a Word 97-2003 document (.doc)",
            "xlsx" => "an Excel workbook (.xlsx)",
            "xls" => "an Excel 97-2003 workbook (.xls)",
            "pptx" => "a PowerPoint presentation (.pptx)",
            "ppt" => "a PowerPoint 97-2003 presentation (.ppt)",
            "odt" | "ods" | "odp" => "an OpenDocument file",
            "rar" => "a RAR archive",
            "7z" => "a 7-Zip archive",
            "gz" => "a gzip archive",
            "pdf" => "a PDF whose header is not at the start of the file",
            "html" => "an HTML page",
            _ => "",
        };
        return if plain.is_empty() {
            format!(
                "{} content ({})",
                t.extension().to_uppercase(),
                t.mime_type()
            )
        } else {
            plain.to_string()
        };
    }
    if looks_like_text(bytes) {
        "plain text".to_string()
    } else {
        "unrecognised content".to_string()
    }
}

/// Whether the start of `bytes` is UTF-8 text with no control characters but line
/// breaks, tabs and form feeds. `infer` names binary formats only, not plain text.
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(TEXT_SNIFF_BYTES)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // Cut inside a character at the sniff boundary: the part before it counts.
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
}

/// Bytes as one base64 string in JSON: a quarter more than the bytes, where serde's
/// default (a list of numbers) would be up to four times as much.
mod base64_bytes {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests;
