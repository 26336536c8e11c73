//! The server's own command line, built beside the end-to-end tests so that
//! they (and the load harness) can run the server as a process of its own:
//! to kill it, restart it and read its memory. Same flags as
//! `journal-server`.

fn main() -> std::process::ExitCode {
    journal_server::cli::run()
}
