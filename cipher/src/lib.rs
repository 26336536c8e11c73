//! The cryptography under every SQLite database the journal encrypts.
//!
//! SQLCipher encrypts each page with AES-256-CBC under a fresh random IV and
//! authenticates it with an HMAC; it reaches that cryptography through a
//! *provider*, a table of C functions chosen when SQLite is compiled. This
//! crate is that provider, written with RustCrypto's crates instead of
//! OpenSSL's libcrypto: the same algorithms, so the files are SQLCipher 4
//! files any SQLCipher opens (the tests open files written by the OpenSSL
//! build), at a fraction of the size in the phone's library.
//!
//! The workspace compiles SQLite with `SQLCIPHER_CRYPTO_CUSTOM` naming
//! [`journal_sqlcipher_provider`] (`LIBSQLITE3_FLAGS` in
//! `.cargo/config.toml`). Every program that opens an encrypted database
//! calls [`link`] first, which keeps the provider in the link and tells
//! which provider SQLCipher will use.

use std::ffi::{CStr, c_char, c_int, c_uchar, c_void};

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use hmac::{Hmac, Mac};

/// The name SQLCipher reports for this provider (`PRAGMA cipher_provider`).
pub const PROVIDER_NAME: &str = "journal-rustcrypto";

const PROVIDER_NAME_C: &CStr = c"journal-rustcrypto";
const PROVIDER_VERSION_C: &CStr = c"RustCrypto aes 0.8, cbc 0.1, hmac 0.12, sha2 0.10, pbkdf2 0.12";
const CIPHER_NAME_C: &CStr = c"aes-256-cbc";

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;

const MODE_ENCRYPT: c_int = 1;
const MODE_DECRYPT: c_int = 0;

const HMAC_SHA1: c_int = 0;
const HMAC_SHA256: c_int = 1;
const HMAC_SHA512: c_int = 2;

const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const BLOCK_LEN: usize = 16;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// SQLCipher's provider table (`struct sqlcipher_provider` in SQLCipher
/// 4.x): the functions it calls for randomness, HMAC, key derivation and
/// the page cipher, in the order SQLCipher declares them.
#[repr(C)]
pub struct SqlcipherProvider {
    init: Option<unsafe extern "C" fn() -> c_int>,
    shutdown: Option<unsafe extern "C" fn()>,
    get_provider_name: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    add_random: Option<unsafe extern "C" fn(*mut c_void, *const c_void, c_int) -> c_int>,
    random: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int>,
    hmac: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_uchar,
            c_int,
            *const c_uchar,
            c_int,
            *const c_uchar,
            c_int,
            *mut c_uchar,
        ) -> c_int,
    >,
    kdf: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_uchar,
            c_int,
            *const c_uchar,
            c_int,
            c_int,
            c_int,
            *mut c_uchar,
        ) -> c_int,
    >,
    cipher: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_uchar,
            c_int,
            *const c_uchar,
            *const c_uchar,
            c_int,
            *mut c_uchar,
        ) -> c_int,
    >,
    get_cipher: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    get_key_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_iv_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_block_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_hmac_sz: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    ctx_init: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    ctx_free: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    fips_status: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_provider_version: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    next: *mut SqlcipherProvider,
}

/// Fills SQLCipher's provider table with this crate's functions. SQLCipher
/// calls it once, when it first initialises, because the workspace compiles
/// it with `SQLCIPHER_CRYPTO_CUSTOM=journal_sqlcipher_provider`.
///
/// # Safety
/// `provider` is null or points to a writable `sqlcipher_provider`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn journal_sqlcipher_provider(provider: *mut SqlcipherProvider) -> c_int {
    // SAFETY: SQLCipher hands a table it allocated for this call.
    let Some(p) = (unsafe { provider.as_mut() }) else {
        return SQLITE_ERROR;
    };
    p.init = None;
    p.shutdown = None;
    p.get_provider_name = Some(provider_name);
    p.add_random = Some(add_random);
    p.random = Some(random);
    p.hmac = Some(hmac);
    p.kdf = Some(kdf);
    p.cipher = Some(cipher);
    p.get_cipher = Some(cipher_name);
    p.get_key_sz = Some(key_size);
    p.get_iv_sz = Some(iv_size);
    p.get_block_sz = Some(block_size);
    p.get_hmac_sz = Some(hmac_size);
    p.ctx_init = Some(context_init);
    p.ctx_free = Some(context_free);
    p.fips_status = Some(fips_status);
    p.get_provider_version = Some(provider_version);
    SQLITE_OK
}

/// Keeps the provider in the program being linked and names it.
///
/// SQLite refers to [`journal_sqlcipher_provider`] by name, and a linker
/// only takes what something it has already seen refers to: calling this
/// from the code that opens databases is that reference. It returns
/// [`PROVIDER_NAME`], which `PRAGMA cipher_provider` then reports.
pub fn link() -> &'static str {
    std::hint::black_box(journal_sqlcipher_provider as *const ());
    PROVIDER_NAME
}

/// A byte slice from SQLCipher's pointer and length; `None` for a negative
/// length or a null pointer with a non-zero length.
///
/// # Safety
/// A non-null `ptr` points to `len` readable bytes that outlive the slice.
unsafe fn bytes<'a>(ptr: *const c_uchar, len: c_int) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's promise above.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

unsafe extern "C" fn provider_name(_ctx: *mut c_void) -> *const c_char {
    PROVIDER_NAME_C.as_ptr()
}

unsafe extern "C" fn provider_version(_ctx: *mut c_void) -> *const c_char {
    PROVIDER_VERSION_C.as_ptr()
}

unsafe extern "C" fn cipher_name(_ctx: *mut c_void) -> *const c_char {
    CIPHER_NAME_C.as_ptr()
}

/// Entropy offered by the application (`PRAGMA cipher_add_random`). The
/// operating system's generator needs none, so it is accepted and unused.
unsafe extern "C" fn add_random(_ctx: *mut c_void, _buffer: *const c_void, _len: c_int) -> c_int {
    SQLITE_OK
}

/// Random bytes (page IVs, salts) from the operating system's generator.
unsafe extern "C" fn random(_ctx: *mut c_void, buffer: *mut c_void, len: c_int) -> c_int {
    let Ok(len) = usize::try_from(len) else {
        return SQLITE_ERROR;
    };
    if len == 0 {
        return SQLITE_OK;
    }
    if buffer.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher passes a writable buffer of `len` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buffer.cast::<u8>(), len) };
    match getrandom::fill(out) {
        Ok(()) => SQLITE_OK,
        Err(_) => SQLITE_ERROR,
    }
}

fn mac_into<M: Mac + hmac::digest::KeyInit>(
    key: &[u8],
    parts: [&[u8]; 2],
    out: *mut c_uchar,
) -> c_int {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return SQLITE_ERROR;
    };
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    // SAFETY: SQLCipher's output buffer holds `get_hmac_sz` bytes for this
    // algorithm, which is the tag's length.
    unsafe { std::ptr::copy_nonoverlapping(tag.as_ptr(), out, tag.len()) };
    SQLITE_OK
}

/// HMAC over `in` followed by `in2` (the page and its number).
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn hmac(
    _ctx: *mut c_void,
    algorithm: c_int,
    key: *const c_uchar,
    key_len: c_int,
    input: *const c_uchar,
    input_len: c_int,
    input2: *const c_uchar,
    input2_len: c_int,
    out: *mut c_uchar,
) -> c_int {
    if input.is_null() || out.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher's buffers, with their lengths.
    let (Some(key), Some(first), Some(second)) = (
        unsafe { bytes(key, key_len) },
        unsafe { bytes(input, input_len) },
        unsafe {
            if input2.is_null() {
                Some(&[][..])
            } else {
                bytes(input2, input2_len)
            }
        },
    ) else {
        return SQLITE_ERROR;
    };
    match algorithm {
        HMAC_SHA1 => mac_into::<Hmac<sha1::Sha1>>(key, [first, second], out),
        HMAC_SHA256 => mac_into::<Hmac<sha2::Sha256>>(key, [first, second], out),
        HMAC_SHA512 => mac_into::<Hmac<sha2::Sha512>>(key, [first, second], out),
        _ => SQLITE_ERROR,
    }
}

/// PBKDF2 with the given HMAC, for passphrase keys (raw keys skip it).
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn kdf(
    _ctx: *mut c_void,
    algorithm: c_int,
    pass: *const c_uchar,
    pass_len: c_int,
    salt: *const c_uchar,
    salt_len: c_int,
    rounds: c_int,
    key_len: c_int,
    key: *mut c_uchar,
) -> c_int {
    let (Ok(rounds), Ok(key_len)) = (u32::try_from(rounds), usize::try_from(key_len)) else {
        return SQLITE_ERROR;
    };
    if rounds == 0 || key.is_null() {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher's buffers, with their lengths.
    let (Some(pass), Some(salt)) = (unsafe { bytes(pass, pass_len) }, unsafe {
        bytes(salt, salt_len)
    }) else {
        return SQLITE_ERROR;
    };
    // SAFETY: SQLCipher's output buffer holds `key_len` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(key, key_len) };
    let derived = match algorithm {
        HMAC_SHA1 => pbkdf2::pbkdf2::<Hmac<sha1::Sha1>>(pass, salt, rounds, out),
        HMAC_SHA256 => pbkdf2::pbkdf2::<Hmac<sha2::Sha256>>(pass, salt, rounds, out),
        HMAC_SHA512 => pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(pass, salt, rounds, out),
        _ => return SQLITE_ERROR,
    };
    match derived {
        Ok(()) => SQLITE_OK,
        Err(_) => SQLITE_ERROR,
    }
}

/// AES-256-CBC without padding over whole blocks: a page's bytes before its
/// reserved tail (IV and HMAC).
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn cipher(
    _ctx: *mut c_void,
    mode: c_int,
    key: *const c_uchar,
    key_len: c_int,
    iv: *const c_uchar,
    input: *const c_uchar,
    input_len: c_int,
    out: *mut c_uchar,
) -> c_int {
    let Ok(len) = usize::try_from(input_len) else {
        return SQLITE_ERROR;
    };
    if key.is_null() || iv.is_null() || input.is_null() || out.is_null() || len % BLOCK_LEN != 0 {
        return SQLITE_ERROR;
    }
    // SAFETY: SQLCipher's key and IV buffers hold the sizes this provider
    // reports (`get_key_sz`, `get_iv_sz`); its input and output buffers hold
    // `len` bytes each and may be the same buffer, which `copy` allows.
    let (key, iv, data) = unsafe {
        let Some(key) = bytes(key, key_len) else {
            return SQLITE_ERROR;
        };
        std::ptr::copy(input, out, len);
        (
            key,
            std::slice::from_raw_parts(iv, IV_LEN),
            std::slice::from_raw_parts_mut(out, len),
        )
    };
    let done = match mode {
        MODE_ENCRYPT => Aes256CbcEnc::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_mut::<NoPadding>(data, len).is_ok()),
        MODE_DECRYPT => Aes256CbcDec::new_from_slices(key, iv)
            .map(|c| c.decrypt_padded_mut::<NoPadding>(data).is_ok()),
        _ => return SQLITE_ERROR,
    };
    match done {
        Ok(true) => SQLITE_OK,
        _ => SQLITE_ERROR,
    }
}

unsafe extern "C" fn key_size(_ctx: *mut c_void) -> c_int {
    KEY_LEN as c_int
}

unsafe extern "C" fn iv_size(_ctx: *mut c_void) -> c_int {
    IV_LEN as c_int
}

unsafe extern "C" fn block_size(_ctx: *mut c_void) -> c_int {
    BLOCK_LEN as c_int
}

unsafe extern "C" fn hmac_size(_ctx: *mut c_void, algorithm: c_int) -> c_int {
    match algorithm {
        HMAC_SHA1 => 20,
        HMAC_SHA256 => 32,
        HMAC_SHA512 => 64,
        _ => 0,
    }
}

/// No per-database state: every call is self-contained.
unsafe extern "C" fn context_init(_ctx: *mut *mut c_void) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn context_free(_ctx: *mut *mut c_void) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn fips_status(_ctx: *mut c_void) -> c_int {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cipher_is_aes_256_cbc_as_published() {
        // NIST SP 800-38A, F.2.5 (CBC-AES256.Encrypt), first two blocks.
        let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let expected = hex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d");
        let mut out = vec![0u8; plain.len()];
        // SAFETY: every buffer is as long as the call says.
        let rc = unsafe {
            cipher(
                std::ptr::null_mut(),
                MODE_ENCRYPT,
                key.as_ptr(),
                32,
                iv.as_ptr(),
                plain.as_ptr(),
                32,
                out.as_mut_ptr(),
            )
        };
        assert_eq!((rc, &out), (SQLITE_OK, &expected));
        let mut back = vec![0u8; out.len()];
        // SAFETY: as above.
        let rc = unsafe {
            cipher(
                std::ptr::null_mut(),
                MODE_DECRYPT,
                key.as_ptr(),
                32,
                iv.as_ptr(),
                out.as_ptr(),
                32,
                back.as_mut_ptr(),
            )
        };
        assert_eq!((rc, &back), (SQLITE_OK, &plain));
    }

    #[test]
    fn hmac_sha512_is_as_published_and_covers_both_inputs() {
        // RFC 4231, test case 2, with the message split in two.
        let key = b"Jefe";
        let mut out = [0u8; 64];
        // SAFETY: every buffer is as long as the call says.
        let rc = unsafe {
            hmac(
                std::ptr::null_mut(),
                HMAC_SHA512,
                key.as_ptr(),
                4,
                b"what do ya want ".as_ptr(),
                16,
                b"for nothing?".as_ptr(),
                12,
                out.as_mut_ptr(),
            )
        };
        let expected = hex(
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        );
        assert_eq!((rc, &out[..]), (SQLITE_OK, &expected[..]));
    }

    #[test]
    fn pbkdf2_is_as_published() {
        // RFC 6070, two iterations of PBKDF2-HMAC-SHA1.
        let mut out = [0u8; 20];
        // SAFETY: every buffer is as long as the call says.
        let rc = unsafe {
            kdf(
                std::ptr::null_mut(),
                HMAC_SHA1,
                b"password".as_ptr(),
                8,
                b"salt".as_ptr(),
                4,
                2,
                20,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(
            (rc, &out[..]),
            (
                SQLITE_OK,
                &hex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957")[..]
            )
        );
    }

    #[test]
    fn bad_arguments_are_errors_not_crashes() {
        let key = [7u8; 32];
        let iv = [0u8; 16];
        let data = [0u8; 17];
        let mut out = [0u8; 17];
        let mut encrypt = |mode: c_int, key_len: c_int, len: c_int| {
            // SAFETY: the buffers are at least as long as the call says;
            // the call must refuse before touching them.
            unsafe {
                let (k, v, d, o) = (key.as_ptr(), iv.as_ptr(), data.as_ptr(), out.as_mut_ptr());
                cipher(std::ptr::null_mut(), mode, k, key_len, v, d, len, o)
            }
        };
        assert_eq!(
            encrypt(MODE_ENCRYPT, 32, 17),
            SQLITE_ERROR,
            "not whole blocks"
        );
        assert_eq!(encrypt(9, 32, 16), SQLITE_ERROR, "no such mode");
        assert_eq!(encrypt(MODE_ENCRYPT, 31, 16), SQLITE_ERROR, "short key");
        assert_eq!(
            encrypt(MODE_ENCRYPT, 32, -16),
            SQLITE_ERROR,
            "negative length"
        );
        // SAFETY: as above.
        unsafe {
            let (k, d, o) = (key.as_ptr(), data.as_ptr(), out.as_mut_ptr());
            assert_eq!(
                hmac(
                    std::ptr::null_mut(),
                    7,
                    k,
                    32,
                    d,
                    16,
                    std::ptr::null(),
                    0,
                    o
                ),
                SQLITE_ERROR
            );
            assert_eq!(
                kdf(
                    std::ptr::null_mut(),
                    HMAC_SHA512,
                    k,
                    32,
                    iv.as_ptr(),
                    16,
                    0,
                    16,
                    o
                ),
                SQLITE_ERROR
            );
            assert_eq!(
                random(std::ptr::null_mut(), std::ptr::null_mut(), 16),
                SQLITE_ERROR
            );
        }
    }

    #[test]
    fn random_bytes_differ_between_calls() {
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        // SAFETY: both buffers hold 16 bytes.
        unsafe {
            assert_eq!(
                random(std::ptr::null_mut(), a.as_mut_ptr().cast(), 16),
                SQLITE_OK
            );
            assert_eq!(
                random(std::ptr::null_mut(), b.as_mut_ptr().cast(), 16),
                SQLITE_OK
            );
        }
        assert_ne!(a, b);
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_default())
            .collect()
    }
}
