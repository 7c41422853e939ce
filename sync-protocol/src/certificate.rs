//! Signer certificate requests and the certificates the registration authority issues.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Address, ProtocolError, PublicKey, Timestamp};

/// The official roles (jabatan) that sign documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jabatan {
    /// Kuasa Pengguna Anggaran, who holds the budget authority.
    Kpa,
    /// Pejabat Pembuat Komitmen, who commits the spending.
    Ppk,
    /// Pejabat Penanda Tangan SPM, who signs the payment order.
    Ppspm,
    /// Bendahara Pengeluaran, the spending treasurer.
    Bendahara,
    /// Kepala Kantor or Kepala Satker, the head of the office.
    KepalaKantor,
}

impl Jabatan {
    /// Every role.
    pub const ALL: [Jabatan; 5] = [
        Jabatan::Kpa,
        Jabatan::Ppk,
        Jabatan::Ppspm,
        Jabatan::Bendahara,
        Jabatan::KepalaKantor,
    ];

    /// The CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Jabatan::Kpa => "kpa",
            Jabatan::Ppk => "ppk",
            Jabatan::Ppspm => "ppspm",
            Jabatan::Bendahara => "bendahara",
            Jabatan::KepalaKantor => "kepala-kantor",
        }
    }

    /// The title as the regulation writes it.
    pub fn title(self) -> &'static str {
        match self {
            Jabatan::Kpa => "KPA",
            Jabatan::Ppk => "PPK",
            Jabatan::Ppspm => "PPSPM",
            Jabatan::Bendahara => "Bendahara",
            Jabatan::KepalaKantor => "Kepala Kantor",
        }
    }
}

impl fmt::Display for Jabatan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Jabatan {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jabatan::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| ProtocolError::BadIdentifier {
                what: "jabatan",
                text: s.to_string(),
                why: format!(
                    "expected one of {}",
                    Jabatan::ALL.map(Jabatan::as_str).join(", ")
                ),
            })
    }
}

/// The person a certificate names, as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Full name.
    pub name: String,
    /// NIK: 16-digit national identity number.
    pub nik: String,
    /// NIP/NRP: 18-digit civil-servant number.
    pub nip: String,
    /// Official e-mail under go.id, mil.id or ac.id.
    pub email: String,
    /// Role the person signs in.
    pub jabatan: Jabatan,
    /// Work unit (unit kerja).
    pub unit: String,
    /// Institution (instansi / kementerian / lembaga).
    pub instansi: String,
}

/// E-mail domains the regulation accepts for officials.
pub const OFFICIAL_EMAIL_DOMAINS: [&str; 3] = ["go.id", "mil.id", "ac.id"];

impl Subject {
    /// Checks the registration rules of PER-10/PB/2018, naming the first field that fails.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |field: &'static str, text: &str, why: &str| ProtocolError::BadIdentifier {
            what: field,
            text: text.to_string(),
            why: why.to_string(),
        };
        if self.name.trim().is_empty() {
            return Err(bad("name", &self.name, "must not be empty"));
        }
        if self.nip.len() != 18 || !self.nip.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("NIP", &self.nip, "must be exactly 18 digits"));
        }
        if self.nik.len() != 16 || !self.nik.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("NIK", &self.nik, "must be exactly 16 digits"));
        }
        let email_ok = match self.email.rsplit_once('@') {
            Some((local, domain)) => {
                let domain = domain.to_ascii_lowercase();
                !local.is_empty()
                    && OFFICIAL_EMAIL_DOMAINS
                        .iter()
                        .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
            }
            None => false,
        };
        if !email_ok {
            return Err(bad(
                "e-mail",
                &self.email,
                "must be an official address under go.id, mil.id or ac.id",
            ));
        }
        Ok(())
    }
}

/// A request for a signer certificate, made on the satker device where the key was
/// generated. The envelope is signed by the person's new key (proof of possession).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRequest {
    /// Who is asking.
    pub subject: Subject,
    /// The satker the person serves.
    pub satker: String,
    /// The device that made the key and holds it.
    pub device: PublicKey,
    /// The person's public key (also the envelope author).
    pub key: PublicKey,
    /// When the request was made.
    pub requested_at: Timestamp,
}

/// A signer certificate, issued by the KPPN's registration authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// Serial number, unique per KPPN.
    pub serial: String,
    /// The person.
    pub subject: Subject,
    /// The satker the person signs for.
    pub satker: String,
    /// The issuing KPPN's code.
    pub kppn: String,
    /// The person's public key.
    pub key: PublicKey,
    /// The request this answers.
    pub request: Address,
    /// Start of validity.
    pub valid_from: Timestamp,
    /// End of validity.
    pub valid_until: Timestamp,
}

impl Certificate {
    /// Whether the certificate's validity period covers `at`.
    pub fn valid_at(&self, at: Timestamp) -> bool {
        self.valid_from <= at && at <= self.valid_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            name: "Siti Rahma".into(),
            nik: "3171234567890123".into(),
            nip: "198001012005012001".into(),
            email: "siti@kemenkeu.go.id".into(),
            jabatan: Jabatan::Ppspm,
            unit: "Satker 123456".into(),
            instansi: "Kementerian Keuangan".into(),
        }
    }

    #[test]
    fn registration_needs_18_digit_nip_and_16_digit_nik() {
        assert!(subject().validate().is_ok());
        let mut s = subject();
        s.nip = "12345".into();
        assert!(s.validate().unwrap_err().to_string().contains("NIP"));
        let mut s = subject();
        s.nik = "31712345678901AB".into();
        assert!(s.validate().unwrap_err().to_string().contains("NIK"));
    }

    #[test]
    fn registration_needs_official_email_domain() {
        for ok in ["a@x.go.id", "b@tni.mil.id", "c@ui.ac.id", "d@go.id"] {
            let mut s = subject();
            s.email = ok.into();
            assert!(s.validate().is_ok(), "{ok}");
        }
        for bad in ["a@gmail.com", "a@notgo.id", "nobody", "@go.id"] {
            let mut s = subject();
            s.email = bad.into();
            assert!(
                s.validate().unwrap_err().to_string().contains("e-mail"),
                "{bad}"
            );
        }
    }
}
