//! The configuration file: one directive per line, named like the long options
//! (directives.rs's table), `#` starting a comment. Its errors exit 78 and say FILE:LINE
//! and quote the line; a file that cannot be read exits 66.

use std::path::Path;

use super::directives::{self, Settings, Takes};
use crate::error::{Error, Exit};

/// The text of the file at `path`, which must be UTF-8.
pub fn read_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            Exit::NoInput,
            format!(
                "cannot read the configuration file '{}': {e}; create it or give another -c",
                path.display()
            ),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::new(
            Exit::Config,
            format!(
                "{}: the configuration file is not UTF-8 (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses the text of a configuration file: one directive per line, `#` starts a
/// comment at the beginning of a line or after a space.
pub fn parse_file(path: &Path, text: &str) -> Result<Settings, Error> {
    let mut settings = Settings::default();
    for (index, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| {
            Error::new(
                Exit::Config,
                format!("{}:{}: {why} (in '{line}')", path.display(), index + 1),
            )
        };
        let (name, value) = match line.split_once(char::is_whitespace) {
            Some((d, v)) => (d, v.trim()),
            None => (line, ""),
        };
        let Some(directive) = directives::file_directive(name) else {
            return Err(bad(format!(
                "unknown directive '{name}' (use {})",
                directives::file_directive_names()
            )));
        };
        if directive.takes == Takes::Value && value.is_empty() {
            return Err(bad(format!("'{name}' needs a value")));
        }
        directives::apply(&mut settings, name, name, value).map_err(bad)?;
    }
    directives::output_of(settings.stderr, settings.journal, settings.socket.clone())
        .map_err(|why| Error::new(Exit::Config, format!("{}: {why}", path.display())))?;
    Ok(settings)
}

fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => &line[..at],
        None => line,
    }
}
