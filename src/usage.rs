//! [`UsageError`]: a command line that parsed but does not make sense (flags
//! that do not fit together, a plan that does not cover the topic). Every
//! command reports it the same way: one line on stderr, `braid: error: ...`,
//! saying what was wrong and what to do, and exit code 2 (clap's own exit
//! code for the errors it finds while parsing).

/// The exit code of a usage error (clap's).
pub const EXIT_USAGE: i32 = 2;

/// A usage error; [`crate::run`] prints it and exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    /// What was wrong and what to do, one line.
    pub message: String,
}

impl UsageError {
    /// A usage error saying `message`.
    pub fn new(message: impl std::fmt::Display) -> UsageError {
        UsageError {
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}
