//! Signer keys on a satker device (operators: `operators.rs`).

use storage::SealedKey;
use sync_protocol::{CertRequest, Item, Jabatan, SecretKey, SignedItem, Subject};

use crate::{
    error::{NodeError, Result},
    node::Node,
    records::RequestRecord,
    trust,
    trust::certificate,
};

/// The fields of `espm signer request`.
pub struct RequestArgs {
    /// The signer's full name.
    pub name: String,
    /// NIP, the civil servant number (18 digits).
    pub nip: String,
    /// NIK, the national identity number (16 digits).
    pub nik: String,
    /// The role signed in (`kpa`, `ppk`, `ppspm`, ...).
    pub jabatan: String,
    /// The signer's e-mail.
    pub email: String,
    /// The unit within the satker, if any.
    pub unit: Option<String>,
    /// The ministry or agency (instansi).
    pub instansi: String,
}

/// A signing key made here and its certificate request queued for the KPPN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    /// The request id the CSO approves.
    pub request_id: String,
    /// The requester.
    pub name: String,
    /// The role asked for.
    pub jabatan: Jabatan,
}

/// A certificate usable on this device, and whether it signs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerRow {
    /// Serial.
    pub serial: String,
    /// The signer's name.
    pub name: String,
    /// The role.
    pub jabatan: Jabatan,
    /// `valid`, `revoked` or `expired`.
    pub status: &'static str,
}

/// The certificates usable on this device, and how many requests still wait.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signers {
    /// Usable certificates.
    pub rows: Vec<SignerRow>,
    /// Requests the KPPN has not answered yet.
    pub pending: usize,
}

/// `espm signer request`
pub fn request(node: &Node, passphrase: &str, a: RequestArgs) -> Result<Requested> {
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
    if let Some(id) = trust::pending_request(&node.store, &satker, &subject.nip, jabatan)? {
        return Err(NodeError::user(format!(
            "NIP {} already has a certificate request {id} as {} waiting for the KPPN; once the CSO approves it, `espm sync` brings the certificate. Nothing was requested",
            subject.nip,
            jabatan.title()
        )));
    }
    crate::node::check_new_passphrase(passphrase, "signer's")?;
    let key = SecretKey::generate();
    let sealed_key = SealedKey::seal(&zeroize::Zeroizing::new(key.to_bytes()), passphrase)?;
    let req = CertRequest {
        subject: subject.clone(),
        satker,
        device: node.node_id(),
        key: key.public(),
        requested_at: node.now(),
    };
    let sealed = SignedItem::seal(Item::CertRequest(req.clone()), &key);
    let request_id = sealed.address.request_id();
    node.store.write(|t| {
        crate::satker::compose::queue_own(t, node.node_id(), &sealed)?;
        let rec = RequestRecord {
            address: sealed.address,
            name: subject.name.clone(),
            jabatan,
            satker: req.satker.clone(),
            serial: None,
        };
        crate::schema::REQUESTS.put(t, &request_id, &rec);
        crate::schema::KEYS.put(t, &request_id, &sealed_key);
        Ok(())
    })?;
    node.store.flush()?;
    Ok(Requested {
        request_id,
        name: subject.name,
        jabatan,
    })
}

/// `espm signers`
pub fn list(node: &Node) -> Result<Signers> {
    let now = node.now();
    let mut rows = Vec::new();
    for (serial, rec) in crate::schema::CERTS.list(&node.store, "")? {
        if crate::schema::KEYS
            .get(&node.store, &rec.request_id)?
            .is_none()
        {
            continue;
        }
        if let Some(c) = certificate(node, &serial)? {
            let status = if trust::of_certificate(&node.store, &serial)?.is_some() {
                "revoked"
            } else if c.valid_at(now) {
                "valid"
            } else {
                "expired"
            };
            rows.push(SignerRow {
                serial,
                name: c.subject.name,
                jabatan: c.subject.jabatan,
                status,
            });
        }
    }
    let pending = crate::schema::REQUESTS
        .list(&node.store, "")?
        .into_iter()
        .filter(|(_, r)| r.serial.is_none())
        .count();
    Ok(Signers { rows, pending })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let request_id = out.request_id.as_str();
        let sealed: SealedKey = crate::schema::KEYS
            .get(&node.store, request_id)
            .unwrap()
            .unwrap();
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

    fn args(jabatan: &str) -> RequestArgs {
        RequestArgs {
            name: "Siti Rahma".into(),
            nip: "198001012005012001".into(),
            nik: "3171234567890123".into(),
            jabatan: jabatan.into(),
            email: "siti@kemenkeu.go.id".into(),
            unit: None,
            instansi: String::new(),
        }
    }

    #[test]
    fn a_second_pending_request_for_the_same_nip_and_jabatan_is_refused_on_the_device_and_at_the_hub(
    ) {
        use crate::testkit::{World, SIGNER};
        let mut w = World::new();
        let a = w.satker("123456");
        let b = w.satker("123456");
        let first = request(&a, SIGNER, args("ppspm")).unwrap();
        let err = request(&a, SIGNER, args("ppspm")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("NIP 198001012005012001 already has a certificate request {} as PPSPM waiting for the KPPN; once the CSO approves it, `espm sync` brings the certificate. Nothing was requested", first.request_id)
        );
        // Another role of the same person is another request.
        request(&a, SIGNER, args("ppk")).unwrap();

        // Device B cannot know of A's request; the hub refuses B's.
        request(&b, SIGNER, args("ppspm")).unwrap();
        w.sync(&a);
        w.sync(&b);
        let pending = crate::hub::authority::requests(&w.hub).unwrap().0;
        let ppspm: Vec<_> = pending
            .iter()
            .filter(|(_, p)| p.jabatan == Jabatan::Ppspm)
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(ppspm, vec![first.request_id.clone()]);
        let refusals = crate::schema::REFUSALS.list(&b.store, "").unwrap();
        assert!(
            refusals.iter().any(|(_, r)| r.reason
                == format!("NIP 198001012005012001 already has a pending certificate request {} as PPSPM; the KPPN's CSO approves it (`espm certs approve`) before another is made", first.request_id)),
            "{refusals:?}"
        );

        // Once approved, it is no longer pending: a new request may follow.
        crate::hub::authority::approve(&w.hub, &first.request_id, Some(crate::testkit::CSO))
            .unwrap();
        w.sync(&a);
        request(&a, SIGNER, args("ppspm")).unwrap();
    }
}
