//! Wires the modules together and maps every error to its exit status.

use std::process::ExitCode;

use psi_syslogd::config::{self, Command, Config, Output};
use psi_syslogd::error::{Error, Exit};
use psi_syslogd::event_loop::{self, Signals};
use psi_syslogd::message;
use psi_syslogd::sink::{self, Header, Sink};
use psi_syslogd::sys;
use psi_syslogd::trigger::Trigger;
use syslog::Severity;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let config = match config::parse(&args) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => return fail(&error, None),
    };
    let mut sink = match &config.output {
        Output::Stderr => Sink::Stderr,
        Output::Syslog(path) => {
            let header = Header {
                facility: config.facility,
                ident: config.ident.clone(),
                pid: std::process::id(),
            };
            let (sink, error) = Sink::syslog(header, path.clone());
            if let Some(e) = error {
                sink::write_stderr(&format!(
                    "psi-syslogd: cannot reach the syslog socket {} ({e}); lines that cannot be \
                     sent go to stderr until it can be reached",
                    sink.destination()
                ));
            }
            sink
        }
    };
    match run(&config, &mut sink) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error, Some(&mut sink)),
    }
}

fn run(config: &Config, sink: &mut Sink) -> Result<(), Error> {
    let mut signals = Signals::install().map_err(|e| {
        Error::new(
            Exit::OsError,
            format!("cannot install signal handlers: {e}"),
        )
    })?;
    let privileged = sys::has_cap_sys_resource().map_err(|e| {
        Error::new(
            Exit::OsError,
            format!("cannot read this process's capabilities (capget): {e}"),
        )
    })?;
    for spec in &config.triggers {
        spec.check_privilege(privileged)?;
    }
    let mut triggers = config
        .triggers
        .iter()
        .map(|spec| Trigger::arm(spec.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    sink.emit(Severity::LOG_INFO, &message::start(&config.triggers));
    let signal = event_loop::run(&mut triggers, sink, &mut signals)
        .map_err(|e| Error::new(Exit::OsError, format!("poll failed: {e}")))?;
    sink.emit(Severity::LOG_INFO, &message::stop(signal));
    Ok(())
}

/// Reports `error` on stderr, and to syslog when it is reachable, and gives its status.
fn fail(error: &Error, sink: Option<&mut Sink>) -> ExitCode {
    sink::write_stderr(&format!("psi-syslogd: {}", error.message));
    if let Some(sink) = sink.filter(|sink| !sink.is_stderr()) {
        let _ = sink.deliver(
            Severity::LOG_ERR,
            &message::error(error.exit.code(), &error.message),
        );
    }
    ExitCode::from(error.exit.code() as u8)
}
