//! The command line: argh's `Args` (the options, their help text, --help itself) and
//! what a command line asks for (`Command`). Its options are the ones directives.rs
//! lists, and its settings go through the same setters as the file's, in the order
//! that decides which of several errors is said.

use std::ffi::OsString;
use std::path::PathBuf;

use argh::FromArgs;

use super::directives::{self, DIRECTIVES, Settings, Takes};
use super::{Command, Source, usage};
use crate::error::Error;
use crate::pattern::Pattern;
use crate::spec::Spec;

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
    for i in 0..strings.len() {
        if strings[i] == "-h" && (i == 0 || !takes_value(strings[i - 1])) {
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
            named.extend(spec.cgroup.map(|cgroup| *cgroup));
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

/// Whether `arg` is an option that takes a value (`-t`, `--socket`, ...).
fn takes_value(arg: &str) -> bool {
    DIRECTIVES
        .iter()
        .filter(|d| d.takes == Takes::Value)
        .any(|d| {
            arg.strip_prefix("--") == Some(d.name)
                || d.short.is_some_and(|short| {
                    let mut chars = arg.chars();
                    chars.next() == Some('-')
                        && chars.next() == Some(short)
                        && chars.next().is_none()
                })
        })
}

/// The settings of the command line, through the directives' own setters; checked in
/// this order, so that of several errors the same one is said.
fn settings_from_args(args: Args) -> Result<Settings, String> {
    fn set(settings: &mut Settings, name: &str, value: &str) -> Result<(), String> {
        directives::apply(settings, name, &format!("--{name}"), value)
    }
    let mut settings = Settings::default();
    if let Some(ident) = &args.ident {
        set(&mut settings, "ident", ident)?;
    }
    if let Some(socket) = &args.socket {
        set(&mut settings, "socket", socket)?;
    }
    for (name, on) in [("stderr", args.stderr), ("journal", args.journal)] {
        if on {
            set(&mut settings, name, "")?;
        }
    }
    let output = (settings.stderr, settings.journal, settings.socket.clone());
    directives::output_of(output.0, output.1, output.2)?;
    for text in &args.trigger {
        set(&mut settings, "trigger", text)?;
    }
    let values = [
        ("facility", &args.facility),
        ("repeat", &args.repeat),
        ("recover-after", &args.recover_after),
        ("heartbeat", &args.heartbeat),
    ];
    for (name, value) in values {
        if let Some(value) = value {
            set(&mut settings, name, value)?;
        }
    }
    if args.wait_for_cgroups {
        set(&mut settings, "wait-for-cgroups", "")?;
    }
    Ok(settings)
}
