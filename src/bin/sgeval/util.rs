//! What the subcommands share: reading scenarios, exit codes.

use std::path::Path;
use std::process::ExitCode;

use sgeval::Scenario;

/// Exit status for bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status for "denied" / a failed expectation.
pub const EXIT_DENIED: u8 = 3;
/// Exit status for an answer that depends on what an import left unresolved.
pub const EXIT_UNRESOLVED: u8 = 4;

/// Reads and parses a scenario file, with the path in the error.
pub fn read_scenario(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    // A scenario may be a whole account's imported state: the whole-scenario sizes are
    // raised, every per-call limit holds.
    sgeval::limits::load_account_scenario(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Warns, on standard error, that an imported scenario's unresolved items are not taken into
/// account by a command that cannot yet mark what depends on them (`check` does).
pub fn warn_unresolved(path: &Path, scenario: &Scenario) {
    if !scenario.unresolved.is_empty() {
        eprintln!(
            "sgeval: warning: {}: {} unresolved item(s) of the import are not marked in this answer; `sgeval check` tells whether a packet depends on them",
            path.display(),
            scenario.unresolved.len()
        );
    }
}

/// Prints an error and returns the bad-input exit status.
pub fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sgeval: error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Writes a line to stdout; when the reader has gone (a closed pipe), exits at once with
/// the status a shell reports for SIGPIPE instead of panicking.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").is_err() {
        std::process::exit(141);
    }
}
