//! Signer keys and operators on a satker device.

use serde_json::json;
use storage::{SealedKey, StreamEntry, Table};
use sync_protocol::{
    certificate::{CertRequest, Jabatan, Subject},
    stream::StreamId,
    Item, SecretKey, SignedItem,
};
use totp_rs::{Algorithm, TOTP};

use super::Output;
use crate::{
    clock,
    error::{NodeError, Result},
    ingest::certificate,
    node::Node,
    records::{CertRecord, OperatorRecord, RequestRecord},
    revocation,
};

/// The fields of `espm signer request`.
pub struct RequestArgs {
    pub name: String,
    pub nip: String,
    pub nik: String,
    pub jabatan: String,
    pub email: String,
    pub unit: Option<String>,
    pub instansi: String,
}

/// `espm signer request`
pub fn request(node: &Node, passphrase: &str, a: RequestArgs) -> Result<Output> {
    let satker = node.require_satker("signer request")?.to_string();
    let jabatan: Jabatan = a.jabatan.parse()?;
    let subject = Subject {
        name: a.name.trim().to_string(),
        nik: a.nik,
        nip: a.nip,
        email: a.email,
        jabatan,
        unit: a.unit.unwrap_or_else(|| satker.clone()),
        instansi: a.instansi,
    };
    subject
        .validate()
        .map_err(|e| NodeError::user(format!("{e}. Correct it and run the request again")))?;
    crate::node::check_new_passphrase(passphrase, "signer's")?;
    let key = SecretKey::generate();
    let sealed_key = SealedKey::seal(&zeroize::Zeroizing::new(key.to_bytes()), passphrase)?;
    let req = CertRequest {
        subject: subject.clone(),
        satker,
        device: node.node_id(),
        key: key.public(),
        requested_at: clock::now(),
    };
    let sealed = SignedItem::seal(Item::CertRequest(req.clone()), &key);
    let request_id = sealed.address.request_id();
    node.store.write(|t| {
        t.put_item(&sealed.bytes)?;
        let me = node.node_id();
        t.append(
            &StreamId::Origin(me),
            StreamEntry {
                address: sealed.address,
                origin: Some(me),
            },
        )?;
        let rec = RequestRecord {
            address: sealed.address,
            name: subject.name.clone(),
            jabatan,
            satker: req.satker.clone(),
            serial: None,
        };
        t.put(Table::Request, &request_id, &rec);
        t.put(Table::Key, &request_id, &sealed_key);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "request_id": request_id }),
        format!(
            "Made a signing key for {} ({}) on this device and queued certificate request {request_id}.\n\
             Run `espm sync`; once the KPPN approves it, `espm signers` shows the certificate.",
            subject.name,
            jabatan.title()
        ),
    ))
}

/// `espm signers`
pub fn list(node: &Node) -> Result<Output> {
    let now = clock::now();
    let mut rows = Vec::new();
    for (serial, rec) in node.store.list::<CertRecord>(Table::Cert, "")? {
        if node
            .store
            .get::<SealedKey>(Table::Key, &rec.request_id)?
            .is_none()
        {
            continue;
        }
        if let Some(c) = certificate(node, &serial)? {
            let status = if revocation::of_certificate(&node.store, &serial)?.is_some() {
                "revoked"
            } else if c.valid_at(now) {
                "valid"
            } else {
                "expired"
            };
            rows.push((serial, c.subject.name, c.subject.jabatan, status));
        }
    }
    let json: Vec<_> = rows
        .iter()
        .map(|(s, n, j, st)| json!({ "serial": s, "name": n, "jabatan": j.as_str(), "status": st }))
        .collect();
    let mut text = String::new();
    if rows.is_empty() {
        let pending = node
            .store
            .list::<RequestRecord>(Table::Request, "")?
            .into_iter()
            .filter(|(_, r)| r.serial.is_none())
            .count();
        text.push_str("No certificates on this device yet.");
        if pending > 0 {
            text.push_str(&format!(
                " {pending} request(s) wait for the KPPN; run `espm sync` after approval."
            ));
        }
    } else {
        text.push_str(&format!(
            "{:<16} {:<28} {:<14} {}\n",
            "SERIAL", "NAME", "JABATAN", "STATUS"
        ));
        for (s, n, j, st) in &rows {
            text.push_str(&format!("{:<16} {:<28} {:<14} {}\n", s, n, j.title(), st));
        }
    }
    Ok(Output::new(json.into(), text.trim_end()))
}

/// The TOTP of an operator: RFC 6238, SHA-1, 6 digits, 30 s, one step of drift allowed.
pub fn totp_for(op: &OperatorRecord, satker: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        op.totp_secret.clone(),
        Some(format!("espm satker {satker}")),
        op.username.clone(),
    )
    .map_err(|e| {
        NodeError::user(format!(
            "operator {}'s token cannot be built: {e}",
            op.username
        ))
    })
}

/// The time step (RFC 6238 counter) of `code` at `unix_secs`: the current step or, to
/// bear with an authenticator whose clock is off, one of the `skew` steps on either side.
/// `None` if the code belongs to none of them.
pub fn matching_step(totp: &TOTP, code: &str, unix_secs: u64) -> Option<u64> {
    let now = unix_secs / totp.step;
    let skew = u64::from(totp.skew);
    // The current step first: with one step of drift either side, a code could in
    // principle match two steps, and the current one is the honest reading.
    let mut steps = vec![now];
    for d in 1..=skew {
        steps.extend(now.checked_sub(d));
        steps.extend(now.checked_add(d));
    }
    steps.into_iter().find(|s| {
        s.checked_mul(totp.step)
            .is_some_and(|t| same_code(&totp.generate(t), code))
    })
}

/// Compares codes without stopping at the first wrong digit, so timing does not tell a
/// guesser how many leading digits were right.
fn same_code(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The URI as a QR code drawn with half blocks, two modules per character row, with
/// the quiet zone scanners need. Colours are swapped because terminals draw glyphs
/// light on dark: a dark module is left as background. An URI too long for a QR code
/// gets a note instead.
fn terminal_qr(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e})"),
    }
}

/// `espm operator add`
pub fn add_operator(node: &Node, username: &str, role: &str) -> Result<Output> {
    let satker = node.require_satker("operator add")?.to_string();
    if username.chars().count() < 8 || !username.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(NodeError::user(format!(
            "username '{username}' must be at least 8 letters or digits"
        )));
    }
    if role != "operator-satker" && role != "operator-bendahara" {
        return Err(NodeError::user(format!(
            "role '{role}' must be operator-satker or operator-bendahara"
        )));
    }
    if node
        .store
        .get::<OperatorRecord>(Table::Operator, username)?
        .is_some()
    {
        return Err(NodeError::user(format!(
            "operator {username} already exists"
        )));
    }
    let mut secret = vec![0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let rec = OperatorRecord {
        username: username.to_string(),
        role: role.to_string(),
        totp_secret: secret,
        last_step: None,
    };
    let uri = totp_for(&rec, &satker)?.get_url();
    node.store.write(|t| {
        t.put(Table::Operator, username, &rec);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Output::new(
        json!({ "username": username, "otpauth_uri": uri }),
        format!(
            "Created operator {username} ({role}).\nScan this with the operator's authenticator app, or enter the URI by hand:\n{}\n{uri}",
            terminal_qr(&uri)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator() -> OperatorRecord {
        OperatorRecord {
            username: "operator01".into(),
            role: "operator-satker".into(),
            totp_secret: b"12345678901234567890".to_vec(),
            last_step: None,
        }
    }

    #[test]
    fn a_code_one_step_off_is_accepted_and_two_steps_off_is_not() {
        let totp = totp_for(&operator(), "123456").unwrap();
        // Mid-step, so the result cannot depend on rounding at a step boundary.
        let now = 1_790_000_015;
        let step = now / 30;
        let code_of = |s: u64| totp.generate(s * 30);
        assert_eq!(matching_step(&totp, &code_of(step), now), Some(step));
        assert_eq!(
            matching_step(&totp, &code_of(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&totp, &code_of(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(matching_step(&totp, &code_of(step - 2), now), None);
        assert_eq!(matching_step(&totp, &code_of(step + 2), now), None);
        assert_eq!(matching_step(&totp, &code_of(step)[..5], now), None);
        assert_eq!(matching_step(&totp, "", now), None);
    }

    #[test]
    fn a_code_at_either_end_of_time_is_checked_without_overflow() {
        let totp = totp_for(&operator(), "123456").unwrap();
        assert_eq!(matching_step(&totp, &totp.generate(0), 0), Some(0));
        assert_eq!(matching_step(&totp, "000000", u64::MAX), None);
    }

    #[test]
    fn the_otpauth_uri_is_drawn_as_a_square_qr_code() {
        let uri = "otpauth://totp/espm:operator-satker%3Abudi?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=espm&algorithm=SHA1&digits=6&period=30";
        let qr = terminal_qr(uri);
        println!("{qr}");
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // Two modules per line: the drawing is about half as tall as wide.
        assert!(lines.len() * 2 >= width && lines.len() * 2 <= width + 2);
        assert!(qr.contains('\u{2588}') || qr.contains('\u{2580}'));
    }

    #[test]
    fn a_signer_key_reaches_the_disk_only_sealed() {
        // The sealing itself is tested in storage; this is about everything else the
        // request path writes into the data directory, old log segments included.
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::NodeConfig::Satker {
            satker: "123456".into(),
            hub: "127.0.0.1:4433".into(),
            hub_id: SecretKey::generate().public(),
        };
        let node = Node::create(dir.path(), config, None).unwrap().0;
        let passphrase = "kata sandi rahasia";
        let args = RequestArgs {
            name: "Siti Rahma".into(),
            nip: "198001012005012001".into(),
            nik: "3171234567890123".into(),
            jabatan: "ppspm".into(),
            email: "siti@kemenkeu.go.id".into(),
            unit: None,
            instansi: String::new(),
        };
        let out = request(&node, passphrase, args).unwrap();
        let request_id = out.json["request_id"].as_str().unwrap();
        let sealed: SealedKey = node.store.get(Table::Key, request_id).unwrap().unwrap();
        let key = SecretKey::from_bytes(&sealed.open(passphrase).unwrap());
        let public = key.public();
        // Closed, so nothing the store still had to write is missing from the scan.
        drop(node);

        let mut on_disk = Vec::new();
        let mut dirs = vec![dir.path().to_path_buf()];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    on_disk.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        let holds = |needle: &[u8]| {
            on_disk
                .iter()
                .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
                .map(|(path, _)| path.display().to_string())
                .collect::<Vec<_>>()
        };
        // The request item carries the public key in the clear, so finding it shows the
        // scan reads what the store wrote.
        assert!(!holds(&public.0).is_empty());
        let secret = key.to_bytes();
        assert_eq!(holds(&secret), Vec::<String>::new());
        assert_eq!(holds(hex::encode(secret).as_bytes()), Vec::<String>::new());
    }
}
