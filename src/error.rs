//! The one error type: a message for the operator and the exit status it leads to.

use std::fmt;

/// Exit statuses, from sysexits.h (libc defines no `EX_*` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// EX_USAGE: a bad option or trigger spec.
    Usage = 64,
    /// EX_NOINPUT: the configuration file does not exist or cannot be read.
    NoInput = 66,
    /// EX_UNAVAILABLE: PSI is missing or disabled, or a resource file is missing.
    Unavailable = 69,
    /// EX_OSERR: any other refusal by the operating system.
    OsError = 71,
    /// EX_NOPERM: no permission to arm the trigger.
    NoPermission = 77,
    /// EX_CONFIG: an error in the configuration file.
    Config = 78,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[derive(Debug)]
pub struct Error {
    pub exit: Exit,
    pub message: String,
}

impl Error {
    pub fn new(exit: Exit, message: String) -> Error {
        Error { exit, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
