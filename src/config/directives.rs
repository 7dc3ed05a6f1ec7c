//! The vocabulary, written once: every long option and file directive in one table
//! (`DIRECTIVES`), which the command line (args.rs), the file (file.rs), `render` and
//! the help text agree with (a unit test holds them, and the man page, to it); what
//! each directive sets (`Settings`, one per source); and the parsers of their values.

use syslog::Facility;

use crate::spec::{self, Spec};

use super::Output;

/// RFC 3164 limits the TAG to 32 characters.
const IDENT_MAX: usize = 32;

/// How a directive takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// A value: `--socket PATH` on the command line, `socket PATH` in the file.
    Value,
    /// None on the command line; in the file none (on), `yes` or `no`.
    Switch,
}

/// One word of the vocabulary: a long option, and the file directive of the same name.
pub struct Directive {
    /// The long option without its `--`, and the file's directive.
    pub name: &'static str,
    pub short: Option<char>,
    pub takes: Takes,
    /// Given more than once, each counts (`-t`, `--cgroup`).
    pub repeatable: bool,
    /// What it sets, from the file and from the command line alike; `None` for the
    /// options only the command line has (what to do rather than how to run).
    pub set: Option<Setter>,
}

/// Sets a directive's value in `settings`; `shown` is its name as the source writes it
/// (`--repeat`, `repeat`), for the error.
pub type Setter = fn(settings: &mut Settings, shown: &str, value: &str) -> Result<(), String>;

const fn directive(
    name: &'static str,
    short: Option<char>,
    takes: Takes,
    set: Option<Setter>,
) -> Directive {
    Directive {
        name,
        short,
        takes,
        repeatable: false,
        set,
    }
}

/// Every option and directive, in the order of the help text. `--help` (and `-h`) is
/// argh's own.
pub const DIRECTIVES: [Directive; 15] = [
    Directive {
        repeatable: true,
        ..directive("trigger", Some('t'), Takes::Value, Some(set_trigger))
    },
    directive("config", Some('c'), Takes::Value, None),
    directive("socket", None, Takes::Value, Some(set_socket)),
    directive("stderr", None, Takes::Switch, Some(set_stderr)),
    directive("journal", None, Takes::Switch, Some(set_journal)),
    directive("facility", None, Takes::Value, Some(set_facility)),
    directive("ident", None, Takes::Value, Some(set_ident)),
    directive("repeat", None, Takes::Value, Some(set_repeat)),
    directive("recover-after", None, Takes::Value, Some(set_recover_after)),
    directive("heartbeat", None, Takes::Value, Some(set_heartbeat)),
    directive(
        "wait-for-cgroups",
        None,
        Takes::Switch,
        Some(set_wait_for_cgroups),
    ),
    directive("check", None, Takes::Switch, None),
    directive("print", None, Takes::Switch, None),
    Directive {
        repeatable: true,
        ..directive("cgroup", None, Takes::Value, None)
    },
    directive("version", Some('V'), Takes::Switch, None),
];

/// The directive named `name`, if the file may hold it.
pub fn file_directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name == name && d.set.is_some())
}

/// The names the file takes, for an error: `trigger, socket, ... or wait-for-cgroups`.
pub fn file_directive_names() -> String {
    let names: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|d| d.set.is_some())
        .map(|d| d.name)
        .collect();
    match names.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Sets directive `name` from `value`, as written `shown`.
pub fn apply(settings: &mut Settings, name: &str, shown: &str, value: &str) -> Result<(), String> {
    match file_directive(name).and_then(|d| d.set) {
        Some(set) => set(settings, shown, value),
        None => Err(format!("'{name}' is not a directive")),
    }
}

/// Settings from one source; `None` (or empty) where the source says nothing.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub(super) triggers: Vec<Spec>,
    pub(super) socket: Option<String>,
    pub(super) stderr: Option<bool>,
    pub(super) journal: Option<bool>,
    pub(super) facility: Option<Facility>,
    pub(super) ident: Option<String>,
    pub(super) repeat_us: Option<u64>,
    pub(super) recover_after_us: Option<u64>,
    pub(super) heartbeat_us: Option<u64>,
    pub(super) wait_for_cgroups: Option<bool>,
}

fn set_trigger(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    let spec = Spec::parse(value).map_err(|e| e.message)?;
    settings.triggers.push(spec);
    Ok(())
}

fn set_socket(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    settings.socket = Some(value.to_string());
    Ok(())
}

fn set_stderr(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    settings.stderr = Some(parse_flag(value)?);
    Ok(())
}

fn set_journal(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    settings.journal = Some(parse_flag(value)?);
    Ok(())
}

fn set_facility(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    settings.facility = Some(parse_facility(value)?);
    Ok(())
}

fn set_ident(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    check_ident(value)?;
    settings.ident = Some(value.to_string());
    Ok(())
}

fn set_repeat(settings: &mut Settings, shown: &str, value: &str) -> Result<(), String> {
    settings.repeat_us = Some(duration(shown, value)?);
    Ok(())
}

fn set_recover_after(settings: &mut Settings, shown: &str, value: &str) -> Result<(), String> {
    let us = duration(shown, value)?;
    check_recover_after(Some(us))?;
    settings.recover_after_us = Some(us);
    Ok(())
}

fn set_heartbeat(settings: &mut Settings, shown: &str, value: &str) -> Result<(), String> {
    settings.heartbeat_us = Some(duration(shown, value)?);
    Ok(())
}

fn set_wait_for_cgroups(settings: &mut Settings, _: &str, value: &str) -> Result<(), String> {
    settings.wait_for_cgroups = Some(parse_flag(value)?);
    Ok(())
}

/// A duration option's value, its error naming the option as written.
fn duration(shown: &str, value: &str) -> Result<u64, String> {
    parse_interval_us(value).map_err(|why| format!("invalid {shown} {why}"))
}

const FACILITIES: [(&str, Facility); 24] = [
    ("kern", Facility::LOG_KERN),
    ("user", Facility::LOG_USER),
    ("mail", Facility::LOG_MAIL),
    ("daemon", Facility::LOG_DAEMON),
    ("auth", Facility::LOG_AUTH),
    ("syslog", Facility::LOG_SYSLOG),
    ("lpr", Facility::LOG_LPR),
    ("news", Facility::LOG_NEWS),
    ("uucp", Facility::LOG_UUCP),
    ("cron", Facility::LOG_CRON),
    ("authpriv", Facility::LOG_AUTHPRIV),
    ("ftp", Facility::LOG_FTP),
    ("ntp", Facility::LOG_NTP),
    ("audit", Facility::LOG_AUDIT),
    ("alert", Facility::LOG_ALERT),
    ("clock_daemon", Facility::LOG_CLOCK_DAEMON),
    ("local0", Facility::LOG_LOCAL0),
    ("local1", Facility::LOG_LOCAL1),
    ("local2", Facility::LOG_LOCAL2),
    ("local3", Facility::LOG_LOCAL3),
    ("local4", Facility::LOG_LOCAL4),
    ("local5", Facility::LOG_LOCAL5),
    ("local6", Facility::LOG_LOCAL6),
    ("local7", Facility::LOG_LOCAL7),
];

/// A switch in the file: bare (on), or yes/no.
fn parse_flag(value: &str) -> Result<bool, String> {
    match value {
        "" | "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("'{value}' is not yes or no")),
    }
}

fn parse_facility(name: &str) -> Result<Facility, String> {
    FACILITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            format!(
                "unknown facility '{name}': use kern, user, mail, daemon, auth, syslog, lpr, \
                 news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock_daemon or local0 ... local7"
            )
        })
}

pub fn facility_name(facility: Facility) -> &'static str {
    FACILITIES
        .iter()
        .find(|(_, f)| *f as u8 == facility as u8)
        .map(|(n, _)| *n)
        .unwrap_or("daemon")
}

/// A duration for an option: an integer of seconds, or with `ms`, `s` or `m`.
pub fn parse_interval_us(text: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 3] = [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000)];
    spec::parse_scaled(text, &UNITS, 1_000_000).ok_or_else(|| {
        format!(
            "'{text}' is not a duration (an integer of seconds, or with ms, s or m: 500ms, 90s, 5m)"
        )
    })
}

/// The destination one source asks for with `stderr`, `journal` and `socket`, which
/// exclude each other; syslog on the default sockets when it asks for none.
pub fn output_of(
    stderr: Option<bool>,
    journal: Option<bool>,
    socket: Option<String>,
) -> Result<Output, String> {
    match (stderr.unwrap_or(false), journal.unwrap_or(false), socket) {
        (true, true, _) => Err("--stderr and --journal exclude each other: choose one".into()),
        (true, false, Some(path)) | (false, true, Some(path)) => Err(format!(
            "--socket '{path}' does not go with --stderr or --journal: choose one"
        )),
        (true, false, None) => Ok(Output::Stderr),
        (false, true, None) => Ok(Output::Journal),
        (false, false, Some(path)) if path.is_empty() => {
            Err("--socket '' is empty: give the path of a syslog socket".into())
        }
        (false, false, socket) => Ok(Output::Syslog(socket)),
    }
}

/// The ident becomes the RFC 3164 TAG: printable ASCII, no space, ':' or brackets,
/// at most 32 characters, so receivers split the header where we mean them to.
fn check_ident(ident: &str) -> Result<(), String> {
    let printable = ident
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b'[' | b']'));
    if ident.is_empty() || ident.len() > IDENT_MAX || !printable {
        return Err(format!(
            "invalid --ident {ident:?}: use 1 to {IDENT_MAX} printable ASCII characters \
             without spaces, ':', '[' or ']'"
        ));
    }
    Ok(())
}

/// A quiet period of 0 would end every episode at its first crossing.
fn check_recover_after(us: Option<u64>) -> Result<(), String> {
    match us {
        Some(0) => Err("--recover-after 0: the quiet period must be longer than 0".into()),
        _ => Ok(()),
    }
}
