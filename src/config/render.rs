//! The effective configuration in the file's own syntax, for `--check`: it reads back,
//! as a file, to the same configuration, and a value the file cannot hold is a comment
//! that quotes it.

use std::fmt::Write;

use super::directives::facility_name;
use super::{Config, Output};

/// The effective configuration in the file's own syntax, for --check.
pub fn render(config: &Config) -> String {
    let mut text = String::new();
    for spec in &config.triggers {
        directive(&mut text, "trigger", &spec.to_string());
    }
    match &config.output {
        Output::Syslog(Some(path)) => directive(&mut text, "socket", path),
        Output::Syslog(None) => {
            text.push_str("# socket: the first of /dev/log, /var/run/syslog, /var/run/log\n")
        }
        Output::Stderr => text.push_str("stderr\n"),
        Output::Journal => text.push_str("journal\n"),
    }
    let _ = writeln!(text, "facility {}", facility_name(config.facility));
    directive(&mut text, "ident", &config.ident);
    let _ = writeln!(text, "repeat {}", interval(config.pacing.repeat_us));
    let _ = match config.pacing.recover_after_us {
        Some(us) => writeln!(text, "recover-after {}", interval(us)),
        None => writeln!(
            text,
            "# recover-after: 5 windows of each trigger, at least 10s"
        ),
    };
    let _ = match config.heartbeat_us {
        Some(us) => writeln!(text, "heartbeat {}", interval(us)),
        None => writeln!(text, "# heartbeat: off"),
    };
    if config.wait_for_cgroups {
        let _ = writeln!(text, "wait-for-cgroups");
    }
    text
}

/// Appends `NAME VALUE`, or, for a value the file cannot hold (a line break, white
/// space at an end, a `#` that would start a comment: all possible on the command line),
/// a comment that quotes it, so the text never reads back as something else (found by
/// tests/fuzz: `--ident '#x'` rendered as `ident #x`, which reads as `ident`).
fn directive(text: &mut String, name: &str, value: &str) {
    let holds = value.trim() == value
        && !value.is_empty()
        && !value.starts_with('#')
        && !value.contains(['\n', '\r'])
        && !value.contains(" #")
        && !value.contains("\t#");
    let _ = if holds {
        writeln!(text, "{name} {value}")
    } else {
        writeln!(
            text,
            "# {name} {value:?}: not written, the file cannot hold this value"
        )
    };
}

/// A duration in the largest unit that states it exactly, as `parse_interval_us`
/// reads it back: `5m`, `90s`, `1500ms`.
fn interval(us: u64) -> String {
    match us {
        0 => "0".to_string(),
        us if us % 60_000_000 == 0 => format!("{}m", us / 60_000_000),
        us if us % 1_000_000 == 0 => format!("{}s", us / 1_000_000),
        us => format!("{}ms", us / 1000),
    }
}
