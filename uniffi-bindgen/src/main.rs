//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of
//! journal-mobile. It lives in the workspace and is built from the same
//! pinned uniffi as the library, so the generated code and the library's
//! scaffolding can never come from different versions
//! (`scripts/build-bindings.sh` runs it).

fn main() {
    uniffi::uniffi_bindgen_main()
}
