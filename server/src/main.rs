//! The `journal-server` command: `serve` (default), `migrate`,
//! `create-therapist`. `--help` lists every setting.

fn main() -> std::process::ExitCode {
    journal_server::cli::run()
}
