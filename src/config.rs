//! The configuration: the command line and the file share one vocabulary (a directive
//! per long option), are parsed strictly, and merge with the command line winning.
//! Command-line errors exit 64, file errors 78 with FILE:LINE, a missing file 66.

use std::ffi::OsString;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use argh::FromArgs;
use syslog::Facility;

use crate::episode::Pacing;
use crate::error::{Error, Exit};
use crate::pattern::Pattern;
use crate::roots::Roots;
use crate::spec::{self, Spec};

/// Triggers armed when none is given. Every window is 2 s, so they arm without
/// CAP_SYS_RESOURCE; the thresholds are psi-notify's long-tuned avg10 alerting levels
/// (cpu some 50%, memory some 10%, io full 15%), and memory some 10% of 2 s is the
/// 200 ms / 2 s memory trigger systemd documents. README.md gives the reasoning.
pub const DEFAULT_TRIGGERS: [&str; 3] = ["memory:some:10%:2s", "io:full:15%:2s", "cpu:some:50%:2s"];
/// One reminder a minute while an episode lasts.
pub const DEFAULT_REPEAT_US: u64 = 60_000_000;
/// RFC 3164 limits the TAG to 32 characters.
const IDENT_MAX: usize = 32;

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

#[derive(FromArgs)]
/// Arm Linux pressure stall (PSI) triggers and log every real threshold crossing to
/// syslog, for the alert rules of rsyslog, syslog-ng, journald or BusyBox.
#[argh(
    example = "psi-syslogd -t memory:some:150000:1000000\npsi-syslogd -t memory:some:10%:2s -t io:full:20%:4s:/system.slice/postgresql.service\npsi-syslogd -t 'memory:some:10%:2s:/system.slice/*.service severity=crit name=svc-mem'\npsi-syslogd -c /etc/psi-syslogd.conf --check",
    note = "SPEC is RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP] [severity=LEVEL] [name=NAME], one argument (quote it). RESOURCE is cpu, memory, io or irq (irq: full only); KIND is some or full. THRESHOLD and WINDOW are microseconds when bare, or take us, ms or s; THRESHOLD may be a percentage of WINDOW (10%). The kernel wants 0 < THRESHOLD <= WINDOW <= 10s; who may arm what is the kernel's decision: before 5.13 only root (or CAP_DAC_OVERRIDE); 5.13 to 6.4 only CAP_SYS_RESOURCE; from 6.5 (and on Debian's 6.1) anyone, but a WINDOW off the 2s grid needs CAP_SYS_RESOURCE; older kernels want at least 500ms. A refusal names the rule; --check shows what this kernel allows. CGROUP is a cgroup v2 group as /proc/PID/cgroup names it, or a pattern: *, ? and [...] in a component arm every matching group, as groups come and go (/system.slice/*.service). severity= (emerg, alert, crit, err, warning, notice, info, debug; default warning) is the syslog severity of the trigger's pressure and ongoing lines; name= (1-32 of A-Za-z0-9_.-) is added to its lines. Without -t (and no trigger in the file): memory:some:10%:2s io:full:15%:2s cpu:some:50%:2s.\nDURATION options are seconds when bare, or take ms, s or m (90s, 5m).\nThe file takes one directive per line with the long options' names (trigger SPEC, repeat 5m, facility local3, stderr, ...); options given on the command line win, and any -t replaces the file's triggers. SIGHUP re-reads the file, SIGUSR1 logs the status.",
    error_code(64, "bad option or trigger spec"),
    error_code(66, "the configuration file is missing or unreadable"),
    error_code(
        69,
        "PSI unavailable (no /proc/pressure, disabled, missing resource file, full line or cgroup)"
    ),
    error_code(71, "other operating system error"),
    error_code(
        77,
        "the kernel's rule for who may arm the trigger refused it (the message names it)"
    ),
    error_code(78, "an error in the configuration file")
)]
struct Args {
    /// a trigger SPEC (repeatable), e.g. memory:some:150ms:1s
    #[argh(option, short = 't')]
    trigger: Vec<String>,

    /// the configuration file
    #[argh(option, short = 'c')]
    config: Option<String>,

    /// the syslog socket (default: /dev/log, else /var/run/syslog or /var/run/log)
    #[argh(option)]
    socket: Option<String>,

    /// write the lines to stderr instead of syslog
    #[argh(switch)]
    stderr: bool,

    /// send the events to systemd-journald natively, with PSI_* fields
    #[argh(switch)]
    journal: bool,

    /// the syslog facility: daemon (default), user, local0 ... local7, ...
    #[argh(option)]
    facility: Option<String>,

    /// the syslog identifier, the program name in every line (default: psi-syslogd)
    #[argh(option)]
    ident: Option<String>,

    /// DURATION between event=ongoing reminders while an episode lasts (default: 60s;
    /// 0 logs every crossing)
    #[argh(option)]
    repeat: Option<String>,

    /// DURATION without a crossing that ends an episode (default: 5 windows, at least 10s)
    #[argh(option)]
    recover_after: Option<String>,

    /// DURATION between event=heartbeat lines (default: off)
    #[argh(option)]
    heartbeat: Option<String>,

    /// arm cgroup triggers whose cgroup does not exist yet when it appears, instead of
    /// exiting 69
    #[argh(switch)]
    wait_for_cgroups: bool,

    /// check the configuration, arm every trigger once, print the effective
    /// configuration and exit
    #[argh(switch)]
    check: bool,

    /// print the current pressure of every resource as a table and exit
    #[argh(switch)]
    print: bool,

    /// with --print: a cgroup (or pattern) to print too (repeatable); the cgroups of -t
    /// triggers are printed as well
    #[argh(option)]
    cgroup: Vec<String>,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
}

/// Where the event lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A syslog socket; `None` means the default sockets, in order.
    Syslog(Option<String>),
    Stderr,
    /// systemd-journald's native protocol.
    Journal,
}

/// Settings from one source; `None` (or empty) where the source says nothing.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    triggers: Vec<Spec>,
    socket: Option<String>,
    stderr: Option<bool>,
    journal: Option<bool>,
    facility: Option<Facility>,
    ident: Option<String>,
    repeat_us: Option<u64>,
    recover_after_us: Option<u64>,
    heartbeat_us: Option<u64>,
    wait_for_cgroups: Option<bool>,
}

/// Where the configuration comes from; kept to read it again on SIGHUP.
#[derive(Clone, Debug)]
pub struct Source {
    pub file: Option<PathBuf>,
    command_line: Settings,
}

/// Everything the daemon needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub triggers: Vec<Spec>,
    pub output: Output,
    pub facility: Facility,
    pub ident: String,
    pub pacing: Pacing,
    pub heartbeat_us: Option<u64>,
    pub wait_for_cgroups: bool,
}

/// What the command line asks for.
pub enum Command {
    Run(Source),
    Check(Source),
    /// Print the pressure table, with these cgroups (or patterns) too.
    Print(Vec<Pattern>),
    /// Print this text to stdout and exit 0 (--help, --version).
    Text(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<Command, Error> {
    let mut strings = Vec::with_capacity(args.len());
    for arg in args {
        let text = arg
            .to_str()
            .ok_or_else(|| usage(format!("argument {arg:?} is not valid UTF-8")))?;
        strings.push(text);
    }
    // argh knows only --help; -h is documented too, wherever it is not an option's value.
    const TAKES_VALUE: [&str; 11] = [
        "-t",
        "--trigger",
        "-c",
        "--config",
        "--socket",
        "--facility",
        "--ident",
        "--repeat",
        "--recover-after",
        "--heartbeat",
        "--cgroup",
    ];
    for i in 0..strings.len() {
        if strings[i] == "-h" && (i == 0 || !TAKES_VALUE.contains(&strings[i - 1])) {
            strings[i] = "--help";
        }
    }
    let parsed = match Args::from_args(&["psi-syslogd"], &strings) {
        Ok(parsed) => parsed,
        Err(early) => {
            return match early.status {
                Ok(()) => Ok(Command::Text(early.output)),
                Err(()) => Err(usage(format!(
                    "{}\nRun 'psi-syslogd --help' for usage.",
                    early.output.trim_end()
                ))),
            };
        }
    };
    if parsed.version {
        return Ok(Command::Text(format!(
            "psi-syslogd {}\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
    if parsed.print {
        // The groups asked for with --cgroup, then those the -t triggers name.
        let mut named = Vec::new();
        for text in &parsed.trigger {
            let spec = Spec::parse(text).map_err(|e| usage(e.message))?;
            named.extend(spec.cgroup);
        }
        let mut cgroups = Vec::new();
        for given in &parsed.cgroup {
            let pattern = Pattern::parse(given)
                .map_err(|why| usage(format!("invalid --cgroup '{given}': {why}")))?;
            cgroups.push(pattern);
        }
        for cgroup in named {
            if !cgroups.contains(&cgroup) {
                cgroups.push(cgroup);
            }
        }
        return Ok(Command::Print(cgroups));
    }
    if !parsed.cgroup.is_empty() {
        return Err(usage(format!(
            "--cgroup '{}' goes with --print; to watch a cgroup, add it to a trigger \
             (io:full:20%:2s:/system.slice/x.service)",
            parsed.cgroup[0]
        )));
    }
    let check = parsed.check;
    let file = parsed.config.clone().map(PathBuf::from);
    let command_line = settings_from_args(parsed).map_err(usage)?;
    let source = Source { file, command_line };
    Ok(if check {
        Command::Check(source)
    } else {
        Command::Run(source)
    })
}

fn settings_from_args(args: Args) -> Result<Settings, String> {
    if let Some(ident) = &args.ident {
        check_ident(ident)?;
    }
    output_of(
        args.stderr.then_some(true),
        args.journal.then_some(true),
        args.socket.clone(),
    )?;
    let triggers = args
        .trigger
        .iter()
        .map(|text| Spec::parse(text).map_err(|e| e.message))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Settings {
        triggers,
        socket: args.socket,
        stderr: args.stderr.then_some(true),
        journal: args.journal.then_some(true),
        facility: args.facility.as_deref().map(parse_facility).transpose()?,
        ident: args.ident,
        repeat_us: option_duration("--repeat", args.repeat.as_deref())?,
        recover_after_us: option_duration("--recover-after", args.recover_after.as_deref())
            .and_then(|us| check_recover_after(us).map(|()| us))?,
        heartbeat_us: option_duration("--heartbeat", args.heartbeat.as_deref())?,
        wait_for_cgroups: args.wait_for_cgroups.then_some(true),
    })
}

fn option_duration(option: &str, text: Option<&str>) -> Result<Option<u64>, String> {
    text.map(|t| parse_interval_us(t).map_err(|why| format!("invalid {option} {why}")))
        .transpose()
}

/// Reads the file (if any) and merges it under the command line; the cgroups of
/// triggers are named relative to the cgroup2 mount of `roots`. Called at start and on
/// every SIGHUP.
pub fn load(source: &Source, roots: &Roots) -> Result<Config, Error> {
    let file = match &source.file {
        None => Settings::default(),
        Some(path) => parse_file(path, &read_file(path)?)?,
    };
    merge(&source.command_line, file, roots)
}

fn read_file(path: &Path) -> Result<String, Error> {
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
        let (directive, value) = match line.split_once(char::is_whitespace) {
            Some((d, v)) => (d, v.trim()),
            None => (line, ""),
        };
        let needs_value = |value: &str| {
            if value.is_empty() {
                Err(bad(format!("'{directive}' needs a value")))
            } else {
                Ok(value.to_string())
            }
        };
        let duration = |value: &str| {
            parse_interval_us(&needs_value(value)?)
                .map_err(|why| bad(format!("invalid {directive} {why}")))
        };
        match directive {
            "trigger" => settings
                .triggers
                .push(Spec::parse(&needs_value(value)?).map_err(|e| bad(e.message))?),
            "socket" => settings.socket = Some(needs_value(value)?),
            "stderr" => settings.stderr = Some(parse_flag(value).map_err(bad)?),
            "journal" => settings.journal = Some(parse_flag(value).map_err(bad)?),
            "facility" => {
                settings.facility = Some(parse_facility(&needs_value(value)?).map_err(bad)?)
            }
            "ident" => {
                let ident = needs_value(value)?;
                check_ident(&ident).map_err(bad)?;
                settings.ident = Some(ident);
            }
            "repeat" => settings.repeat_us = Some(duration(value)?),
            "recover-after" => {
                let us = duration(value)?;
                check_recover_after(Some(us)).map_err(bad)?;
                settings.recover_after_us = Some(us);
            }
            "heartbeat" => settings.heartbeat_us = Some(duration(value)?),
            "wait-for-cgroups" => settings.wait_for_cgroups = Some(parse_flag(value).map_err(bad)?),
            _ => {
                return Err(bad(format!(
                    "unknown directive '{directive}' (use trigger, socket, stderr, journal, \
                     facility, ident, repeat, recover-after, heartbeat or wait-for-cgroups)"
                )));
            }
        }
    }
    output_of(settings.stderr, settings.journal, settings.socket.clone())
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

fn merge(command_line: &Settings, file: Settings, roots: &Roots) -> Result<Config, Error> {
    let c = command_line.clone();
    let mut triggers = if !c.triggers.is_empty() {
        c.triggers
    } else if !file.triggers.is_empty() {
        file.triggers
    } else {
        DEFAULT_TRIGGERS
            .iter()
            .map(|text| Spec::parse(text))
            .collect::<Result<_, _>>()?
    };
    if triggers.iter().any(|t| t.cgroup.is_some()) {
        let mount = roots.cgroup2().map_err(|why| {
            Error::new(
                Exit::Unavailable,
                format!("cannot watch cgroup triggers: {why}"),
            )
        })?;
        for spec in &mut triggers {
            spec.cgroup = spec
                .cgroup
                .take()
                .and_then(|given| given.relative_to(mount));
        }
    }
    // The output is one setting in three words: the command line's, if it says any of
    // them, replaces the file's entirely, so `--stderr` overrides a file's `socket`.
    // Both sources were checked on their own (`output_of`), so this cannot fail.
    let output = if c.stderr.is_some() || c.journal.is_some() || c.socket.is_some() {
        output_of(c.stderr, c.journal, c.socket).map_err(usage)?
    } else {
        output_of(file.stderr, file.journal, file.socket).map_err(usage)?
    };
    let ident = c
        .ident
        .or(file.ident)
        .unwrap_or_else(|| "psi-syslogd".to_string());
    let recover_after_us = c.recover_after_us.or(file.recover_after_us);
    Ok(Config {
        triggers,
        output,
        facility: c.facility.or(file.facility).unwrap_or(Facility::LOG_DAEMON),
        ident,
        pacing: Pacing {
            repeat_us: c.repeat_us.or(file.repeat_us).unwrap_or(DEFAULT_REPEAT_US),
            recover_after_us,
        },
        heartbeat_us: c.heartbeat_us.or(file.heartbeat_us).filter(|&us| us > 0),
        wait_for_cgroups: c
            .wait_for_cgroups
            .or(file.wait_for_cgroups)
            .unwrap_or(false),
    })
}

/// The destination one source asks for with `stderr`, `journal` and `socket`, which
/// exclude each other; syslog on the default sockets when it asks for none.
fn output_of(
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

fn usage(message: String) -> Error {
    Error::new(Exit::Usage, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roots::fixture::Fixture;

    /// Loads the configuration `args` ask for, on the roots of `fixture` (a cgroup2 mount
    /// of its own, with no group in it).
    fn run_on(fixture: &Fixture, args: &[&str]) -> Result<Config, Error> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args)? {
            Command::Run(source) => load(&source, &fixture.roots()),
            _ => panic!("not a run"),
        }
    }

    fn run(args: &[&str]) -> Result<Config, Error> {
        run_on(&Fixture::new("config"), args)
    }

    fn file(text: &str) -> Result<Settings, Error> {
        parse_file(Path::new("/etc/psi-syslogd.conf"), text)
    }

    #[test]
    fn defaults() {
        let config = run(&[]).unwrap();
        let shown: Vec<String> = config.triggers.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "memory:some:200000:2000000",
                "io:full:300000:2000000",
                "cpu:some:1000000:2000000"
            ]
        );
        assert_eq!(config.output, Output::Syslog(None));
        assert_eq!(config.facility as u8, Facility::LOG_DAEMON as u8);
        assert_eq!(config.ident, "psi-syslogd");
        assert_eq!(
            config.pacing,
            Pacing {
                repeat_us: 60_000_000,
                recover_after_us: None
            }
        );
        assert_eq!(config.heartbeat_us, None);
    }

    #[test]
    fn options() {
        let config = run(&[
            "-t",
            "memory:some:150000:1000000",
            "--trigger",
            "io:full:20%:4s",
            "--socket",
            "/tmp/x.sock",
            "--facility",
            "local3",
            "--ident",
            "psi-test",
            "--repeat",
            "5m",
            "--recover-after",
            "1500ms",
            "--heartbeat",
            "30",
        ])
        .unwrap();
        assert_eq!(config.triggers.len(), 2);
        assert_eq!(config.output, Output::Syslog(Some("/tmp/x.sock".into())));
        assert_eq!(config.facility as u8, Facility::LOG_LOCAL3 as u8);
        assert_eq!(config.ident, "psi-test");
        assert_eq!(config.pacing.repeat_us, 300_000_000);
        assert_eq!(config.pacing.recover_after_us, Some(1_500_000));
        assert_eq!(config.heartbeat_us, Some(30_000_000));
        assert_eq!(run(&["--stderr"]).unwrap().output, Output::Stderr);
        assert_eq!(run(&["--journal"]).unwrap().output, Output::Journal);
        assert_eq!(run(&["--repeat", "0"]).unwrap().pacing.repeat_us, 0);
    }

    #[test]
    fn usage_errors_quote_the_input() {
        let table: [(&[&str], &str); 14] = [
            (
                &["-t", "memory:some:15O000:1s"],
                "invalid trigger 'memory:some:15O000:1s'",
            ),
            (&["--facility", "daemons"], "unknown facility 'daemons'"),
            (&["--facility", "DAEMON"], "unknown facility 'DAEMON'"),
            (&["--ident", "has space"], "invalid --ident \"has space\""),
            (&["--ident", ""], "invalid --ident \"\""),
            (&["--ident", "a:b"], "invalid --ident \"a:b\""),
            (
                &["--stderr", "--socket", "/x"],
                "--socket '/x' does not go with --stderr",
            ),
            (
                &["--stderr", "--journal"],
                "--stderr and --journal exclude each other",
            ),
            (&["--socket", ""], "--socket '' is empty"),
            (&["--bogus"], "Unrecognized argument: --bogus"),
            (&["-t"], "No value provided for option '-t'"),
            (
                &["--repeat", "1h"],
                "invalid --repeat '1h' is not a duration",
            ),
            (&["--recover-after", "0"], "--recover-after 0"),
            (
                &["--print", "--cgroup", "system.slice/x"],
                "invalid --cgroup 'system.slice/x': must start with '/'",
            ),
        ];
        for (args, expected) in table {
            let error = run(args).unwrap_err();
            assert_eq!(error.exit, Exit::Usage, "{args:?}");
            assert!(
                error.message.contains(expected),
                "{args:?}: {}",
                error.message
            );
        }
    }

    #[test]
    fn help_and_version_print() {
        for (arg, expected) in [
            ("--help", "Usage: psi-syslogd"),
            ("-h", "Usage: psi-syslogd"),
            ("-V", "psi-syslogd 0."),
            ("--version", "psi-syslogd 0."),
        ] {
            match parse(&[OsString::from(arg)]).unwrap() {
                Command::Text(text) => assert!(text.contains(expected), "{arg}: {text}"),
                _ => panic!("{arg} did not print"),
            }
        }
    }

    #[test]
    fn the_file_takes_every_directive() {
        let settings = file(
            "# psi-syslogd\n\
             trigger memory:some:10%:2s   # comment\n\
             \ttrigger cpu:some:50%:2s:/system.slice/a#b.service\n\
             \n\
             socket /run/x.sock\n\
             facility local3\n\
             ident psi\n\
             repeat 5m\n\
             recover-after 30s\n\
             heartbeat 1m\n\
             wait-for-cgroups\n\
             stderr no\n",
        )
        .unwrap();
        assert_eq!(settings.triggers.len(), 2);
        assert_eq!(
            settings.triggers[1].cgroup.as_ref().map(Pattern::as_str),
            Some("/system.slice/a#b.service")
        );
        assert_eq!(settings.socket.as_deref(), Some("/run/x.sock"));
        assert_eq!(settings.repeat_us, Some(300_000_000));
        assert_eq!(settings.recover_after_us, Some(30_000_000));
        assert_eq!(settings.heartbeat_us, Some(60_000_000));
        assert_eq!(settings.wait_for_cgroups, Some(true));
        assert_eq!(settings.stderr, Some(false));
    }

    #[test]
    fn file_errors_name_file_and_line_and_quote_the_text() {
        let table = [
            (
                "trigger memory:some:15O000:1s",
                ":1: invalid trigger 'memory:some:15O000:1s'",
            ),
            ("\n\ntriger cpu:some:1:2s", ":3: unknown directive 'triger'"),
            ("trigger", ":1: 'trigger' needs a value (in 'trigger')"),
            ("facility nope", ":1: unknown facility 'nope': use kern"),
            ("repeat soon", ":1: invalid repeat 'soon' is not a duration"),
            (
                "stderr maybe",
                ":1: 'maybe' is not yes or no (in 'stderr maybe')",
            ),
        ];
        for (text, expected) in table {
            let error = file(text).unwrap_err();
            assert_eq!(error.exit, Exit::Config, "{text}");
            assert!(
                error.message.starts_with("/etc/psi-syslogd.conf:")
                    && error.message.contains(expected),
                "{text}: {}",
                error.message
            );
        }
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let file = file("trigger memory:some:10%:2s\nfacility local3\nident fromfile\nrepeat 5m\n")
            .unwrap();
        let args: Vec<OsString> = ["-t", "cpu:some:50%:2s", "--ident", "fromcli"]
            .iter()
            .map(OsString::from)
            .collect();
        let Command::Run(source) = parse(&args).unwrap() else {
            panic!()
        };
        let config = merge(
            &source.command_line,
            file.clone(),
            &Fixture::new("config").roots(),
        )
        .unwrap();
        assert_eq!(config.triggers.len(), 1);
        assert_eq!(config.triggers[0].to_string(), "cpu:some:1000000:2000000");
        assert_eq!(config.ident, "fromcli");
        assert_eq!(config.facility as u8, Facility::LOG_LOCAL3 as u8);
        assert_eq!(config.pacing.repeat_us, 300_000_000);
        let config = merge(&Settings::default(), file, &Fixture::new("config").roots()).unwrap();
        assert_eq!(config.triggers[0].to_string(), "memory:some:200000:2000000");
    }

    /// A trigger's cgroup is named relative to the cgroup2 mount the roots find (a full
    /// path under it is shortened; the mount itself is the root group, system-wide), and
    /// without a mount a cgroup trigger cannot load, while a system-wide one can.
    #[test]
    fn cgroups_are_named_relative_to_the_mount_of_the_roots() {
        let fixture = Fixture::new("config-cgroups");
        let mount = fixture.cgroup().display().to_string();
        let config = run_on(
            &fixture,
            &[
                "-t",
                &format!("cpu:some:1ms:2s:{mount}/system.slice/x.service/"),
                "-t",
                "io:some:1ms:2s:/a//b",
                "-t",
                &format!("memory:some:1ms:2s:{mount}"),
                "-t",
                "memory:full:1ms:2s:/elsewhere/*.scope",
            ],
        )
        .unwrap();
        let shown: Vec<String> = config.triggers.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "cpu:some:1000:2000000:/system.slice/x.service",
                "io:some:1000:2000000:/a//b",
                "memory:some:1000:2000000",
                "memory:full:1000:2000000:/elsewhere/*.scope",
            ]
        );
        fixture.write("proc/self/mountinfo", "1 0 0:1 / / rw - ext4 /dev/vda rw\n");
        let error = run_on(&fixture, &["-t", "cpu:some:1ms:2s:/a"]).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            format!(
                "cannot watch cgroup triggers: no cgroup2 filesystem in {}/self/mountinfo: \
                 mount cgroup2 (e.g. boot with systemd.unified_cgroup_hierarchy=1)",
                fixture.proc().display()
            )
        );
        assert!(run_on(&fixture, &["-t", "cpu:some:1ms:2s"]).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_interval_us("90"), Ok(90_000_000));
        assert_eq!(parse_interval_us("90s"), Ok(90_000_000));
        assert_eq!(parse_interval_us("500ms"), Ok(500_000));
        assert_eq!(parse_interval_us("5m"), Ok(300_000_000));
        for bad in ["", "s", "1.5s", "-1", "1h", "1 s", "99999999999999m"] {
            assert!(parse_interval_us(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn render_reads_back() {
        let config = run(&[
            "-t",
            "io:full:20%:4s",
            "--repeat",
            "5m",
            "--heartbeat",
            "10s",
        ])
        .unwrap();
        let text = render(&config);
        let again = merge(
            &Settings::default(),
            file(&text).unwrap(),
            &Fixture::new("config").roots(),
        )
        .unwrap();
        assert_eq!(again.triggers, config.triggers);
        assert_eq!(again.pacing, config.pacing);
        assert_eq!(again.heartbeat_us, config.heartbeat_us);
    }

    #[test]
    fn the_command_line_output_replaces_the_files() {
        let file = file("socket /run/x.sock\n").unwrap();
        let args: Vec<OsString> = ["--stderr"].iter().map(OsString::from).collect();
        let Command::Run(source) = parse(&args).unwrap() else {
            panic!()
        };
        let config = merge(
            &source.command_line,
            file.clone(),
            &Fixture::new("config").roots(),
        )
        .unwrap();
        assert_eq!(config.output, Output::Stderr);
        let config = merge(&Settings::default(), file, &Fixture::new("config").roots()).unwrap();
        assert_eq!(config.output, Output::Syslog(Some("/run/x.sock".into())));
    }

    #[test]
    fn every_file_error_is_a_file_error() {
        let table = [
            ("ident bad:ident", ":1: invalid --ident \"bad:ident\""),
            ("repeat 1m\nrecover-after 0", ":2: --recover-after 0"),
            (
                "stderr\njournal",
                ": --stderr and --journal exclude each other",
            ),
            (
                "socket /x\nstderr yes",
                ": --socket '/x' does not go with --stderr",
            ),
        ];
        for (text, expected) in table {
            let error = file(text).unwrap_err();
            assert_eq!(error.exit, Exit::Config, "{text}");
            assert!(
                error.message.starts_with("/etc/psi-syslogd.conf")
                    && error.message.contains(expected),
                "{text}: {}",
                error.message
            );
        }
    }

    /// Found by tests/fuzz (config_file): a NUL in a trigger's cgroup passed the file's
    /// parser and was refused only when the triggers were merged, as a usage error (64)
    /// without FILE:LINE.
    #[test]
    fn a_nul_in_a_cgroup_is_a_file_error() {
        let error = file("ident x\ntrigger cpu:some:1ms:2s:/a\0b\n").unwrap_err();
        assert_eq!(error.exit, Exit::Config);
        assert!(
            error.message.starts_with(
                "/etc/psi-syslogd.conf:2: invalid trigger 'cpu:some:1ms:2s:/a\0b': \
                 cgroup '/a\0b' has a NUL byte"
            ),
            "{}",
            error.message
        );
    }

    /// Found by tests/fuzz (command_line): values the file's syntax cannot hold were
    /// rendered as lines that read back as something else (`ident #x` is `ident` and a
    /// comment; a newline in a socket path started a directive of its own).
    #[test]
    fn render_never_writes_what_reads_back_otherwise() {
        let config = run(&[
            "--ident",
            "#x",
            "--socket",
            "/run/a\ntrigger cpu:some:1ms:2s",
            "-t",
            "cpu:some:1ms:2s:/a #b",
            "-t",
            "io:some:1ms:2s",
        ])
        .unwrap();
        let text = render(&config);
        assert!(
            text.contains("# ident \"#x\": not written, the file cannot hold this value\n"),
            "{text}"
        );
        assert!(
            text.contains("# socket \"/run/a\\ntrigger cpu:some:1ms:2s\": not written"),
            "{text}"
        );
        assert!(text.contains("# trigger \"cpu:some:1000:2000000:/a #b\": not written"));
        assert!(text.contains("\ntrigger io:some:1000:2000000\n"), "{text}");
        let again = merge(
            &Settings::default(),
            file(&text).unwrap(),
            &Fixture::new("config").roots(),
        )
        .unwrap();
        assert_eq!(again.triggers, [config.triggers[1].clone()]);
        assert_eq!(again.ident, "psi-syslogd");
        assert_eq!(again.output, Output::Syslog(None));
    }
}
