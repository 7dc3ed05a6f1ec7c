//! The command line: what the user can ask for, checked strictly, with exit status 64
//! and the offending text quoted for anything that does not parse.

use std::ffi::OsString;
use std::str::FromStr;

use argh::FromArgs;
use syslog::Facility;

use crate::error::{Error, Exit};
use crate::trigger::Spec;

/// Triggers armed when none is given. Every window is 2 s, so they arm without
/// CAP_SYS_RESOURCE; the thresholds are psi-notify's long-tuned avg10 alerting levels
/// (cpu some 50%, memory some 10%, io full 15%), and memory some 10% of 2 s is the
/// 200 ms / 2 s memory trigger systemd documents. README.md gives the reasoning.
pub const DEFAULT_TRIGGERS: [&str; 3] = ["memory:some:10%:2s", "io:full:15%:2s", "cpu:some:50%:2s"];

/// RFC 3164 limits the TAG to 32 characters.
const IDENT_MAX: usize = 32;

#[derive(FromArgs)]
/// Arm Linux pressure stall (PSI) triggers and log every real threshold crossing to
/// syslog, for the alert rules of rsyslog, syslog-ng, journald or BusyBox.
#[argh(
    example = "psi-syslogd -t memory:some:150000:1000000\npsi-syslogd -t memory:some:10%:2s -t io:full:20%:4s --facility local3",
    note = "SPEC is RESOURCE:KIND:THRESHOLD:WINDOW. RESOURCE is cpu, memory, io or irq (irq: full only); KIND is some or full. THRESHOLD and WINDOW are microseconds when bare, or take us, ms or s; THRESHOLD may be a percentage of WINDOW (10%). The kernel wants 0 < THRESHOLD <= WINDOW <= 10s, and without CAP_SYS_RESOURCE a WINDOW that is a multiple of 2s. Without -t: memory:some:10%:2s io:full:15%:2s cpu:some:50%:2s.",
    error_code(64, "bad option or trigger spec"),
    error_code(
        69,
        "PSI unavailable (no /proc/pressure, disabled, missing resource file)"
    ),
    error_code(71, "other operating system error"),
    error_code(77, "permission denied, or a window needing CAP_SYS_RESOURCE")
)]
struct Args {
    /// a trigger SPEC (repeatable), e.g. memory:some:150ms:1s
    #[argh(option, short = 't')]
    trigger: Vec<String>,

    /// the syslog socket (default: /dev/log, else /var/run/syslog or /var/run/log)
    #[argh(option)]
    socket: Option<String>,

    /// write the lines to stderr instead of syslog
    #[argh(switch)]
    stderr: bool,

    /// the syslog facility: daemon (default), user, local0 ... local7, ...
    #[argh(option)]
    facility: Option<String>,

    /// the syslog identifier, the program name in every line (default: psi-syslogd)
    #[argh(option)]
    ident: Option<String>,

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
}

/// Everything the daemon needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    pub triggers: Vec<Spec>,
    pub output: Output,
    pub facility: Facility,
    pub ident: String,
}

/// What the command line asks for.
pub enum Command {
    Run(Config),
    /// Print this text to stdout and exit 0 (--help, --version).
    Print(String),
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
    let parsed = match Args::from_args(&["psi-syslogd"], &strings) {
        Ok(parsed) => parsed,
        Err(early) => {
            return match early.status {
                Ok(()) => Ok(Command::Print(early.output)),
                Err(()) => Err(usage(format!(
                    "{}\nRun 'psi-syslogd --help' for usage.",
                    early.output.trim_end()
                ))),
            };
        }
    };
    if parsed.version {
        return Ok(Command::Print(format!(
            "psi-syslogd {}\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let texts: Vec<&str> = if parsed.trigger.is_empty() {
        DEFAULT_TRIGGERS.to_vec()
    } else {
        parsed.trigger.iter().map(String::as_str).collect()
    };
    let triggers = texts
        .into_iter()
        .map(Spec::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let output = match (parsed.stderr, parsed.socket) {
        (true, Some(path)) => {
            return Err(usage(format!(
                "--stderr and --socket '{path}' exclude each other: choose one"
            )));
        }
        (true, None) => Output::Stderr,
        (false, Some(path)) if path.is_empty() => {
            return Err(usage(
                "--socket '' is empty: give the path of a syslog socket".into(),
            ));
        }
        (false, socket) => Output::Syslog(socket),
    };
    let facility = match parsed.facility {
        None => Facility::LOG_DAEMON,
        Some(name) => Facility::from_str(&name).map_err(|()| {
            usage(format!(
                "unknown facility '{name}': use kern, user, mail, daemon, auth, syslog, lpr, \
                 news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock_daemon or local0 ... local7"
            ))
        })?,
    };
    let ident = parsed.ident.unwrap_or_else(|| "psi-syslogd".to_string());
    check_ident(&ident)?;
    Ok(Command::Run(Config {
        triggers,
        output,
        facility,
        ident,
    }))
}

/// The ident becomes the RFC 3164 TAG: printable ASCII, no space, ':' or brackets,
/// at most 32 characters, so receivers split the header where we mean them to.
fn check_ident(ident: &str) -> Result<(), Error> {
    let printable = ident
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b'[' | b']'));
    if ident.is_empty() || ident.len() > IDENT_MAX || !printable {
        return Err(usage(format!(
            "invalid --ident {ident:?}: use 1 to {IDENT_MAX} printable ASCII characters \
             without spaces, ':', '[' or ']'"
        )));
    }
    Ok(())
}

fn usage(message: String) -> Error {
    Error::new(Exit::Usage, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, Error> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(&args)? {
            Command::Run(config) => Ok(config),
            Command::Print(text) => panic!("unexpected print: {text}"),
        }
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
        ])
        .unwrap();
        assert_eq!(config.triggers.len(), 2);
        assert_eq!(config.output, Output::Syslog(Some("/tmp/x.sock".into())));
        assert_eq!(config.facility as u8, Facility::LOG_LOCAL3 as u8);
        assert_eq!(config.ident, "psi-test");
        assert_eq!(run(&["--stderr"]).unwrap().output, Output::Stderr);
    }

    #[test]
    fn usage_errors_quote_the_input() {
        let table: [(&[&str], &str); 9] = [
            (
                &["-t", "memory:some:15O000:1s"],
                "invalid trigger 'memory:some:15O000:1s'",
            ),
            (&["--facility", "daemons"], "unknown facility 'daemons'"),
            (&["--ident", "has space"], "invalid --ident \"has space\""),
            (&["--ident", ""], "invalid --ident \"\""),
            (&["--ident", "a:b"], "invalid --ident \"a:b\""),
            (
                &["--stderr", "--socket", "/x"],
                "--stderr and --socket '/x' exclude each other",
            ),
            (&["--socket", ""], "--socket '' is empty"),
            (&["--bogus"], "Unrecognized argument: --bogus"),
            (&["-t"], "No value provided for option '-t'"),
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
            ("-V", "psi-syslogd 0."),
            ("--version", "psi-syslogd 0."),
        ] {
            match parse(&[OsString::from(arg)]).unwrap() {
                Command::Print(text) => assert!(text.contains(expected), "{arg}: {text}"),
                Command::Run(_) => panic!("{arg} ran"),
            }
        }
    }
}
