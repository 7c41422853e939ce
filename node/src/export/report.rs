//! `report.html`: one page for people, every document with its journey, signatures and
//! verification result. Inline CSS (with a print layout), no scripts, no external
//! assets; every value is escaped, since satker devices choose most of them.

use std::fmt::Write;

use crate::clock;

/// One document as the report shows it.
pub(crate) struct Row {
    /// Document id.
    pub doc_id: String,
    /// Kind (`spm`, …).
    pub kind: String,
    /// Satker code.
    pub satker: String,
    /// Its nomor, where it has one.
    pub nomor: String,
    /// Its nilai, where it has one.
    pub nilai: String,
    /// Its state now.
    pub state: String,
    /// The folder it was written to.
    pub folder: String,
    /// Whether every item of it verifies.
    pub ok: bool,
    /// Why not, one line per failure.
    pub failures: Vec<String>,
    /// Its journey: state, local time, reason.
    pub journey: Vec<(String, String, Option<String>)>,
    /// Its signatures: name, jabatan, serial, local time, place.
    pub signers: Vec<[String; 5]>,
    /// Its attachments: name, size, SHA-256.
    pub attachments: Vec<(String, u64, String)>,
}

/// What the page says about the whole export.
pub(crate) struct Header {
    /// The exporting node.
    pub node_id: String,
    /// Its role.
    pub role: String,
    /// When.
    pub exported_at: sync_protocol::Timestamp,
    /// The time zone times are shown in.
    pub tz: String,
    /// Items `verify` checked.
    pub checked: u64,
    /// How many failed.
    pub failures: usize,
}

/// `text` safe inside HTML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111;font-size:14px}\
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.5em 0 .3em}\
table{border-collapse:collapse;width:100%;margin:.3em 0}\
th,td{border:1px solid #bbb;padding:.2em .4em;text-align:left;vertical-align:top}\
th{background:#eee}.ok{color:#060;font-weight:bold}.bad{color:#a00;font-weight:bold}\
.doc{border-top:2px solid #444;margin-top:1.5em}code{font-size:.9em;word-break:break-all}\
@media print{body{margin:0;font-size:10pt}.doc{break-inside:avoid-page}th{background:none}\
a{color:inherit;text-decoration:none}}";

/// The whole page.
pub(crate) fn page(h: &Header, rows: &[Row]) -> String {
    let mut p = String::new();
    let verdict = |ok: bool| {
        if ok {
            "<span class=\"ok\">verifies</span>"
        } else {
            "<span class=\"bad\">FAILS</span>"
        }
    };
    let _ = write!(
        p,
        "<!DOCTYPE html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">\
<title>espm export</title><style>{STYLE}</style></head><body>\n\
<h1>espm export: {} document{}</h1>\n<p>Exported {} by node <code>{}</code> ({}). \
Times in {}. Verification: {} items checked, {} {}.</p>\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        esc(&clock::local(h.exported_at, &h.tz)),
        esc(&h.node_id),
        esc(&h.role),
        esc(&h.tz),
        h.checked,
        h.failures,
        if h.failures == 0 {
            "failures <span class=\"ok\">(all verify)</span>"
        } else {
            "<span class=\"bad\">failures</span>"
        },
    );
    p.push_str("<table><tr><th>Document</th><th>Kind</th><th>Satker</th><th>Nomor</th><th>Nilai</th><th>State</th><th>Verification</th></tr>\n");
    for r in rows {
        let _ = writeln!(
            p,
            "<tr><td><a href=\"#{f}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.doc_id),
            esc(&r.kind),
            esc(&r.satker),
            esc(&r.nomor),
            esc(&r.nilai),
            esc(&r.state),
            verdict(r.ok),
            f = esc(&r.folder),
        );
    }
    p.push_str("</table>\n");
    for r in rows {
        let _ = writeln!(
            p,
            "<div class=\"doc\" id=\"{}\"><h2>{} ({}, satker {}): {}</h2>\
<p>Folder <code>{}/</code>. Verification: {}.</p>",
            esc(&r.folder),
            esc(&r.doc_id),
            esc(&r.kind),
            esc(&r.satker),
            esc(&r.state),
            esc(&r.folder),
            verdict(r.ok),
        );
        if !r.failures.is_empty() {
            p.push_str("<ul>");
            for f in &r.failures {
                let _ = write!(p, "<li class=\"bad\">{}</li>", esc(f));
            }
            p.push_str("</ul>\n");
        }
        if !r.signers.is_empty() {
            p.push_str("<table><tr><th>Signed by</th><th>Jabatan</th><th>Certificate</th><th>At</th><th>Place</th></tr>");
            for s in &r.signers {
                p.push_str("<tr>");
                for cell in s {
                    let _ = write!(p, "<td>{}</td>", esc(cell));
                }
                p.push_str("</tr>");
            }
            p.push_str("</table>\n");
        }
        if !r.attachments.is_empty() {
            p.push_str("<table><tr><th>Attachment</th><th>Bytes</th><th>SHA-256</th></tr>");
            for (name, size, sha) in &r.attachments {
                let _ = write!(
                    p,
                    "<tr><td>{}</td><td>{size}</td><td><code>{}</code></td></tr>",
                    esc(name),
                    esc(sha)
                );
            }
            p.push_str("</table>\n");
        }
        p.push_str("<table><tr><th>State</th><th>At</th><th>Reason</th></tr>");
        for (state, at, reason) in &r.journey {
            let _ = write!(
                p,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(state),
                esc(at),
                esc(reason.as_deref().unwrap_or(""))
            );
        }
        p.push_str("</table></div>\n");
    }
    p.push_str("</body></html>\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_a_satker_chose_is_escaped_and_nothing_is_fetched() {
        let evil = "<script>alert('x')</script>\"&";
        let row = Row {
            doc_id: evil.into(),
            kind: "spm".into(),
            satker: evil.into(),
            nomor: evil.into(),
            nilai: evil.into(),
            state: "approved".into(),
            folder: evil.into(),
            ok: true,
            failures: vec![evil.into()],
            journey: vec![("draft".into(), "now".into(), Some(evil.into()))],
            signers: vec![[
                evil.into(),
                "PPSPM".into(),
                "1".into(),
                "now".into(),
                evil.into(),
            ]],
            attachments: vec![(evil.into(), 1, evil.into())],
        };
        let h = Header {
            node_id: "n".into(),
            role: "auditor".into(),
            exported_at: sync_protocol::Timestamp(0),
            tz: "Asia/Jakarta".into(),
            checked: 1,
            failures: 0,
        };
        let html = page(&h, &[row]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("'x'"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
        for external in ["src=", "http://", "https://", "<link", "@import"] {
            assert!(!html.contains(external), "{external} in {html}");
        }
        assert!(html.contains("@media print"));
    }
}
