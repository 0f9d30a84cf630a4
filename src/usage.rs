//! [`UsageError`]: a command line that parsed but does not make sense. It
//! prints like clap's own errors (with the command's usage line) and exits
//! with 2, like them.

use clap::CommandFactory;

/// The exit code of a usage error (clap's).
pub const EXIT_USAGE: i32 = 2;

/// A usage error for one subcommand; [`crate::run`] prints it and exits 2.
#[derive(Debug)]
pub struct UsageError(clap::Error);

impl UsageError {
    /// A usage error for the subcommand `sub` (`produce`, `bench`, ...).
    pub fn new(sub: &str, msg: impl std::fmt::Display) -> UsageError {
        let kind = clap::error::ErrorKind::ValueValidation;
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        UsageError(match cmd.find_subcommand_mut(sub) {
            Some(sc) => sc.error(kind, msg),
            None => cmd.error(kind, msg),
        })
    }

    /// Prints it on stderr the way clap does.
    pub fn print(&self) {
        let _ = self.0.print();
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for UsageError {}
