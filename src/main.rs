//! Wires the modules together and maps every error to its exit status.

use std::io::Write;
use std::process::ExitCode;

use psi_syslogd::check;
use psi_syslogd::config::{self, Command, Config, Output, Source};
use psi_syslogd::error::{Error, Exit};
use psi_syslogd::event_loop::Daemon;
use psi_syslogd::message;
use psi_syslogd::notify::Notifier;
use psi_syslogd::report;
use psi_syslogd::roots::Roots;
use psi_syslogd::signals::Signals;
use psi_syslogd::sink::{self, Header, Sink};
use syslog::Severity;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let roots = Roots::host();
    match config::parse(&args) {
        Ok(Command::Text(text)) => print(&text),
        Ok(Command::Print(cgroups)) => match report::table(&cgroups, &roots) {
            Ok(table) => print(&table),
            Err(error) => fail(&error, None),
        },
        Ok(Command::Check(source)) => match check::check(&source, &roots) {
            Ok(report) => print(&report),
            Err(error) => fail(&error, None),
        },
        Ok(Command::Run(source)) => run(source, roots),
        Err(error) => fail(&error, None),
    }
}

fn run(source: Source, roots: Roots) -> ExitCode {
    let config = match config::load(&source, &roots) {
        Ok(config) => config,
        Err(error) => return fail(&error, None),
    };
    let sink = open_sink(&config);
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            let error = Error::new(
                Exit::OsError,
                format!("cannot install signal handlers: {e}"),
            );
            return fail(&error, Some(sink));
        }
    };
    let mut daemon = match Daemon::start(source, config, roots, sink, signals, Notifier::from_env())
    {
        Ok(daemon) => daemon,
        Err((error, sink)) => return fail(&error, Some(sink)),
    };
    let result = daemon.run();
    daemon.stopping();
    match result {
        Ok(signal) => {
            daemon.sink.emit(Severity::LOG_INFO, &message::stop(signal));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let error = Error::new(Exit::OsError, format!("poll failed: {e}"));
            fail(&error, Some(daemon.sink))
        }
    }
}

fn open_sink(config: &Config) -> Sink {
    let header = Header {
        facility: config.facility,
        ident: config.ident.clone(),
        pid: std::process::id(),
    };
    let (mut sink, error) = match &config.output {
        Output::Stderr => return Sink::Stderr,
        Output::Syslog(path) => Sink::syslog(header, path.clone()),
        Output::Journal => Sink::journal(header, None),
    };
    sink.fit_queue(config.triggers.len());
    if let Some(e) = error {
        sink::write_stderr(Severity::LOG_WARNING, &sink.unreachable_note(&e));
    }
    sink
}

/// Writes `text` to stdout. A failed write (a full disk, a closed pipe) is reported and
/// exits 71: `print!` would panic there.
fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let error = Error::new(
                Exit::OsError,
                format!("cannot write to standard output: {e}"),
            );
            fail(&error, None)
        }
    }
}

/// Reports `error` on stderr, and to syslog when it is reachable, and gives its status.
fn fail(error: &Error, sink: Option<Sink>) -> ExitCode {
    sink::write_stderr(
        Severity::LOG_ERR,
        &format!("psi-syslogd: {}", error.message),
    );
    if let Some(mut sink) = sink.filter(|sink| !sink.is_stderr()) {
        let line = message::error(error.exit.code(), &error.message);
        let _ = sink.deliver(Severity::LOG_ERR, &line);
    }
    ExitCode::from(error.exit.code() as u8)
}
