//! What both configuration targets share: loading a configuration file the way the
//! daemon does (`-c FILE`), and the check that `--check`'s rendering of a configuration
//! reads back to the same configuration.

use std::ffi::OsString;
use std::path::PathBuf;

use psi_syslogd::config::{self, Command, Config};
use psi_syslogd::error::{Error, Exit};
use psi_syslogd::roots::Roots;

/// A file of this process's own, for the text under test.
pub fn scratch_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "psi-syslogd-fuzz-{}-{name}.conf",
        std::process::id()
    ))
}

/// Loads `text` as the daemon loads its `-c` file.
pub fn load_text(name: &str, text: &str) -> Result<Config, Error> {
    let path = scratch_file(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let args = [OsString::from("-c"), path.clone().into_os_string()];
    let source = match config::parse(&args) {
        Ok(Command::Run(source)) => source,
        Ok(_) => panic!("-c FILE is not a run"),
        Err(error) => panic!("-c FILE refused: {}", error.message),
    };
    config::load(&source, &Roots::host())
}

/// A file's errors are the file's: 78 with FILE:LINE (or FILE: for a conflict between
/// lines), or 69 when cgroup triggers find no cgroup2 mount; never a usage error (64),
/// which would blame the command line.
pub fn check_file_error(name: &str, error: &Error) {
    let path = scratch_file(name);
    match error.exit {
        Exit::Config => assert!(
            error.message.starts_with(&format!("{}:", path.display())),
            "a file error that does not name the file: {}",
            error.message
        ),
        Exit::Unavailable => assert!(error.message.contains("cgroup2"), "{}", error.message),
        other => panic!("a file error exits {other:?}: {}", error.message),
    }
}

/// `--check` prints the effective configuration in the file's syntax: read back as a
/// file, it must give the same configuration (rendered the same), unless it says that a
/// value could not be written; it loads in any case.
pub fn check_render_reads_back(config: &Config) {
    let rendered = config::render(config);
    match load_text("rendered", &rendered) {
        Ok(again) => {
            if !rendered.contains(": not written, the file cannot hold this value\n") {
                assert_eq!(
                    config::render(&again),
                    rendered,
                    "the rendering reads back to another configuration"
                );
            }
        }
        Err(error) => panic!(
            "the rendering does not read back: {}\n{rendered}",
            error.message
        ),
    }
}
