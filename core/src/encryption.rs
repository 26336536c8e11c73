//! The key a SQLite journal is encrypted with (SQLCipher): 256 random bits,
//! handed to SQLCipher as a raw key, so no passphrase stretching is needed
//! and opening stays fast. The phone keeps it in the platform's secret
//! store; the server reads it from a file its operator keeps.
//!
//! The key is never printed: its `Debug` shows nothing of it, and its bytes
//! are overwritten when it is dropped.

use std::fmt;

/// A 256-bit database key.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey([u8; DatabaseKey::LEN]);

/// Why text is not a database key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a database key is 64 hexadecimal characters (256 bits), e.g. from `openssl rand -hex 32`")]
pub struct NotAKey;

impl DatabaseKey {
    /// Bytes in a key.
    pub const LEN: usize = 32;

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// A new random key from the operating system's generator.
    #[cfg(feature = "device")]
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; Self::LEN];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Reads a key written as 64 hexadecimal characters (surrounding
    /// whitespace, such as a key file's last line break, is ignored).
    pub fn from_hex(text: &str) -> Result<Self, NotAKey> {
        let text = text.trim().as_bytes();
        if text.len() != Self::LEN * 2 {
            return Err(NotAKey);
        }
        let mut bytes = [0u8; Self::LEN];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digit = |c: u8| (c as char).to_digit(16).ok_or(NotAKey);
            // Two hexadecimal digits always fit a byte.
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| NotAKey)?;
        }
        Ok(Self(bytes))
    }

    /// The key as 64 lower-case hexadecimal characters (how it is kept in
    /// a secret store or a key file).
    pub fn to_hex(&self) -> String {
        use std::fmt::Write;
        self.0.iter().fold(String::with_capacity(64), |mut out, b| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
    }

    /// The SQL that keys a connection (or, with `schema`, an attached
    /// database): `PRAGMA key = "x'…'"`, a raw key. Run it before anything
    /// else on the connection.
    pub fn pragma(&self) -> String {
        format!("PRAGMA key = \"x'{}'\";", self.to_hex())
    }

    /// The `KEY` clause of an `ATTACH DATABASE` with this key.
    pub fn attach_clause(&self) -> String {
        format!("KEY \"x'{}'\"", self.to_hex())
    }
}

impl fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

impl Drop for DatabaseKey {
    fn drop(&mut self) {
        self.0 = [0; Self::LEN];
        // Keeps the compiler from leaving out a write nobody reads.
        std::hint::black_box(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_from_its_hex_and_never_prints() {
        let key = DatabaseKey::from_bytes([0xab; 32]);
        assert_eq!(key.to_hex(), "ab".repeat(32));
        assert_eq!(
            DatabaseKey::from_hex(&format!(" {}\n", key.to_hex())),
            Ok(key.clone())
        );
        assert_eq!(DatabaseKey::from_hex(&"AB".repeat(32)), Ok(key.clone()));
        assert_eq!(format!("{key:?}"), "DatabaseKey(…)");
        assert!(key.pragma().starts_with("PRAGMA key = \"x'abab"));
        for bad in [
            "",
            "ab",
            &"ab".repeat(33),
            &"zz".repeat(32),
            &"é".repeat(32),
        ] {
            assert_eq!(DatabaseKey::from_hex(bad), Err(NotAKey), "{bad:?}");
        }
    }

    #[cfg(feature = "device")]
    #[test]
    fn generated_keys_differ() {
        let a = DatabaseKey::generate().unwrap();
        let b = DatabaseKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.to_hex().len(), 64);
    }
}
