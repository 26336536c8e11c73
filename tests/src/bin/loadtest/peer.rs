//! The peer: pouchdb-server, the CouchDB-protocol sync server offline-first
//! apps use, run by `tests/peer/peer.js` on loopback. The script writes the
//! same documents to it and replicates them into a fresh local PouchDB (the
//! phone's analog), timing each replication.

use std::path::{Path, PathBuf};
use std::process::Command;

use journal_core::records::RecordBody;
use serde::Deserialize;

/// What the peer script measured.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerResult {
    /// Documents written and replicated.
    pub docs: u64,
    /// pouchdb-server's storage (`leveldb` or `memory`).
    pub server_adapter: String,
    /// The local PouchDB's storage.
    pub local_adapter: String,
    /// pouchdb-server's version.
    pub server_version: String,
    /// PouchDB's version.
    pub pouchdb_version: String,
    /// Writing the documents to the server (`_bulk_docs`, 500 a request).
    pub write_ms: f64,
    /// Each replication into a fresh local database.
    pub replicate_ms: Vec<f64>,
}

/// Where the peer is installed by `tests/peer/install.sh`: `pouchdb-peer`
/// in the target folder (the folder above the harness's own executable's).
pub fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("pouchdb-peer"))
}

/// Runs the peer script on `bodies`; `runs` replications.
pub fn run(dir: &Path, bodies: &[RecordBody], runs: usize) -> Result<PeerResult, String> {
    let modules = dir.join("node_modules");
    if !modules.join("pouchdb-server").is_dir() {
        return Err(format!(
            "pouchdb-server is not installed in {}: run tests/peer/install.sh",
            dir.display()
        ));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/peer.js");
    let work = tempfile::tempdir().map_err(|e| format!("peer: {e}"))?;
    let docs_file = work.path().join("docs.json");
    let now = chrono::Utc::now().to_rfc3339();
    let mut docs = Vec::with_capacity(bodies.len());
    for body in bodies {
        let content: serde_json::Value =
            serde_json::from_str(&body.to_json().map_err(|e| format!("peer: {e}"))?)
                .map_err(|e| format!("peer: {e}"))?;
        // A document like the record our server sends in a pull.
        docs.push(serde_json::json!({
            "_id": journal_core::RecordId::new().to_string(),
            "kind": body.kind().as_str(),
            "createdAt": now,
            "updatedAt": now,
            "hlc": "0193a1b2c3d40000",
            "deleted": false,
            "body": content,
        }));
    }
    std::fs::write(
        &docs_file,
        serde_json::to_vec(&docs).map_err(|e| format!("peer: {e}"))?,
    )
    .map_err(|e| format!("peer: {e}"))?;
    let port = journal_e2e::load::free_port()?;
    let output = Command::new("node")
        .arg(&script)
        .args(["--modules", &modules.to_string_lossy()])
        .args(["--docs", &docs_file.to_string_lossy()])
        .args(["--work", &work.path().to_string_lossy()])
        .args(["--port", &port.to_string()])
        .args(["--runs", &runs.to_string()])
        .output()
        .map_err(|e| format!("peer: cannot run node: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "peer script failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("peer: unreadable result ({e}): {stdout}"))
}
