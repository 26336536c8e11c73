//! The `journal-server` command line: `serve` (default), `migrate`,
//! `create-therapist`, `backup`, `restore`. `--help` lists every setting.

use std::io::Read;
use std::process::ExitCode;

use crate::config::{Cli, Command, Config, LogFormat};
use crate::store::{Database, Existing};
use crate::store::{accounts, backup};
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn init_logs(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Parses the command line and runs the command it names, as the
/// `journal-server` binary does. Load runs and crash tests start their own
/// copy of the server through it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logs(&cli.config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => actix_web::rt::System::new().block_on(crate::serve(cli.config)),
        Command::Migrate => cli
            .config
            .database_key()
            .and_then(|key| {
                Database::open_existing_keyed(&cli.config.database_url, Existing::Database, key)
                    .map_err(|e| e.to_string())
            })
            .map(|db| tracing::info!(database = db.backend().name(), "migrations applied"))
            .map_err(|e| e.to_string()),
        Command::Backup { to } => cli
            .config
            .database_key()
            .and_then(|key| {
                backup::backup(&cli.config.database_url, key, &to).map_err(|e| e.to_string())
            })
            .map(|holding| println!("backed up to {}: {holding}", to.display())),
        Command::Restore { from } => cli
            .config
            .database_key()
            .and_then(|key| {
                backup::restore(&cli.config.database_url, key, &from).map_err(|e| e.to_string())
            })
            .map(|holding| println!("restored {}: {holding}", from.display())),
        Command::CreateTherapist {
            email,
            display_name,
            password_stdin,
        } => create_therapist(&cli.config, &email, display_name.as_deref(), password_stdin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("journal-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn create_therapist(
    config: &Config,
    email: &str,
    display_name: Option<&str>,
    password_stdin: bool,
) -> Result<(), String> {
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        (text.trim_end_matches(['\n', '\r']).to_owned(), false)
    } else {
        (crate::auth::tokens::new_refresh_token(), true)
    };
    let email = crate::auth::normalize_email(email);
    crate::auth::check_new_account(&email, &password, display_name).map_err(|e| e.to_string())?;
    let db = Database::open_existing_keyed(
        &config.database_url,
        Existing::Journal,
        config.database_key()?,
    )
    .map_err(|e| e.to_string())?;
    let runtime = actix_web::rt::System::new();
    let id = runtime.block_on(async {
        let passwords = crate::auth::passwords::Passwords::new(1).map_err(|e| e.to_string())?;
        let hash = passwords
            .hash(password.clone())
            .await
            .map_err(|e| e.to_string())?;
        let mut conn = db.get().map_err(|e| e.to_string())?;
        accounts::insert_account(
            &mut conn,
            &email,
            &hash,
            crate::auth::Role::Therapist,
            display_name,
        )
        .map_err(|e| e.to_string())
    })?;
    println!("created therapist {email} ({id})");
    if generated {
        println!("password: {password}");
    }
    Ok(())
}
