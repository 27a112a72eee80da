//! Encryption of personal data at rest (AES-256-GCM, random 96-bit nonce stored before the
//! ciphertext) and keyed hashes (HMAC-SHA256) for looking a record up without decrypting.
//!
//! A sealed value (`seal`, format 2: a version byte, the nonce, the ciphertext) is bound by the
//! cipher's associated data to its place — table, column and the row's key — so a ciphertext
//! copied into another row, column or table does not open. Values of format 1 (no version byte,
//! no associated data) are only read to seal them anew (`open_unbound`, see `sealing`).
//!
//! One 32-byte master key comes from configuration; independent subkeys for encryption, lookup
//! and the audit chain are derived from it, so no key is used for two purposes.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{fmt, fs, io, path::Path};

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 12;
/// Nonces drawn from the system's generator at a time: an import seals two values a person, and
/// one `getrandom` call per value cost more than the encryption itself.
const NONCES_PER_DRAW: usize = 64;

thread_local! {
    /// System randomness not yet used as a nonce, and how much of it is used. Each byte is
    /// handed out once, so nonces stay as unpredictable and as unique as drawn one by one.
    static NONCE_BYTES: std::cell::RefCell<([u8; NONCE_LEN * NONCES_PER_DRAW], usize)> =
        const { std::cell::RefCell::new(([0; NONCE_LEN * NONCES_PER_DRAW], NONCE_LEN * NONCES_PER_DRAW)) };
}

/// A fresh random 96-bit nonce from the operating system's generator.
fn fresh_nonce() -> Nonce<aes_gcm::aead::consts::U12> {
    NONCE_BYTES.with_borrow_mut(|(bytes, used)| {
        if *used == bytes.len() {
            getrandom::getrandom(bytes).unwrap_or_else(|e| panic!("no system randomness: {e}"));
            *used = 0;
        }
        let nonce = *Nonce::from_slice(&bytes[*used..*used + NONCE_LEN]);
        // Wiped as it is handed out: a nonce is never in this buffer once it is in use.
        bytes[*used..*used + NONCE_LEN].fill(0);
        *used += NONCE_LEN;
        nonce
    })
}
/// The first byte of a sealed value (format 2).
const SEALED: u8 = 2;

/// Where a sealed value lives: its table, its column and its row's key (a stable natural key,
/// known before the row is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

impl<'a> Place<'a> {
    pub fn new(table: &'static str, column: &'static str, row: &'a str) -> Self {
        Self { table, column, row }
    }

    fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + self.table.len() + self.column.len() + self.row.len());
        aad.extend_from_slice(b"doudi/v2\0");
        for part in [self.table, self.column, self.row] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key must be 64 hexadecimal characters (32 bytes)")]
    Format,
    #[error("cannot read key file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot write key file {path}: {source}")]
    Write { path: String, source: io::Error },
}

#[derive(Debug, thiserror::Error)]
#[error("stored value cannot be decrypted with this key (wrong key or tampered data)")]
pub struct DecryptError;

/// The 32-byte master key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Format)?;
        bytes.try_into().map(Self).map_err(|_| KeyError::Format)
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).unwrap_or_else(|e| panic!("no system randomness: {e}"));
        Self(bytes)
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text =
            fs::read_to_string(path).map_err(|source| KeyError::Read { path: path.display().to_string(), source })?;
        Self::from_hex(&text)
    }

    /// Reads the key at `path`, or creates one there (mode 0600) if there is none: the
    /// development key of a local suite.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate();
        let write_error = |source| KeyError::Write { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(write_error)?;
        }
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(write_error)?;
        io::Write::write_all(&mut file, hex::encode(key.0).as_bytes()).map_err(write_error)?;
        Ok(key)
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("hmac takes any key length");
        mac.update(b"doudi/v1/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Encrypts, decrypts and blind-indexes personal data.
#[derive(Clone)]
pub struct PiiCipher {
    aead: Aes256Gcm,
    /// HMAC keyed once: every lookup clones this state instead of re-deriving the pads.
    index_mac: HmacSha256,
    audit_key: [u8; 32],
}

impl fmt::Debug for PiiCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PiiCipher(..)")
    }
}

impl PiiCipher {
    pub fn new(master: &MasterKey) -> Self {
        let enc = master.derive("pii-encryption");
        Self {
            aead: Aes256Gcm::new_from_slice(&enc).expect("32-byte key"),
            index_mac: <HmacSha256 as Mac>::new_from_slice(&master.derive("pii-blind-index"))
                .expect("hmac takes any key length"),
            audit_key: master.derive("audit-chain"),
        }
    }

    /// `plaintext` sealed to `place`.
    pub fn seal(&self, place: Place<'_>, plaintext: &str) -> Vec<u8> {
        self.seal_bytes(place, plaintext.as_bytes())
    }

    /// Bytes (an encoded message) sealed to `place`.
    pub fn seal_bytes(&self, place: Place<'_>, plaintext: &[u8]) -> Vec<u8> {
        let nonce = fresh_nonce();
        let aad = place.associated_data();
        let payload = aes_gcm::aead::Payload { msg: plaintext, aad: &aad };
        let ciphertext =
            self.aead.encrypt(&nonce, payload).expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// The plaintext of a value sealed to `place`; a value sealed elsewhere (copied), tampered,
    /// of another key or of format 1 does not open.
    pub fn open(&self, place: Place<'_>, stored: &[u8]) -> Result<String, DecryptError> {
        String::from_utf8(self.open_bytes(place, stored)?).map_err(|_| DecryptError)
    }

    /// The bytes of a value sealed to `place` by `seal_bytes`.
    pub fn open_bytes(&self, place: Place<'_>, stored: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let Some((&SEALED, rest)) = stored.split_first() else { return Err(DecryptError) };
        if rest.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let aad = place.associated_data();
        let payload = aes_gcm::aead::Payload { msg: ciphertext, aad: &aad };
        self.aead.decrypt(Nonce::from_slice(nonce), payload).map_err(|_| DecryptError)
    }

    /// A value of format 1 (before sealing), bound to no place: read only to seal it anew.
    pub fn open_unbound(&self, stored: &[u8]) -> Result<String, DecryptError> {
        if stored.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = stored.split_at(NONCE_LEN);
        let plaintext = self.aead.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| DecryptError)?;
        String::from_utf8(plaintext).map_err(|_| DecryptError)
    }

    /// A value of format 1, as versions before sealing wrote it (tests of the upgrade).
    pub fn encrypt_unbound(&self, plaintext: &str) -> Vec<u8> {
        let nonce = fresh_nonce();
        let ciphertext = self.aead.encrypt(&nonce, plaintext.as_bytes()).expect("in-memory encryption cannot fail");
        [nonce.as_slice(), &ciphertext].concat()
    }

    /// The keyed hash of a value in the `kind` namespace (`national_id`, `bank_account`): equal
    /// values give equal hashes, and without the key the hash reveals nothing.
    pub fn blind_index(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac = self.index_mac.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A person's key across services: the blind index of their national ID, so every service
    /// that knows a person (the registry, settlement) names them alike.
    pub fn person_key(&self, national_id: &doudi_core::NationalId) -> Vec<u8> {
        self.blind_index("national_id", national_id.expose())
    }

    /// A MAC over an audit record, chaining it to the previous one.
    pub fn audit_mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.audit_key).expect("hmac takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// SHA-256 of `data` in hex, for fingerprints of imported files.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

/// The SHA-256 of bytes fed as they are read (a file too large to hold), in hex like
/// `sha256_hex`.
#[derive(Debug, Clone, Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    pub fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }

    pub fn finish_hex(self) -> String {
        hex::encode(sha2::Digest::finalize(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let cipher = PiiCipher::new(&MasterKey::generate());
        let here = Place::new("persons", "national_id_enc", "ab01");
        let stored = cipher.seal(here, "11010519491231002X");
        assert_ne!(cipher.seal(here, "11010519491231002X"), stored, "nonces differ");
        assert_eq!(cipher.open(here, &stored).unwrap(), "11010519491231002X");
        let mut tampered = stored.clone();
        tampered[20] ^= 1;
        assert!(cipher.open(here, &tampered).is_err());
        assert!(PiiCipher::new(&MasterKey::generate()).open(here, &stored).is_err());
        // Copied to another row, column or table, it does not open.
        for elsewhere in [
            Place::new("persons", "national_id_enc", "ab02"),
            Place::new("persons", "name_enc", "ab01"),
            Place::new("settlements", "national_id_enc", "ab01"),
        ] {
            assert!(cipher.open(elsewhere, &stored).is_err(), "{elsewhere:?}");
        }
        // Format 1 opens only as unbound, and an unbound read of a sealed value fails.
        let old = cipher.encrypt_unbound("x");
        assert_eq!(cipher.open_unbound(&old).unwrap(), "x");
        assert!(cipher.open(here, &old).is_err());
        assert!(cipher.open_unbound(&stored).is_err());
        assert_eq!(cipher.blind_index("national_id", "x"), cipher.blind_index("national_id", "x"));
        assert_ne!(cipher.blind_index("national_id", "x"), cipher.blind_index("bank_account", "x"));
    }

    #[test]
    fn nonces_never_repeat_across_draws_and_threads() {
        let draw = || (0..NONCES_PER_DRAW * 3 + 5).map(|_| fresh_nonce().to_vec()).collect::<Vec<_>>();
        let other_thread = std::thread::spawn(draw);
        let mut nonces = draw();
        nonces.extend(other_thread.join().unwrap());
        let count = nonces.len();
        nonces.sort_unstable();
        nonces.dedup();
        assert_eq!(nonces.len(), count, "a nonce was handed out twice");
        assert!(nonces.iter().all(|n| n.iter().any(|&b| b != 0)), "a wiped slot was handed out");
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/dev.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.0, b.0);
        assert!(matches!(MasterKey::from_hex("abcd"), Err(KeyError::Format)));
    }
}
