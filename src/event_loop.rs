//! The event loop: one poll over the signal pipe, every trigger and (while a cgroup is
//! awaited or a pattern watched) one inotify descriptor. Its timeout is the nearest
//! deadline of an active episode, the heartbeat, the watchdog or a delivery retry; with
//! none, poll waits forever and an idle daemon makes no system calls.
//!
//! The trigger set decides and returns what to say; the loop alone (and main, for the
//! last words) turns events into lines and hands them to the sink.

use std::io;

use syslog::Severity;

use crate::config::{self, Config, Source};
use crate::error::{Error, Exit};
use crate::message::{self, Event};
use crate::notify::Notifier;
use crate::roots::Roots;
use crate::signals::Signals;
use crate::sink::Sink;
use crate::sys;
use crate::trigger_set::TriggerSet;

/// The running daemon.
pub struct Daemon {
    source: Source,
    config: Config,
    /// Where the kernel's files are, for the reloads.
    roots: Roots,
    triggers: TriggerSet,
    pub sink: Sink,
    signals: Signals,
    /// The supervisor's notify socket (systemd Type=notify), when there is one.
    notifier: Option<Notifier>,
    started_us: u64,
    next_heartbeat_us: Option<u64>,
    next_watchdog_us: Option<u64>,
    pollfds: Vec<libc::pollfd>,
    /// What the trigger set said in the current turn, kept to be reused: a crossing
    /// allocates nothing.
    events: Vec<Event>,
}

impl Daemon {
    /// Arms every trigger of `config`, says so, and tells the supervisor it is ready;
    /// nothing runs if a trigger fails.
    #[allow(clippy::result_large_err)]
    pub fn start(
        source: Source,
        config: Config,
        roots: Roots,
        mut sink: Sink,
        signals: Signals,
        notifier: Option<Notifier>,
    ) -> Result<Daemon, (Error, Sink)> {
        let privileged = match sys::has_cap_sys_resource() {
            Ok(privileged) => privileged,
            Err(e) => {
                let message = format!("cannot read this process's capabilities (capget): {e}");
                return Err((Error::new(Exit::OsError, message), sink));
            }
        };
        let triggers = match TriggerSet::start(&config, &roots, privileged) {
            Ok(triggers) => triggers,
            Err(error) => return Err((error, sink)),
        };
        sink.fit_queue(triggers.triggers().len());
        sink.emit(Severity::LOG_INFO, &message::start(&config.triggers));
        let mut daemon = Daemon {
            source,
            next_heartbeat_us: None,
            config,
            roots,
            triggers,
            sink,
            signals,
            next_watchdog_us: None,
            started_us: 0,
            pollfds: Vec::new(),
            events: Vec::new(),
            notifier,
        };
        daemon.triggers.settle(&mut daemon.events);
        daemon.say();
        daemon.fit_queue();
        let started_us = sys::monotonic_us();
        daemon.started_us = started_us;
        daemon.next_heartbeat_us = daemon.config.heartbeat_us.map(|us| started_us + us);
        // Ready only now: every trigger is armed and the start line is out.
        daemon.notify_ready();
        daemon.next_watchdog_us = daemon
            .notifier
            .as_ref()
            .and_then(Notifier::watchdog_interval_us)
            .map(|interval| started_us + interval);
        Ok(daemon)
    }

    /// Runs until a stop signal; returns its name.
    pub fn run(&mut self) -> io::Result<&'static str> {
        loop {
            if let Some(signal) = self.signals.stop_requested() {
                return Ok(signal);
            }
            if self.signals.take_reload() {
                self.reload();
            }
            if self.signals.take_status() {
                self.triggers.status(sys::monotonic_us(), &mut self.events);
                self.say();
            }
            let now = sys::monotonic_us();
            self.timers(now);
            let timeout = self.poll_timeout_ms(now);
            self.pollfds.clear();
            self.pollfds.push(self.signals.pollfd());
            self.triggers.pollfds(&mut self.pollfds);
            match sys::poll(&mut self.pollfds, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.pollfds[0].revents != 0 {
                self.signals.drain();
            }
            let (now, pacing) = (sys::monotonic_us(), self.config.pacing);
            let ready = &self.pollfds[1..];
            self.triggers.dispatch(ready, now, pacing, &mut self.events);
            self.say();
            self.fit_queue();
        }
    }

    /// Turns what the trigger set said into lines, in order, and sends them.
    fn say(&mut self) {
        for event in self.events.drain(..) {
            self.sink.emit(event.severity(), &event.line());
        }
    }

    /// After the set looked at the cgroups again: the queue holds a line per trigger,
    /// however many there are now.
    fn fit_queue(&mut self) {
        self.sink.fit_queue(self.triggers.triggers().len());
    }

    /// Milliseconds to the nearest deadline, rounded up so poll never wakes early and
    /// spins; -1 (forever) when nothing is due.
    fn poll_timeout_ms(&self, now: u64) -> libc::c_int {
        let deadline = self
            .triggers
            .deadline_us(self.config.pacing)
            .into_iter()
            .chain(self.next_heartbeat_us)
            .chain(self.next_watchdog_us)
            .chain(self.sink.retry_deadline_us())
            .min();
        match deadline {
            None => -1,
            Some(deadline) => {
                let ms = deadline.saturating_sub(now).div_ceil(1000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        }
    }

    /// Ends episodes and sends reminders, heartbeats and watchdog pings that are due, and
    /// retries delivery.
    fn timers(&mut self, now: u64) {
        let pacing = self.config.pacing;
        self.triggers.tick(now, pacing, &mut self.events);
        self.say();
        if let (Some(due), Some(interval)) = (self.next_heartbeat_us, self.config.heartbeat_us)
            && due <= now
        {
            let line = message::heartbeat(
                self.triggers.triggers().len(),
                self.triggers.active(pacing),
                now - self.started_us,
            );
            self.sink.emit(Severity::LOG_INFO, &line);
            // Due times stay multiples of the interval from the start; missed ones are
            // skipped, not sent in a burst.
            let mut next = due + interval;
            while next <= now {
                next += interval;
            }
            self.next_heartbeat_us = Some(next);
        }
        if let (Some(due), Some(notifier)) = (self.next_watchdog_us, &self.notifier)
            && due <= now
        {
            notifier.watchdog();
            let interval = notifier.watchdog_interval_us().unwrap_or(1_000_000);
            self.next_watchdog_us = Some(now + interval);
        }
        self.sink.retry(now);
    }

    /// READY=1 with a one-line summary, to the supervisor if there is one.
    fn notify_ready(&self) {
        if let Some(notifier) = &self.notifier {
            let triggers = self.triggers.triggers();
            let armed = triggers.iter().filter(|t| t.is_armed()).count();
            let waiting = triggers.len() - armed;
            let mut status = format!(
                "{armed} trigger(s) armed, logging to {}",
                self.sink.destination()
            );
            if waiting > 0 {
                status.push_str(&format!(", {waiting} waiting for their cgroup"));
            }
            notifier.ready_with_status(&status);
        }
    }

    /// STOPPING=1, to the supervisor if there is one.
    pub fn stopping(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.stopping();
        }
    }

    /// SIGHUP: read the configuration again, arm the new set before closing the old.
    /// systemd waits for READY=1 after RELOADING=1, whether the reload worked or not.
    fn reload(&mut self) {
        if let Some(notifier) = &self.notifier {
            notifier.reloading();
        }
        let result = config::load(&self.source, &self.roots).and_then(|config| {
            let reloaded = self.triggers.reload(&config, &mut self.events)?;
            Ok((config, reloaded))
        });
        // The episodes of the triggers it closed end before its line.
        self.say();
        match result {
            Ok((config, reloaded)) => {
                if config.heartbeat_us != self.config.heartbeat_us {
                    self.next_heartbeat_us = config.heartbeat_us.map(|us| sys::monotonic_us() + us);
                }
                self.config = config;
                let line = message::reload(reloaded.triggers, reloaded.kept);
                self.sink.emit(Severity::LOG_INFO, &line);
                self.triggers.settle(&mut self.events);
                self.say();
                self.fit_queue();
            }
            Err(error) => {
                let line = message::reload_failed(&error.message);
                self.sink.emit(Severity::LOG_ERR, &line);
            }
        }
        self.notify_ready();
    }
}
