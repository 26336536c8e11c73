//! Every setting the server takes is in the settings table of
//! `docs/api.md`, with its environment variable: operators read the table,
//! and a flag added without a row is a setting nobody finds.

// A test crate: unwrapping is how it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::CommandFactory;
use journal_server::config::Cli;

#[test]
fn every_flag_of_help_is_in_the_settings_table_of_the_api_guide() {
    let guide =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md")).unwrap();
    let table: Vec<&str> = guide
        .lines()
        .skip_while(|line| !line.starts_with("| setting | flag | environment | default |"))
        .take_while(|line| line.starts_with('|'))
        .collect();
    assert!(table.len() > 10, "no settings table in docs/api.md");
    let command = Cli::command();
    let mut missing = Vec::new();
    for argument in command.get_arguments() {
        let Some(flag) = argument.get_long() else {
            continue;
        };
        if ["help", "version"].contains(&flag) {
            continue;
        }
        let row = table
            .iter()
            .find(|row| row.contains(&format!("`--{flag}`")));
        match (row, argument.get_env()) {
            (None, _) => missing.push(format!("--{flag}")),
            (Some(row), Some(env)) if !row.contains(&format!("`{}`", env.to_string_lossy())) => {
                missing.push(format!("--{flag}'s {}", env.to_string_lossy()))
            }
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/api.md's settings table: {missing:?}"
    );
}
