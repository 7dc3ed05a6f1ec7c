//! The configuration: the command line (args.rs) and the file (file.rs) share one
//! vocabulary (directives.rs: a directive per long option), are parsed strictly, and
//! merge here with the command line winning; render.rs writes the result back in the
//! file's syntax. Command-line errors exit 64, file errors 78 with FILE:LINE, a missing
//! file 66.

mod args;
mod directives;
mod file;
mod render;

use std::path::PathBuf;

use syslog::Facility;

use crate::episode::Pacing;
use crate::error::{Error, Exit};
use crate::pattern::Pattern;
use crate::roots::Roots;
use crate::spec::Spec;

pub use args::parse;
pub use directives::{DIRECTIVES, Directive, Settings, Takes, facility_name, parse_interval_us};
pub use file::parse_file;
pub use render::render;

/// Triggers armed when none is given. Every window is 2 s, so they arm without
/// CAP_SYS_RESOURCE; the thresholds are psi-notify's long-tuned avg10 alerting levels
/// (cpu some 50%, memory some 10%, io full 15%), and memory some 10% of 2 s is the
/// 200 ms / 2 s memory trigger systemd documents. README.md gives the reasoning.
pub const DEFAULT_TRIGGERS: [&str; 3] = ["memory:some:10%:2s", "io:full:15%:2s", "cpu:some:50%:2s"];
/// One reminder a minute while an episode lasts.
pub const DEFAULT_REPEAT_US: u64 = 60_000_000;

/// Where the event lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A syslog socket; `None` means the default sockets, in order.
    Syslog(Option<String>),
    Stderr,
    /// systemd-journald's native protocol.
    Journal,
}

/// Where the configuration comes from; kept to read it again on SIGHUP.
#[derive(Clone, Debug)]
pub struct Source {
    pub file: Option<PathBuf>,
    pub(super) command_line: Settings,
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

/// Reads the file (if any) and merges it under the command line; the cgroups of
/// triggers are named relative to the cgroup2 mount of `roots`. Called at start and on
/// every SIGHUP.
pub fn load(source: &Source, roots: &Roots) -> Result<Config, Error> {
    let file = match &source.file {
        None => Settings::default(),
        Some(path) => parse_file(path, &file::read_file(path)?)?,
    };
    merge(&source.command_line, file, roots)
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
            let given = spec.cgroup.take();
            spec.cgroup = given.and_then(|given| given.relative_to(mount).map(Box::new));
        }
    }
    // The output is one setting in three words: the command line's, if it says any of
    // them, replaces the file's entirely, so `--stderr` overrides a file's `socket`.
    // Both sources were checked on their own (`output_of`), so this cannot fail.
    let output = if c.stderr.is_some() || c.journal.is_some() || c.socket.is_some() {
        directives::output_of(c.stderr, c.journal, c.socket).map_err(usage)?
    } else {
        directives::output_of(file.stderr, file.journal, file.socket).map_err(usage)?
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

fn usage(message: String) -> Error {
    Error::new(Exit::Usage, message)
}

#[cfg(test)]
mod tests;
