//! The attachment rules on real files in temporary directories.

use std::{fs, path::Path};

use super::*;

fn pdf() -> Vec<u8> {
    b"%PDF-1.7\n%%EOF\n".to_vec()
}

fn upload(name: &str, bytes: &[u8]) -> Upload {
    Upload {
        name: name.into(),
        bytes: bytes.to_vec(),
    }
}

fn message(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// A data directory and, beside it, the folder a user works in.
fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    let work = tmp.path().join("work");
    fs::create_dir(&data).unwrap();
    fs::create_dir(&work).unwrap();
    (tmp, data, work)
}

#[test]
fn only_pdf_png_and_jpeg_signatures_at_the_very_start_are_accepted() {
    assert_eq!(accepted_type(b"%PDF-1.4\n"), Some("PDF"));
    assert_eq!(accepted_type(b"\x89PNG\r\n\x1a\n\0\0"), Some("PNG"));
    assert_eq!(accepted_type(&[0xFF, 0xD8, 0xFF, 0xE1]), Some("JPEG"));
    // `infer` would call this a PDF: its header sits a few bytes in.
    assert_eq!(accepted_type(b"junk%PDF-1.4\n"), None);
    assert_eq!(accepted_type(b"%PDF"), None);
    assert_eq!(accepted_type(b"\x89PNG"), None);
    assert_eq!(accepted_type(b""), None);
}

#[test]
fn refused_content_is_named_for_what_it_is() {
    assert_eq!(describe_content(b"PK\x05\x06\0\0\0\0"), "a ZIP archive");
    assert_eq!(
        describe_content(b"GIF89a\x01\0\x01\0"),
        "GIF content (image/gif)"
    );
    assert_eq!(
        describe_content(b"Nomor: 12/SK/2026\r\n\ttentang\n"),
        "plain text"
    );
    assert_eq!(
        describe_content(b"junk%PDF-1.4\n"),
        "a PDF whose header is not at the start of the file"
    );
    assert_eq!(
        describe_content(&[0, 1, 2, 3, 0x9c]),
        "unrecognised content"
    );
    // UTF-8 cut inside a character at the sniffing limit is still text.
    let mut long = "é".repeat(TEXT_SNIFF_BYTES);
    long.push('\n');
    assert_eq!(describe_content(long.as_bytes()), "plain text");
}

#[test]
fn an_upload_from_anywhere_is_checked_for_name_size_and_type() {
    assert!(upload("sk.pdf", &pdf()).check("sk.pdf").is_ok());
    assert!(message(upload("sk.pdf", b"").check("sk.pdf")).contains("is empty"));
    let mut big = pdf();
    big.resize(MAX_ATTACHMENT_BYTES as usize + 1, 0);
    assert!(message(upload("sk.pdf", &big).check("sk.pdf")).contains("10 MiB"));
    big.truncate(MAX_ATTACHMENT_BYTES as usize);
    assert!(upload("sk.pdf", &big).check("sk.pdf").is_ok());
    assert!(message(upload("sk.txt", b"hello\n").check("sk.txt")).contains("plain text"));
    // A control request may name anything: only a bare file name is kept.
    for bad in ["", ".", "..", "../node.key", "a/b.pdf", "a\0.pdf"] {
        assert!(
            message(upload(bad, &pdf()).check("x")).contains("not a file name"),
            "{bad:?}"
        );
    }
    assert!(upload(&"n".repeat(MAX_NAME_BYTES + 1), &pdf())
        .check("x")
        .is_err());
}

#[test]
fn bytes_travel_as_base64_and_come_back_whole() {
    let u = upload("scan.pdf", &[0, 255, 1, 254, b'%']);
    let json = serde_json::to_string(&u).unwrap();
    assert_eq!(json, r#"{"name":"scan.pdf","bytes":"AP8B/iU="}"#);
    let back: Upload = serde_json::from_str(&json).unwrap();
    assert_eq!((back.name, back.bytes), (u.name, u.bytes));
    assert!(serde_json::from_str::<Upload>(r#"{"name":"a","bytes":"not base64!"}"#).is_err());
}

#[test]
fn a_regular_file_outside_the_data_directory_is_read_under_its_own_name() {
    let (_tmp, data, work) = dirs();
    let path = work.join("sk-penetapan.pdf");
    fs::write(&path, pdf()).unwrap();
    let u = read_attachment(&path, &data).unwrap();
    assert_eq!((u.name.as_str(), u.bytes), ("sk-penetapan.pdf", pdf()));
}

#[test]
fn a_file_in_the_data_directory_is_refused_however_the_path_reaches_it() {
    let (_tmp, data, work) = dirs();
    fs::write(data.join("scan.pdf"), pdf()).unwrap();
    fs::create_dir(data.join("sub")).unwrap();
    fs::write(data.join("sub").join("scan.pdf"), pdf()).unwrap();
    for path in [
        data.join("scan.pdf"),
        data.join("sub").join("scan.pdf"),
        work.join("..").join("node").join("scan.pdf"),
        data.clone(),
    ] {
        let m = message(read_attachment(&path, &data));
        assert!(
            m.contains("inside this node's data directory"),
            "{path:?}: {m}"
        );
    }
    // A data directory named through `..` is the same directory.
    let m = message(read_attachment(
        &data.join("scan.pdf"),
        &work.join("..").join("node"),
    ));
    assert!(m.contains("data directory"), "{m}");
    // A name that merely starts like the data directory is elsewhere.
    let beside = data.with_file_name("node-old");
    fs::create_dir(&beside).unwrap();
    fs::write(beside.join("scan.pdf"), pdf()).unwrap();
    assert!(read_attachment(&beside.join("scan.pdf"), &data).is_ok());
}

#[test]
fn a_link_is_refused_whether_it_points_in_out_or_nowhere() {
    let (_tmp, data, work) = dirs();
    fs::write(work.join("scan.pdf"), pdf()).unwrap();
    fs::write(data.join("node.key"), b"00").unwrap();
    let link = |name: &str, to: &Path| {
        let p = work.join(name);
        std::os::unix::fs::symlink(to, &p).unwrap();
        p
    };
    let out = link("out.pdf", &work.join("scan.pdf"));
    assert!(message(read_attachment(&out, &data)).contains("a symbolic link, not a regular file"));
    let dangling = link("gone.pdf", &work.join("missing.pdf"));
    assert!(message(read_attachment(&dangling, &data)).contains("symbolic link"));
    // A link into the data directory: refused, naming the stronger reason.
    let inward = link("key.pdf", &data.join("node.key"));
    assert!(message(read_attachment(&inward, &data)).contains("data directory"));
}

#[test]
fn missing_files_and_special_files_are_refused_plainly() {
    let (_tmp, data, work) = dirs();
    let m = message(read_attachment(&work.join("nope.pdf"), &data));
    assert!(
        m.starts_with("no such file: ") && m.contains("nope.pdf"),
        "{m}"
    );
    assert!(message(read_attachment(&work, &data)).contains("a directory, not a regular file"));
    assert!(message(read_attachment(Path::new("/dev/null"), &data)).contains("a character device"));
    let sock = work.join("s.pdf");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    assert!(message(read_attachment(&sock, &data)).contains("a socket"));
}

#[test]
fn a_sparse_file_far_over_the_cap_is_refused_naming_the_limit() {
    // Reading stops one byte past the cap, which is enough to refuse.
    let (_tmp, data, work) = dirs();
    let path = work.join("huge.pdf");
    fs::write(&path, pdf()).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(4 * MAX_ATTACHMENT_BYTES)
        .unwrap();
    assert!(message(read_attachment(&path, &data)).contains("larger than the 10 MiB"));
}
