//! Care invitation codes: made at random, read back however a patient
//! types them, and hashed only in their one normal form (the code itself
//! is never stored).

use rand::RngCore;

/// Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or
/// copied by hand are hard to get wrong.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a code (50 random bits), shown as two groups of five.
pub const CODE_LENGTH: usize = 10;
/// A new random code, `XXXXX-XXXXX` in Crockford's base32.
pub fn new_invitation_code() -> String {
    let bits = rand::rng().next_u64();
    let mut code = String::with_capacity(CODE_LENGTH + 1);
    for i in 0..CODE_LENGTH {
        if i == CODE_LENGTH / 2 {
            code.push('-');
        }
        // Five bits per symbol; the mask keeps the index below 32.
        let index = ((bits >> (5 * i)) & 0x1f) as usize;
        code.push(char::from(CODE_ALPHABET[index]));
    }
    code
}

/// A code as entered, in the one form it is hashed in: upper case, without
/// dashes or white space, and with the letters Crockford's base32 reads as
/// digits (I and L as 1, O as 0) replaced. `None` when it cannot be a code
/// at all.
pub fn normalize_code(entered: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_LENGTH);
    for c in entered.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        if !c.is_ascii() || !CODE_ALPHABET.contains(&(c as u8)) || code.len() == CODE_LENGTH {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_LENGTH).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_two_groups_of_five_crockford_symbols() {
        for _ in 0..200 {
            let code = new_invitation_code();
            assert_eq!(code.len(), CODE_LENGTH + 1);
            assert_eq!(code.chars().nth(5), Some('-'));
            assert!(
                code.chars()
                    .filter(|&c| c != '-')
                    .all(|c| CODE_ALPHABET.contains(&(c as u8))),
                "{code}"
            );
            assert_eq!(normalize_code(&code).map(|c| c.len()), Some(CODE_LENGTH));
        }
        assert_ne!(new_invitation_code(), new_invitation_code());
    }

    #[test]
    fn entered_codes_are_normalised() {
        let canonical = Some("7QK2M9XHDA".to_owned());
        assert_eq!(normalize_code("7QK2M-9XHDA"), canonical);
        assert_eq!(normalize_code("7qk2m9xhda"), canonical);
        assert_eq!(normalize_code(" 7qk2m - 9xhda\t"), canonical);
        assert_eq!(normalize_code("1O1L1-I0000"), Some("1011110000".to_owned()));
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for bad in [
            "",
            "7QK2M",
            "7QK2M-9XHDA0",
            "7QK2M-9XHDU",
            "7QK2M-9XHD!",
            "7QK2M-9XHDÄ",
        ] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
    }
}
