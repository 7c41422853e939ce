//! End-to-end: `espm draft attach` reads the file in the process the user typed the
//! command in, and attaches only a regular PDF, PNG or JPEG of at most 10 MiB that lies
//! outside the node's data directory. Real `espm` processes on real sled stores: a
//! satker node serving (started from inside its own data directory, as a user who `cd`s
//! there would), with the attach commands typed in another folder, and the same checks
//! with no node serving.

#[path = "support/mod.rs"]
mod support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};
use support::*;
use tempfile::TempDir;

/// The attachment cap the node enforces (10 MiB).
const CAP: u64 = 10 * 1024 * 1024;

/// How long a freshly started `serve` may take to answer on its control socket.
const SERVE_STARTUP: std::time::Duration = std::time::Duration::from_secs(30);

/// A satker device with one SPM draft, optionally serving, and the folder its operator
/// types commands in (outside the data directory).
struct Office {
    /// Declared first so `serve` is killed before the directories go.
    served: Option<Served>,
    satker: Satker,
    /// Never started: the satker only needs a real hub id to be initialized.
    _hub: Hub,
    folder: TempDir,
    doc: String,
}

impl Office {
    /// A satker node with a draft, not serving.
    fn new() -> Office {
        let hub = init_hub();
        let satker = init_satker(&hub.addr(), &hub.id);
        let doc = satker.new_spm("00001/SPM/2026", "1500000");
        // Beside the node's temporary directory, so a relative path can climb into it.
        let folder = tempfile::Builder::new()
            .prefix("espm-operator-")
            .tempdir_in(satker.dir().parent().and_then(Path::parent).expect("tmp"))
            .expect("create the operator's folder");
        Office {
            served: None,
            satker,
            _hub: hub,
            folder,
            doc,
        }
    }

    /// A satker node with a draft, serving from inside its own data directory.
    fn serving() -> Office {
        let mut office = Office::new();
        let dir = office.satker.dir().to_path_buf();
        let mut served = Served::spawn_in(&office.satker, &dir);
        let deadline = std::time::Instant::now() + SERVE_STARTUP;
        // Commands must reach the serving node: it holds the store's lock, so a command
        // that answers once the socket exists went through it.
        loop {
            served.assert_alive();
            if dir.join("control.sock").exists() && office.satker.run(&["status"]).status.success()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the satker's control socket never answered; log:\n{}",
                served.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        office.served = Some(served);
        office
    }

    fn folder(&self) -> &Path {
        self.folder.path()
    }

    /// Writes `bytes` as `name` in the operator's folder and returns its path.
    fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.folder().join(name);
        fs::write(&path, bytes).expect("write a test file");
        path
    }

    /// `draft attach DOC FILE` typed in the operator's folder, which must succeed;
    /// returns the attachment's SHA-256.
    fn attach_ok(&self, file: &str) -> String {
        let v = self
            .satker
            .ok_in(self.folder(), &["draft", "attach", &self.doc, file]);
        assert_eq!(id_of(&v, "doc_id"), self.doc);
        str_of(&v, "attachment")
    }

    /// `draft attach DOC FILE` typed in the operator's folder, which must fail with a
    /// short plain explanation and attach nothing; returns stderr.
    fn attach_refused(&self, file: &str) -> String {
        let before = self.attachments();
        let err = self
            .satker
            .fail_in(self.folder(), &["draft", "attach", &self.doc, file]);
        assert_plain_error(&err, &format!("draft attach {file}"));
        assert_eq!(
            self.attachments(),
            before,
            "a refused attach of {file} changed the draft's attachments ({err})"
        );
        err
    }

    /// The draft's attachments as (name, sha256, size).
    fn attachments(&self) -> Vec<(String, String, u64)> {
        let v = self.satker.ok(&["draft", "show", &self.doc]);
        v["attachments"]
            .as_array()
            .unwrap_or_else(|| panic!("draft show: `attachments` is not a list: {v}"))
            .iter()
            .map(|a| {
                (
                    str_of(a, "name"),
                    str_of(a, "sha256"),
                    a["size"].as_u64().unwrap_or_else(|| panic!("no size: {a}")),
                )
            })
            .collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A small PDF: header, one empty page, trailer.
fn pdf(tag: &str) -> Vec<u8> {
    format!(
        "%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
         2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% {tag}\n\
         trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// A 1x1 PNG.
fn png() -> Vec<u8> {
    STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("valid base64")
}

/// The start of a JFIF JPEG (SOI, APP0 JFIF header), some data, and EOI.
fn jpeg() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    b.extend_from_slice(&[0x11; 64]);
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

/// A ZIP local file header for `entry`, stored, with `data`: what begins a ZIP archive,
/// and a .docx when the entry is under `word/`.
fn zip_with(entry: &str, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"PK\x03\x04");
    b.extend_from_slice(&20u16.to_le_bytes()); // version needed
    b.extend_from_slice(&0u16.to_le_bytes()); // flags
    b.extend_from_slice(&0u16.to_le_bytes()); // stored
    b.extend_from_slice(&[0; 4]); // time, date
    b.extend_from_slice(&[0; 4]); // crc-32 (not checked by anyone here)
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(entry.len() as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes()); // extra length
    b.extend_from_slice(entry.as_bytes());
    b.extend_from_slice(data);
    b
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {} failed", path.display());
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

// ---- through a serving node ----------------------------------------------------------

#[test]
fn a_relative_path_names_the_file_in_the_folder_the_command_was_typed_in() {
    let office = Office::serving();
    let mine = pdf("the operator's scan");
    office.put("scan.pdf", &mine);
    // A different file of the same name where the serving process was started.
    fs::write(office.satker.dir().join("scan.pdf"), pdf("another scan")).unwrap();

    let sha = office.attach_ok("scan.pdf");
    assert_eq!(
        sha,
        sha256_hex(&mine),
        "attached another file than ./scan.pdf"
    );
    assert_eq!(
        office.attachments(),
        vec![("scan.pdf".to_string(), sha, mine.len() as u64)]
    );
}

#[test]
fn a_key_file_name_typed_in_another_folder_attaches_nothing_from_the_data_directory() {
    let office = Office::serving();
    let key = fs::read(office.satker.dir().join("node.key")).expect("read the node key");

    let err = office.attach_refused("node.key");
    assert!(
        lower(&err).contains("no such file") && err.contains("node.key"),
        "expected 'no such file' naming node.key: {err}"
    );
    let atts = office.attachments();
    assert!(atts.is_empty(), "the draft has attachments: {atts:?}");
    assert!(
        !atts.iter().any(|(_, sha, _)| *sha == sha256_hex(&key)),
        "the node key was attached"
    );
}

#[test]
fn paths_that_lead_into_the_data_directory_are_refused_naming_it() {
    let office = Office::serving();
    let dir = office.satker.dir();
    // A valid PDF inside the data directory is refused too: the rule is where the file
    // is, not what it holds.
    fs::write(dir.join("lampiran.pdf"), pdf("inside")).unwrap();
    let node_tmp = dir.parent().expect("node tmp");
    assert_eq!(
        node_tmp.parent(),
        office.folder().parent(),
        "the test wants the operator's folder beside the node's directory"
    );
    let climb = Path::new("..")
        .join(node_tmp.file_name().expect("tmp name"))
        .join("node");
    let key_abs = dir.join("node.key");
    let pdf_abs = dir.join("lampiran.pdf");
    let dotted = office.folder().join(&climb).join("lampiran.pdf");
    for path in [
        key_abs.to_str().unwrap().to_string(),
        pdf_abs.to_str().unwrap().to_string(),
        climb.join("node.key").to_str().unwrap().to_string(),
        dotted.to_str().unwrap().to_string(),
    ] {
        let err = office.attach_refused(&path);
        assert!(
            lower(&err).contains("inside") && lower(&err).contains("data directory"),
            "{path}: expected a refusal naming the data directory: {err}"
        );
    }
    assert!(office.attachments().is_empty());
}

#[test]
fn only_a_regular_file_is_attached_never_a_device_fifo_socket_directory_or_symlink() {
    let office = Office::serving();
    office.put("scan.pdf", &pdf("target of a link"));
    mkfifo(&office.folder().join("pipe.pdf"));
    fs::create_dir(office.folder().join("scans.pdf")).unwrap();
    std::os::unix::fs::symlink("scan.pdf", office.folder().join("link.pdf")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(office.folder().join("sock.pdf")).unwrap();

    for (file, what) in [
        ("/dev/zero", "device"),
        ("pipe.pdf", "fifo"),
        ("sock.pdf", "socket"),
        ("scans.pdf", "directory"),
        ("link.pdf", "symbolic link"),
    ] {
        let err = office.attach_refused(file);
        assert!(
            lower(&err).contains("not a regular file") && lower(&err).contains(what),
            "{file}: expected 'not a regular file' naming a {what}: {err}"
        );
    }
    assert!(office.attachments().is_empty());
}

#[test]
fn content_other_than_pdf_png_or_jpeg_is_refused_naming_what_it_is() {
    let office = Office::serving();
    // Names say PDF; the content decides.
    office.put("lampiran.pdf", &zip_with("lampiran/sk.pdf", &pdf("zipped")));
    office.put("sk.docx", &zip_with("word/document.xml", b"<w:document/>"));
    office.put(
        "catatan.pdf",
        b"Surat Keputusan Nomor 12/2026\ntentang honor\n",
    );
    office.put(
        "acak.pdf",
        &[0x00, 0x9c, 0x13, 0xfe, 0x42, 0x00, 0x07, 0x81],
    );

    for (file, what) in [
        ("lampiran.pdf", "zip archive"),
        ("sk.docx", "word document"),
        ("catatan.pdf", "plain text"),
        ("acak.pdf", "unrecognised content"),
    ] {
        let err = office.attach_refused(file);
        assert!(
            lower(&err).contains(what) && err.contains("PDF, PNG or JPEG"),
            "{file}: expected a refusal naming {what}: {err}"
        );
    }
    assert!(office.attachments().is_empty());
}

#[test]
fn png_and_jpeg_scans_are_attached() {
    let office = Office::serving();
    let (p, j) = (png(), jpeg());
    office.put("ktp.png", &p);
    office.put("ktp.jpg", &j);
    let sp = office.attach_ok("ktp.png");
    let sj = office.attach_ok("ktp.jpg");
    assert_eq!(
        (sp.as_str(), sj.as_str()),
        (&*sha256_hex(&p), &*sha256_hex(&j))
    );
    let names: Vec<String> = office.attachments().into_iter().map(|a| a.0).collect();
    assert_eq!(names, ["ktp.png", "ktp.jpg"]);
}

#[test]
fn a_file_over_the_cap_is_refused_naming_the_limit_and_one_at_the_cap_crosses_the_control_socket() {
    let office = Office::serving();
    // Sparse: a PDF header and then a hole, so the test writes almost nothing.
    let sized = |name: &str, len: u64| {
        let path = office.put(name, b"%PDF-1.7\n");
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len))
            .expect("size the test file");
    };
    sized("over.pdf", CAP + 1);
    sized("full.pdf", CAP);

    let err = office.attach_refused("over.pdf");
    assert!(
        err.contains("10 MiB"),
        "expected the refusal to name the 10 MiB limit: {err}"
    );
    office.attach_ok("full.pdf");
    let atts = office.attachments();
    assert_eq!(atts.len(), 1, "{atts:?}");
    assert_eq!((atts[0].0.as_str(), atts[0].2), ("full.pdf", CAP));
}

// ---- with no node serving ------------------------------------------------------------

#[test]
fn with_no_node_serving_the_file_is_checked_the_same_way() {
    let office = Office::new();
    let scan = pdf("local");
    office.put("scan.pdf", &scan);
    mkfifo(&office.folder().join("pipe.pdf"));
    std::os::unix::fs::symlink("scan.pdf", office.folder().join("link.pdf")).unwrap();
    office.put("lampiran.pdf", &zip_with("a.txt", b"x"));
    office.put("catatan.pdf", b"catatan rapat\n");
    let key = office.satker.dir().join("node.key");

    for (file, what) in [
        ("/dev/zero", "not a regular file"),
        ("pipe.pdf", "not a regular file"),
        ("link.pdf", "not a regular file"),
        (".", "not a regular file"),
        ("lampiran.pdf", "zip archive"),
        ("catatan.pdf", "plain text"),
        (key.to_str().unwrap(), "data directory"),
        ("node.key", "no such file"),
    ] {
        let err = office.attach_refused(file);
        assert!(
            lower(&err).contains(what),
            "{file}: expected '{what}': {err}"
        );
    }
    assert!(office.attachments().is_empty());
    let sha = office.attach_ok("scan.pdf");
    assert_eq!(sha, sha256_hex(&scan));
}
