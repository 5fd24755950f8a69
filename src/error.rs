//! How a run ends badly. A mistake the user can fix is a `UserError`: one line, exit status 2.
//! Anything else is unexpected and reported by color-eyre (exit status 1).

use thiserror::Error;

use crate::net::SetupError;
use crate::proto::CommandError;

/// A mistake the user can fix: printed as one line, exit status 2.
#[derive(Debug, Error)]
pub enum UserError {
    /// A flag or argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// The group cannot be joined, or the interface or a socket cannot be set up.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The terminal UI was started without a terminal.
    #[error("the TUI needs a terminal on stdin and stdout; for a headless node run `groupcast node`")]
    NoTerminal,
    /// What `send` was given cannot be sent.
    #[error(transparent)]
    Message(#[from] CommandError),
    /// `send --plain` was given more bare text than fits.
    #[error("bare text is at most {0} bytes")]
    BareTooLong(usize),
    /// `send` could not put the datagram on the wire.
    #[error("{0}")]
    Send(String),
}

impl UserError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
