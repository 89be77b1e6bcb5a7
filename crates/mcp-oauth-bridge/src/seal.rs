//! Sealed envelopes (DESIGN decision 3): everything the bridge hands out (access and refresh
//! tokens, codes, client registrations, consent requests) is its claims, encrypted and
//! authenticated with AES-256-GCM under a key only the bridge's replicas hold. Anyone with the key
//! set can open them, so nothing per token has to be stored or shared.
//!
//! Layout: base64url(key id (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)). The purpose (access
//! token, code, ...) is authenticated data, so an envelope made for one purpose never opens as
//! another.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::KeyError;

const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 4;
const TAG_LEN: usize = 16;

/// What an envelope is for; authenticated, never encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    AccessToken,
    RefreshToken,
    Code,
    Client,
    Consent,
}

impl Purpose {
    fn aad(self) -> &'static [u8] {
        match self {
            Self::AccessToken => b"mcp-oauth-bridge/v1/access",
            Self::RefreshToken => b"mcp-oauth-bridge/v1/refresh",
            Self::Code => b"mcp-oauth-bridge/v1/code",
            Self::Client => b"mcp-oauth-bridge/v1/client",
            Self::Consent => b"mcp-oauth-bridge/v1/consent",
        }
    }
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

impl SealingKey {
    fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::Length(bytes.len()));
        }
        let hash = digest::digest(&digest::SHA256, bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&hash.as_ref()[..KEY_ID_LEN]);
        let key =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyError::Length(bytes.len()))?;
        Ok(Self { id, key: LessSafeKey::new(key) })
    }
}

/// The current key (seals and opens) and older ones (open only), for rotation without logging
/// everyone out: add a new key in front, keep the old one until its tokens have expired.
pub struct KeySet {
    keys: Vec<SealingKey>,
    random: SystemRandom,
    ephemeral: bool,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys.len())
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Keys from text: one base64 key (32 bytes) per line or separated by commas/blanks, the
    /// current one first; `#` starts a comment.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            for word in
                line.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty())
            {
                let bytes = STANDARD
                    .decode(word)
                    .or_else(|_| URL_SAFE_NO_PAD.decode(word.trim_end_matches('=')))
                    .map_err(|_| KeyError::Encoding { index: keys.len() + 1 })?;
                keys.push(SealingKey::new(&bytes)?);
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys, random: SystemRandom::new(), ephemeral: false })
    }

    /// Keys from a file (see [`Self::from_text`]).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| KeyError::Read { path: path.to_owned(), source })?;
        Self::from_text(&text)
            .map_err(|e| KeyError::InFile { path: path.to_owned(), source: Box::new(e) })
    }

    /// A random key that lives as long as the process: tokens die with it.
    pub fn ephemeral() -> Result<Self, KeyError> {
        let random = SystemRandom::new();
        let mut bytes = [0u8; KEY_LEN];
        random.fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Self { keys: vec![SealingKey::new(&bytes)?], random, ephemeral: true })
    }

    /// A new key in the text form [`Self::from_text`] reads.
    pub fn generate_text() -> Result<String, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    /// Whether this set was made up at start (no key configured).
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// How many keys open envelopes (the current one included).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Random bytes, base64url: codes, CSRF nonces, ids.
    pub fn random_id(&self, bytes: usize) -> Result<String, KeyError> {
        let mut buffer = vec![0u8; bytes];
        self.random.fill(&mut buffer).map_err(|_| KeyError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(buffer))
    }

    /// Seals `claims` for `purpose` under the current key.
    pub fn seal<T: Serialize>(&self, purpose: Purpose, claims: &T) -> Result<String, KeyError> {
        let key = self.keys.first().ok_or(KeyError::Empty)?;
        let plaintext = serde_json::to_vec(claims).map_err(|_| KeyError::Encode)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext;
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.aad()),
                &mut body,
            )
            .map_err(|_| KeyError::Encode)?;
        out.extend_from_slice(&body);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens an envelope sealed for `purpose` by any key of the set. `None` for anything else:
    /// garbage, another purpose, an unknown key, tampering. Callers check expiry and audience.
    pub fn open<T: DeserializeOwned>(&self, purpose: Purpose, envelope: &str) -> Option<T> {
        // Tokens are short; refuse absurd sizes before decoding anything.
        if envelope.len() > 16 * 1024 {
            return None;
        }
        let mut raw = URL_SAFE_NO_PAD.decode(envelope).ok()?;
        if raw.len() < KEY_ID_LEN + NONCE_LEN + TAG_LEN {
            return None;
        }
        let key = self.keys.iter().find(|k| k.id[..] == raw[..KEY_ID_LEN])?;
        let nonce =
            Nonce::try_assume_unique_for_key(&raw[KEY_ID_LEN..KEY_ID_LEN + NONCE_LEN]).ok()?;
        let body = &mut raw[KEY_ID_LEN + NONCE_LEN..];
        let plaintext = key.key.open_in_place(nonce, Aad::from(purpose.aad()), body).ok()?;
        serde_json::from_slice(plaintext).ok()
    }
}

/// SHA-256, base64url without padding: PKCE S256 and store keys derived from secrets.
pub fn sha256_b64(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn claims() -> Claims {
        Claims { sub: "alice".into(), exp: 42 }
    }

    #[test]
    fn an_envelope_opens_only_for_its_purpose_and_key_set() {
        let keys = KeySet::ephemeral().unwrap();
        let sealed = keys.seal(Purpose::AccessToken, &claims()).unwrap();
        assert_eq!(keys.open::<Claims>(Purpose::AccessToken, &sealed), Some(claims()));
        assert_eq!(keys.open::<Claims>(Purpose::RefreshToken, &sealed), None);
        let other = KeySet::ephemeral().unwrap();
        assert_eq!(other.open::<Claims>(Purpose::AccessToken, &sealed), None);
        assert!(!sealed.contains("alice"), "claims are encrypted, not just signed");
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let keys = KeySet::ephemeral().unwrap();
        let sealed = keys.seal(Purpose::Code, &claims()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(keys.open::<Claims>(Purpose::Code, &tampered), None);
        for garbage in ["", "x", "not base64 !!", &"A".repeat(20_000)] {
            assert_eq!(keys.open::<Claims>(Purpose::Code, garbage), None);
        }
    }

    #[test]
    fn a_previous_key_still_opens_after_rotation() {
        let old = KeySet::generate_text().unwrap();
        let new = KeySet::generate_text().unwrap();
        let before = KeySet::from_text(&old).unwrap();
        let sealed = before.seal(Purpose::AccessToken, &claims()).unwrap();
        let after = KeySet::from_text(&format!("# rotated\n{new}\n{old} # previous\n")).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after.open::<Claims>(Purpose::AccessToken, &sealed), Some(claims()));
        let resealed = after.seal(Purpose::AccessToken, &claims()).unwrap();
        assert_eq!(before.open::<Claims>(Purpose::AccessToken, &resealed), None);
    }

    #[test]
    fn bad_key_text_is_a_clear_error() {
        assert!(matches!(KeySet::from_text("# nothing\n"), Err(KeyError::Empty)));
        assert!(matches!(KeySet::from_text("c2hvcnQ="), Err(KeyError::Length(5))));
        assert!(matches!(KeySet::from_text("%%%"), Err(KeyError::Encoding { index: 1 })));
    }
}
