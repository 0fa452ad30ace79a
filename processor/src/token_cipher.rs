//! OAuth tokens encrypted at rest: AES-256-GCM with a key from the environment
//! (`XCS_TOKEN_KEY`, 32 bytes as 64 hex digits), each value with a random nonce and bound to
//! its connection and column, stored as `xcs-enc:v1:<base64 nonce ‖ ciphertext ‖ tag>`.
//!
//! Values written before a key was configured are read as they are and encrypted on their next
//! write (every refresh rewrites both tokens), so turning encryption on needs no migration.
//! An encrypted value without the key, or with another key, is an error that says so.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use secrecy::{ExposeSecret as _, SecretString};

const PREFIX: &str = "xcs-enc:v1:";

/// Why a token could not be encrypted or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenCipherError {
    #[error("XCS_TOKEN_KEY must be 32 bytes written as 64 hex digits")]
    BadKey,
    #[error(
        "the stored Xero tokens are encrypted but no XCS_TOKEN_KEY is set; set the key they \
         were written with"
    )]
    NoKey,
    #[error(
        "the stored Xero tokens cannot be decrypted with this XCS_TOKEN_KEY (another key, or a \
         damaged value); set the key they were written with, or connect Xero again"
    )]
    Undecryptable,
    #[error("no randomness for a nonce")]
    Random,
}

/// Encrypts and decrypts stored tokens; without a key it stores them as they are.
pub struct TokenCipher {
    key: Option<LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCipher")
            .field("encrypting", &self.key.is_some())
            .finish()
    }
}

impl TokenCipher {
    /// # Errors
    /// [`TokenCipherError::BadKey`] when the key is not 64 hex digits.
    pub fn new(key: Option<&SecretString>) -> Result<Self, TokenCipherError> {
        let key = match key {
            None => None,
            Some(hex_key) => {
                let bytes = hex::decode(hex_key.expose_secret().trim())
                    .map_err(|_| TokenCipherError::BadKey)?;
                let unbound =
                    UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| TokenCipherError::BadKey)?;
                Some(LessSafeKey::new(unbound))
            }
        };
        Ok(TokenCipher {
            key,
            random: SystemRandom::new(),
        })
    }

    /// The value to store for `plain` in `slot` (connection and column).
    ///
    /// # Errors
    /// [`TokenCipherError::Random`].
    pub fn seal(&self, slot: &str, plain: &str) -> Result<String, TokenCipherError> {
        let Some(key) = &self.key else {
            return Ok(plain.to_owned());
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| TokenCipherError::Random)?;
        let mut sealed = plain.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(slot.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| TokenCipherError::Random)?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(stored)))
    }

    /// The token stored as `stored` in `slot`.
    ///
    /// # Errors
    /// [`TokenCipherError::NoKey`] or [`TokenCipherError::Undecryptable`].
    pub fn open(&self, slot: &str, stored: &str) -> Result<String, TokenCipherError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let key = self.key.as_ref().ok_or(TokenCipherError::NoKey)?;
        let mut bytes = STANDARD
            .decode(encoded)
            .map_err(|_| TokenCipherError::Undecryptable)?;
        if bytes.len() < NONCE_LEN {
            return Err(TokenCipherError::Undecryptable);
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes)
            .map_err(|_| TokenCipherError::Undecryptable)?;
        let plain = key
            .open_in_place(nonce, Aad::from(slot.as_bytes()), &mut sealed)
            .map_err(|_| TokenCipherError::Undecryptable)?;
        String::from_utf8(plain.to_vec()).map_err(|_| TokenCipherError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretString {
        hex::encode([byte; 32]).into()
    }

    #[test]
    fn a_sealed_token_opens_in_its_slot_with_its_key_only() {
        let cipher = TokenCipher::new(Some(&key(7))).unwrap();
        let stored = cipher.seal("default:refresh", "the-refresh-token").unwrap();
        assert!(stored.starts_with(PREFIX));
        assert!(!stored.contains("the-refresh-token"));
        assert_ne!(
            stored,
            cipher.seal("default:refresh", "the-refresh-token").unwrap()
        );
        assert_eq!(
            cipher.open("default:refresh", &stored).unwrap(),
            "the-refresh-token"
        );
        assert!(matches!(
            cipher.open("default:access", &stored),
            Err(TokenCipherError::Undecryptable)
        ));
        let other = TokenCipher::new(Some(&key(8))).unwrap();
        assert!(matches!(
            other.open("default:refresh", &stored),
            Err(TokenCipherError::Undecryptable)
        ));
        let none = TokenCipher::new(None).unwrap();
        assert!(matches!(
            none.open("default:refresh", &stored),
            Err(TokenCipherError::NoKey)
        ));
    }

    #[test]
    fn plaintext_is_read_as_it_is_and_stored_as_it_is_without_a_key() {
        let cipher = TokenCipher::new(Some(&key(7))).unwrap();
        assert_eq!(cipher.open("s", "legacy").unwrap(), "legacy");
        let none = TokenCipher::new(None).unwrap();
        assert_eq!(none.seal("s", "plain").unwrap(), "plain");
    }

    #[test]
    fn a_key_that_is_not_32_bytes_of_hex_is_refused() {
        for bad in ["", "abcd", &"zz".repeat(32), &"ab".repeat(31)] {
            assert!(matches!(
                TokenCipher::new(Some(&SecretString::from(bad.to_owned()))),
                Err(TokenCipherError::BadKey)
            ));
        }
    }
}
