//! The command line: the input's bytes, split at NUL, as the arguments (any bytes: an
//! argument need not be UTF-8). Never a panic; every error exits 64 (or 69 for cgroup
//! triggers without a cgroup2 mount); a configuration that loads renders (`--check`) to
//! a file that reads back to the same configuration. `-c FILE` is left out: the file
//! would be whatever path the fuzzer names.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use psi_syslogd::config::{self, Command};
use psi_syslogd::error::Exit;
use psi_syslogd::roots::Roots;
use psi_syslogd_fuzz::config::check_render_reads_back;

fuzz_target!(|data: &[u8]| {
    let args: Vec<OsString> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    let source = match config::parse(&args) {
        Err(error) => {
            assert_eq!(error.exit, Exit::Usage, "{}", error.message);
            assert!(!error.message.is_empty());
            return;
        }
        Ok(Command::Run(source) | Command::Check(source)) => source,
        Ok(Command::Print(_) | Command::Text(_)) => return,
    };
    if source.file.is_some() {
        return;
    }
    match config::load(&source, &Roots::host()) {
        Ok(config) => check_render_reads_back(&config),
        Err(error) => assert!(
            matches!(error.exit, Exit::Usage | Exit::Unavailable),
            "{:?}: {}",
            error.exit,
            error.message
        ),
    }
});
