//! The configuration file parser: any text as the file. Never a panic; every error is
//! the file's (exit 78, FILE:LINE); a file that loads renders (`--check`) to text that
//! reads back to the same configuration.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use psi_syslogd::config;
use psi_syslogd::error::Exit;
use psi_syslogd_fuzz::config::{check_file_error, check_render_reads_back, load_text};

fuzz_target!(|data: &[u8]| {
    let text = psi_syslogd_fuzz::text(data);
    let path = Path::new("/etc/psi-syslogd.conf");
    if let Err(error) = config::parse_file(path, &text) {
        assert_eq!(error.exit, Exit::Config, "{}", error.message);
        assert!(
            error.message.starts_with("/etc/psi-syslogd.conf:"),
            "{}",
            error.message
        );
    }
    match load_text("input", &text) {
        Ok(config) => check_render_reads_back(&config),
        Err(error) => check_file_error("input", &error),
    }
});
