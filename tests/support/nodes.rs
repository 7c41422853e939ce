//! Hub and satker nodes made ready for a test: initialized, enrolled, serving.

use super::*;

/// A hub node: its directory, its running `serve` (if any), its port and id.
pub struct Hub {
    /// Declared first so it is dropped (killed) before the directory is removed.
    pub served: Option<Served>,
    pub espm: Espm,
    pub port: u16,
    pub id: String,
    /// The IP address it listens on.
    pub ip: String,
}

impl Deref for Hub {
    type Target = Espm;
    fn deref(&self) -> &Espm {
        &self.espm
    }
}

impl Hub {
    /// `host:port` the satker nodes dial.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Starts `serve` and waits until it listens and answers on its control socket.
    pub fn start(&mut self) {
        assert!(self.served.is_none(), "hub already running");
        let mut served = Served::spawn(&self.espm);
        let deadline = Instant::now() + STARTUP_LIMIT;
        // 1. The QUIC endpoint is bound.
        let proc_net = match self.espm.netns() {
            None => PathBuf::from("/proc/net"),
            Some(_) => PathBuf::from(format!("/proc/{}/net", served.pid())),
        };
        loop {
            served.assert_alive();
            match udp_port_bound_in(&proc_net, self.port) {
                Some(true) | None => break,
                Some(false) => {}
            }
            assert!(
                Instant::now() < deadline,
                "hub did not bind UDP port {} within {STARTUP_LIMIT:?}; log:\n{}",
                self.port,
                served.log()
            );
            thread::sleep(Duration::from_millis(25));
        }
        // 2. Commands on its data directory answer (through the control socket) and
        //    still report this hub.
        loop {
            served.assert_alive();
            let out = self.espm.run(&["id"]);
            if out.status.success() {
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                    panic!("{}", describe(&format!("hub id: not JSON ({e})"), &out))
                });
                assert_eq!(
                    str_of(&v, "node_id"),
                    self.id,
                    "hub id changed across serve"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}\nserve log:\n{}",
                describe("hub `id` never succeeded after starting serve", &out),
                served.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        // 3. A command that needs the store (held by serve) goes through.
        loop {
            served.assert_alive();
            let out = self.espm.run(&["certs", "requests"]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}\nserve log:\n{}",
                describe(
                    "hub `certs requests` never succeeded after starting serve",
                    &out
                ),
                served.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        // A little slack for whatever the node sets up after the control socket.
        thread::sleep(Duration::from_millis(300));
        served.assert_alive();
        self.served = Some(served);
    }

    /// Kills `serve` (as a crash or power cut would).
    pub fn stop(&mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
    }

    /// Kills `serve` and starts it again on the same directory and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }
}

/// Initializes a hub on a free port (quota large enough that `take` works at any hour)
/// without starting it.
pub fn init_hub() -> Hub {
    init_hub_on("127.0.0.1")
}

/// [`init_hub`] listening on `ip` instead of loopback. The port is one free here, which
/// is also free in a fresh network namespace.
pub fn init_hub_on(ip: &str) -> Hub {
    init_hub_with(ip, &[])
}

/// [`init_hub_on`] with more `init hub` options, e.g. `--attachment-expiry 8s`.
pub fn init_hub_with(ip: &str, extra: &[&str]) -> Hub {
    let mut espm = Espm::new("hub");
    espm.set_default_passphrase(CSO_PASSPHRASE);
    let port = free_udp_port();
    let listen = format!("{ip}:{port}");
    let v = espm.ok(&[
        "init",
        "hub",
        "--kppn",
        KPPN_CODE,
        "--name",
        "KPPN Kotabumi",
        "--tz",
        "Asia/Jakarta",
        "--listen",
        &listen,
        "--after-hours-quota",
        "1000",
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .collect::<Vec<_>>());
    let id = str_of(&v, "node_id");
    assert_node_id(&id);
    let who = espm.ok(&["id"]);
    assert_eq!(
        str_of(&who, "node_id"),
        id,
        "`id` disagrees with `init hub`"
    );
    assert_eq!(str_of(&who, "role"), "hub");
    Hub {
        served: None,
        espm,
        port,
        id,
        ip: ip.to_string(),
    }
}

/// A hub, initialized and serving.
pub fn start_hub() -> Hub {
    let mut hub = init_hub();
    hub.start();
    hub
}

/// A satker node and its id.
pub struct Satker {
    pub espm: Espm,
    pub node_id: String,
    /// The hub it was enrolled at, so its helpers can have operators approved there.
    pub hub: std::sync::OnceLock<Espm>,
    /// Its satker code, when not [`SATKER_CODE`].
    pub code: std::sync::OnceLock<String>,
}

impl Deref for Satker {
    type Target = Espm;
    fn deref(&self) -> &Espm {
        &self.espm
    }
}

/// Initializes a satker node pinned to `hub_addr` / `hub_id`, not enrolled anywhere.
pub fn init_satker(hub_addr: &str, hub_id: &str) -> Satker {
    let espm = Espm::new("satker");
    let v = espm.ok(&[
        "init",
        "satker",
        "--satker",
        SATKER_CODE,
        "--hub",
        hub_addr,
        "--hub-id",
        hub_id,
    ]);
    let node_id = str_of(&v, "node_id");
    assert_node_id(&node_id);
    assert_ne!(node_id, hub_id, "satker got the hub's id");
    Satker::new(espm, node_id)
}

/// Enrolls `satker` on `hub` and checks the answer.
pub fn enroll(hub: &Hub, satker: &Satker) {
    let v = hub.ok(&["enroll", &satker.node_id, "--satker", SATKER_CODE]);
    assert_eq!(str_of(&v, "node_id"), satker.node_id);
    assert_eq!(str_of(&v, "satker"), SATKER_CODE);
    satker.enrolled_at(hub);
}

/// A satker node pinned to `hub` and enrolled there.
pub fn satker(hub: &Hub) -> Satker {
    let s = init_satker(&hub.addr(), &hub.id);
    enroll(hub, &s);
    s
}

impl Satker {
    /// A node of `espm` with id `node_id`, not yet known to be enrolled anywhere.
    pub fn new(espm: Espm, node_id: String) -> Satker {
        Satker {
            espm,
            node_id,
            hub: std::sync::OnceLock::new(),
            code: std::sync::OnceLock::new(),
        }
    }

    /// Its satker code.
    pub fn code(&self) -> &str {
        self.code.get().map(String::as_str).unwrap_or(SATKER_CODE)
    }

    /// Remembers `hub` as the hub this node is enrolled at.
    pub fn enrolled_at(&self, hub: &Hub) {
        // Enrolling twice at one hub changes nothing; the first is kept.
        let _ = self.hub.set(hub.espm.clone());
    }

    /// The hub this node is enrolled at.
    pub fn hub(&self) -> &Espm {
        self.hub
            .get()
            .expect("this satker was never enrolled through the test helpers")
    }

    /// One `sync --timeout 20` that must succeed. Right after a hub (re)start the
    /// endpoint may still be settling, so "cannot reach" is retried for a few seconds;
    /// any other failure fails at once.
    pub fn sync(&self) -> Value {
        let args = ["sync", "--timeout", SYNC_TIMEOUT];
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && stderr.contains("cannot reach") && Instant::now() < deadline
            {
                thread::sleep(Duration::from_millis(200));
                continue;
            }
            assert!(
                out.status.success(),
                "{}",
                describe("[satker] espm --json sync failed", &out)
            );
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{}",
                    describe(&format!("sync: not one JSON document ({e})"), &out)
                )
            });
            for key in [
                "sent_items",
                "received_items",
                "sent_bytes",
                "received_bytes",
            ] {
                assert!(v[key].is_u64(), "sync output lacks a count `{key}`: {v}");
            }
            return v;
        }
    }

    /// `signer request` for `person`; returns the request id.
    pub fn request_signer(&self, person: &Person) -> String {
        let v = self.ok_with(
            &[
                "signer",
                "request",
                "--name",
                person.name,
                "--nip",
                person.nip,
                "--nik",
                person.nik,
                "--jabatan",
                person.jabatan,
                "--email",
                person.email,
            ],
            Some(PASSPHRASE),
        );
        id_of(&v, "request_id")
    }

    /// `signers`, as (jabatan → (serial, name, status)).
    pub fn signers(&self) -> BTreeMap<String, (String, String, String)> {
        let v = self.ok(&["signers"]);
        let list = v
            .as_array()
            .unwrap_or_else(|| panic!("`signers` is not a list: {v}"));
        list.iter()
            .map(|s| {
                (
                    str_of(s, "jabatan"),
                    (id_of(s, "serial"), str_of(s, "name"), str_of(s, "status")),
                )
            })
            .collect()
    }

    /// `status DOC_ID`, checked for shape.
    pub fn status(&self, doc_id: &str) -> Value {
        let v = self.ok(&["status", doc_id]);
        assert_eq!(
            id_of(&v, "doc_id"),
            doc_id,
            "status of another document: {v}"
        );
        v
    }

    /// The state `status DOC_ID` reports.
    pub fn state(&self, doc_id: &str) -> String {
        str_of(&self.status(doc_id), "state")
    }

    /// `draft new spm` with every field an SPM needs ([`spm_fields`]), numbered
    /// `nomor` and worth `nilai`; returns the doc id.
    pub fn new_spm(&self, nomor: &str, nilai: &str) -> String {
        let sets: Vec<String> = spm_fields(nomor, nilai)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut args = vec!["draft", "new", "spm"];
        for s in &sets {
            args.extend(["--set", s.as_str()]);
        }
        let v = self.ok(&args);
        id_of(&v, "doc_id")
    }

    /// `sign DOC_ID --signer SERIAL` with the right passphrase; checks the answer.
    pub fn sign(&self, doc_id: &str, serial: &str) {
        let v = self.ok_with(&["sign", doc_id, "--signer", serial], Some(PASSPHRASE));
        assert_eq!(id_of(&v, "doc_id"), doc_id);
        assert_eq!(id_of(&v, "serial"), serial);
    }

    /// operator01, an operator-satker, provisioned as [`Satker::add_operator_as`] does;
    /// returns the otpauth URI.
    pub fn add_operator(&self) -> String {
        self.add_operator_named(OPERATOR)
    }

    /// An operator-satker called `username`, provisioned as [`Satker::add_operator_as`]
    /// does; returns the otpauth URI.
    pub fn add_operator_named(&self, username: &str) -> String {
        self.add_operator_as(username, "operator-satker")
    }

    /// The whole provisioning of an operator: `operator add` here, sync, the CSO finds
    /// the request in `operators requests` and approves it on the hub, sync, and
    /// `operators` says active. Returns the otpauth URI.
    pub fn add_operator_as(&self, username: &str, role: &str) -> String {
        let (uri, request_id) = self.request_operator(username, role);
        let sent = self.sync();
        assert!(
            sent["sent_items"].as_u64().unwrap() >= 1,
            "the operator request was not sent: {sent}"
        );
        approve_operator(self.hub(), &request_id, username, role, self.code());
        let got = self.sync();
        assert!(
            got["received_items"].as_u64().unwrap() >= 1,
            "the operator's activation was not received: {got}"
        );
        assert_eq!(
            self.operators().get(username),
            Some(&(role.to_string(), "active".to_string())),
            "operator {username} is not active after the approval synced"
        );
        uri
    }

    /// `operator add` only: the secret is made and the request queued. Returns the
    /// otpauth URI and the request id.
    pub fn request_operator(&self, username: &str, role: &str) -> (String, String) {
        let v = self.ok(&["operator", "add", "--username", username, "--role", role]);
        assert_eq!(str_of(&v, "username"), username);
        let uri = str_of(&v, "otpauth_uri");
        assert!(
            uri.starts_with("otpauth://totp/"),
            "not an otpauth TOTP URI: {uri}"
        );
        (uri, id_of(&v, "request_id"))
    }

    /// `operators`, as (username → (role, status)).
    pub fn operators(&self) -> BTreeMap<String, (String, String)> {
        let v = self.ok(&["operators"]);
        let list = v
            .as_array()
            .unwrap_or_else(|| panic!("`operators` is not a list: {v}"));
        list.iter()
            .map(|o| {
                (
                    str_of(o, "username"),
                    (str_of(o, "role"), str_of(o, "status")),
                )
            })
            .collect()
    }

    /// `submit DOC_IDS… --operator operator01 --totp CODE` with a code not used before;
    /// returns the submission id, after checking `doc_ids`.
    pub fn submit(&self, doc_ids: &[&str], otpauth_uri: &str) -> String {
        self.submit_as(doc_ids, OPERATOR, otpauth_uri)
    }

    /// [`Satker::submit`] by `operator`, whose otpauth URI is `otpauth_uri`.
    pub fn submit_as(&self, doc_ids: &[&str], operator: &str, otpauth_uri: &str) -> String {
        let code = fresh_totp_code(otpauth_uri);
        let mut args: Vec<&str> = vec!["submit"];
        args.extend_from_slice(doc_ids);
        args.extend_from_slice(&["--operator", operator, "--totp", &code]);
        let v = self.ok(&args);
        let submission = id_of(&v, "submission_id");
        assert!(!submission.is_empty());
        let listed: Vec<String> = v["doc_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("submit: `doc_ids` is not a list: {v}"))
            .iter()
            .map(id_text)
            .collect();
        let mut want: Vec<String> = doc_ids.iter().map(|s| s.to_string()).collect();
        let mut got = listed.clone();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "submit lists other documents than submitted: {v}"
        );
        submission
    }
}

/// A complete, valid SPM field set numbered `nomor` worth `nilai` rupiah, one akun line
/// of the whole amount, as the hub's default field schemas want it; sorted by name.
pub fn spm_fields(nomor: &str, nilai: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("nomor", nomor.to_string()),
        ("tanggal", "2026-03-02".into()),
        ("jenis", "LS".into()),
        ("nilai", nilai.to_string()),
        ("akun", format!("525111:{nilai}")),
        ("uraian", "Belanja ATK kantor".into()),
        ("penerima", "CV Maju Jaya".into()),
        ("rekening", "1234567890".into()),
        ("npwp", "012345678901234".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    fields.sort();
    fields
}
