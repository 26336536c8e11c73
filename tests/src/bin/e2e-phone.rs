//! A phone as a process of its own, for the crash tests to kill mid-sync:
//! opens (or creates) a journal file, signs in, writes entries, syncs. It
//! says what it is about to do on stdout, one line each, flushed — `wrote
//! N`, `push N` before each push of N changes, `pull S` before each pull
//! from cursor S, `synced pushed=… pulled=…` at the end — so a test can
//! kill it at a chosen step.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use journal_core::DeviceId;
use journal_core::Phase;
use journal_core::records::{JournalEntry, RecordBody};
use journal_core::store::JournalStore;
use journal_core::sync::{
    HttpTransport, InMemorySecrets, OwnerVersion, PullResponse, PushRequest, PushResponse,
    SyncClient, Tokens, Transport, TransportError,
};

/// A phone that writes and syncs once.
#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long)]
    server: String,
    /// The patient's email.
    #[arg(long)]
    email: String,
    /// The patient's password.
    #[arg(long)]
    password: String,
    /// The journal file (created when absent).
    #[arg(long)]
    journal: PathBuf,
    /// How many journal entries to write before syncing.
    #[arg(long, default_value_t = 0)]
    write: u32,
    /// Entries are titled `<tag> <n>`.
    #[arg(long, default_value = "entry")]
    tag: String,
}

/// The HTTP transport, announcing each call on stdout before making it.
struct Announcing(HttpTransport);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl Transport for Announcing {
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError> {
        self.0.sign_in(email, password)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError> {
        self.0.refresh(refresh_token)
    }

    fn push(
        &self,
        access_token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, TransportError> {
        say(&format!("push {}", request.mutations.len()));
        self.0.push(access_token, request)
    }

    fn pull(
        &self,
        access_token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError> {
        say(&format!("pull {}", since.0));
        self.0.pull(access_token, since, limit, device)
    }
}

fn run(args: &Args) -> Result<(), String> {
    let store = Arc::new(JournalStore::open(&args.journal).map_err(|e| e.to_string())?);
    let transport = HttpTransport::new(&args.server).map_err(|e| e.to_string())?;
    let client = SyncClient::new(
        Arc::clone(&store),
        Arc::new(Announcing(transport)),
        Arc::new(InMemorySecrets::new()),
    );
    client
        .sign_in(&args.email, &args.password)
        .map_err(|e| e.to_string())?;
    say("signed in");
    if args.write > 0 {
        let bodies = (0..args.write)
            .map(|n| {
                JournalEntry::new(format!("{} {n}", args.tag), Phase::Integration)
                    .map(RecordBody::from)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        store.create_many(bodies).map_err(|e| e.to_string())?;
    }
    say(&format!("wrote {}", args.write));
    let report = client.sync().map_err(|e| e.to_string())?;
    say(&format!(
        "synced pushed={} pulled={}",
        report.pushed, report.pulled
    ));
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("e2e-phone: {message}");
            ExitCode::FAILURE
        }
    }
}
