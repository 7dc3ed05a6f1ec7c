//! The event loop: one poll over the signal pipe, every armed trigger and (while a
//! cgroup is awaited) one inotify descriptor. Its timeout is the nearest deadline of an
//! active episode, the heartbeat or a delivery retry; with none, poll waits forever and
//! an idle daemon makes no system calls.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use syslog::Severity;

use crate::cgroup::Watcher;
use crate::config::{self, Config, Source};
use crate::episode::Action;
use crate::error::{Error, Exit};
use crate::message::{self, Line};
use crate::notify::Notifier;
use crate::sink::Sink;
use crate::sys;
use crate::trigger::{Notification, Trigger};

/// The self-pipe that turns signals into a readable descriptor in the poll set, and
/// the flags that say which arrived (set before the pipe is written: handlers run in
/// the order they were registered).
pub struct Signals {
    wake: UnixStream,
    /// The number of the stop signal received, 0 for none.
    stop: Arc<AtomicUsize>,
    reload: Arc<AtomicBool>,
    status: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. Call before arming, so a signal that arrives while the
    /// triggers are armed is acted on at the first turn of the loop.
    pub fn install() -> io::Result<Signals> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let signals = Signals {
            wake,
            stop: Arc::new(AtomicUsize::new(0)),
            reload: Arc::new(AtomicBool::new(false)),
            status: Arc::new(AtomicBool::new(false)),
        };
        for signal in [libc::SIGTERM, libc::SIGINT] {
            signal_hook::flag::register_usize(signal, Arc::clone(&signals.stop), signal as usize)?;
        }
        signal_hook::flag::register(libc::SIGHUP, Arc::clone(&signals.reload))?;
        signal_hook::flag::register(libc::SIGUSR1, Arc::clone(&signals.status))?;
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            signal_hook::low_level::pipe::register(signal, wake_writer.try_clone()?)?;
        }
        Ok(signals)
    }

    fn drain(&mut self) {
        let mut buffer = [0u8; 64];
        while matches!(self.wake.read(&mut buffer), Ok(n) if n > 0) {}
    }

    fn stop_requested(&self) -> Option<&'static str> {
        match self.stop.load(Ordering::SeqCst) as libc::c_int {
            0 => None,
            libc::SIGINT => Some("SIGINT"),
            _ => Some("SIGTERM"),
        }
    }
}

/// The running daemon.
pub struct Daemon {
    source: Source,
    config: Config,
    triggers: Vec<Trigger>,
    pub sink: Sink,
    signals: Signals,
    privileged: bool,
    /// Present only while some cgroup trigger waits for its group.
    watcher: Option<Watcher>,
    started_us: u64,
    next_heartbeat_us: Option<u64>,
    pollfds: Vec<libc::pollfd>,
    /// The supervisor's notify socket (systemd Type=notify), when there is one.
    notifier: Option<Notifier>,
    next_watchdog_us: Option<u64>,
}

impl Daemon {
    /// Arms every trigger of `config`; nothing runs if one fails.
    #[allow(clippy::result_large_err)]
    pub fn start(
        source: Source,
        config: Config,
        sink: Sink,
        signals: Signals,
        notifier: Option<Notifier>,
    ) -> Result<Daemon, (Error, Sink)> {
        let privileged = match sys::has_cap_sys_resource() {
            Ok(privileged) => privileged,
            Err(e) => {
                let error = Error::new(
                    Exit::OsError,
                    format!("cannot read this process's capabilities (capget): {e}"),
                );
                return Err((error, sink));
            }
        };
        let mut daemon = Daemon {
            source,
            triggers: Vec::new(),
            sink,
            signals,
            privileged,
            watcher: None,
            started_us: sys::monotonic_us(),
            next_heartbeat_us: None,
            pollfds: Vec::new(),
            config: config.clone(),
            notifier,
            next_watchdog_us: None,
        };
        match daemon.arm_set(&config, Vec::new()) {
            Ok((triggers, _)) => daemon.triggers = triggers,
            Err((error, _)) => return Err((error, daemon.sink)),
        }
        daemon.next_heartbeat_us = config.heartbeat_us.map(|us| daemon.started_us + us);
        daemon
            .sink
            .emit(Severity::LOG_INFO, &message::start(&config.triggers));
        for trigger in daemon.triggers.iter().filter(|t| t.fd.is_none()) {
            daemon
                .sink
                .emit(Severity::LOG_NOTICE, &message::waiting(&trigger.spec));
        }
        daemon.rearm_waiting();
        // Ready only now: every trigger is armed and the start line is out.
        daemon.notify_ready();
        daemon.next_watchdog_us = daemon
            .notifier
            .as_ref()
            .and_then(Notifier::watchdog_interval_us)
            .map(|interval| daemon.started_us + interval);
        Ok(daemon)
    }

    /// Arms the triggers of `config`, reusing those of `old` whose spec is unchanged
    /// (their episodes carry on); returns them and how many were reused. On an error
    /// the newly armed are closed and `old` comes back whole.
    #[allow(clippy::type_complexity)]
    fn arm_set(
        &self,
        config: &Config,
        old: Vec<Trigger>,
    ) -> Result<(Vec<Trigger>, usize), (Error, Vec<Trigger>)> {
        enum Slot {
            Reuse(usize),
            New(Trigger),
        }
        for spec in &config.triggers {
            if let Err(error) = spec.check_privilege(self.privileged) {
                return Err((error, old));
            }
        }
        let mut used = vec![false; old.len()];
        let mut plan = Vec::with_capacity(config.triggers.len());
        for spec in &config.triggers {
            let path = spec.path(&config.cgroup_mount);
            let reuse = (0..old.len()).find(|&i| {
                // A trigger still waiting for its group is reused only while waiting
                // is allowed; otherwise the missing group fails the reload, as at start.
                !used[i]
                    && old[i].spec == *spec
                    && old[i].path == path
                    && (old[i].fd.is_some() || config.wait_for_cgroups)
            });
            if let Some(index) = reuse {
                used[index] = true;
                plan.push(Slot::Reuse(index));
                continue;
            }
            match Trigger::arm(spec.clone(), path.clone()) {
                Ok(trigger) => plan.push(Slot::New(trigger)),
                Err(error)
                    if config.wait_for_cgroups
                        && spec.cgroup.is_some()
                        && error.exit == Exit::Unavailable =>
                {
                    plan.push(Slot::New(Trigger::waiting(spec.clone(), path)));
                }
                Err(error) => return Err((error, old)),
            }
        }
        let kept = used.iter().filter(|&&u| u).count();
        let mut old: Vec<Option<Trigger>> = old.into_iter().map(Some).collect();
        let triggers = plan
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Reuse(index) => old[index].take(),
                Slot::New(trigger) => Some(trigger),
            })
            .collect();
        Ok((triggers, kept))
    }

    /// Runs until a stop signal; returns its name.
    pub fn run(&mut self) -> io::Result<&'static str> {
        loop {
            if let Some(signal) = self.signals.stop_requested() {
                return Ok(signal);
            }
            if self.signals.reload.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            if self.signals.status.swap(false, Ordering::SeqCst) {
                self.status();
            }
            let now = sys::monotonic_us();
            self.timers(now);
            let timeout = self.poll_timeout_ms(now);
            self.build_pollfds();
            match sys::poll(&mut self.pollfds, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.pollfds[0].revents != 0 {
                self.signals.drain();
            }
            let now = sys::monotonic_us();
            for index in 0..self.triggers.len() {
                let revents = self.pollfds[1 + index].revents;
                if revents & (libc::POLLERR | libc::POLLNVAL | libc::POLLHUP) != 0 {
                    // Errors first: a descriptor in error (its cgroup removed) stays
                    // ready forever, so it is closed, or the loop would spin.
                    self.lose(
                        index,
                        "the kernel reported an error on the trigger (cgroup removed?)",
                    );
                } else if revents & libc::POLLPRI != 0 {
                    self.notification(index, now);
                }
            }
            let watcher_ready = self
                .pollfds
                .get(1 + self.triggers.len())
                .is_some_and(|slot| slot.revents != 0);
            if watcher_ready {
                if let Some(watcher) = &self.watcher {
                    watcher.drain();
                }
                self.rearm_waiting();
            }
        }
    }

    /// The signal pipe, one slot per trigger (-1, which poll ignores, while it has no
    /// descriptor), then the inotify descriptor if a cgroup is awaited. Rebuilt in place:
    /// no allocation once the vector has grown to size. Triggers ask for POLLPRI only:
    /// psi_trigger_poll() always reports DEFAULT_POLLMASK (POLLIN among it), so POLLIN
    /// on a trigger would make poll return at once, forever.
    fn build_pollfds(&mut self) {
        let slot = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        self.pollfds.clear();
        self.pollfds
            .push(slot(self.signals.wake.as_raw_fd(), libc::POLLIN));
        for trigger in &self.triggers {
            let fd = trigger.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
            self.pollfds.push(slot(fd, libc::POLLPRI));
        }
        if let Some(watcher) = &self.watcher {
            self.pollfds.push(slot(watcher.raw_fd(), libc::POLLIN));
        }
    }

    /// Milliseconds to the nearest deadline, rounded up so poll never wakes early and
    /// spins; -1 (forever) when nothing is due.
    fn poll_timeout_ms(&self, now: u64) -> libc::c_int {
        let pacing = self.config.pacing;
        let deadline = self
            .triggers
            .iter()
            .filter_map(|t| t.episode.deadline_us(t.spec.window_us, pacing))
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

    /// Ends episodes and sends reminders and heartbeats that are due.
    fn timers(&mut self, now: u64) {
        let pacing = self.config.pacing;
        for index in 0..self.triggers.len() {
            let trigger = &mut self.triggers[index];
            let due = trigger
                .episode
                .deadline_us(trigger.spec.window_us, pacing)
                .is_some_and(|deadline| deadline <= now);
            let action = due
                .then(|| trigger.episode.tick(now, trigger.spec.window_us, pacing))
                .flatten();
            if let Some(action) = action {
                self.log_action(index, action);
            }
        }
        if let (Some(due), Some(interval)) = (self.next_heartbeat_us, self.config.heartbeat_us)
            && due <= now
        {
            {
                let active = self
                    .triggers
                    .iter()
                    .filter(|t| t.episode.deadline_us(t.spec.window_us, pacing).is_some())
                    .count();
                let line = message::heartbeat(self.triggers.len(), active, now - self.started_us);
                self.sink.emit(Severity::LOG_INFO, &line);
                let mut next = due + interval;
                while next <= now {
                    next += interval;
                }
                self.next_heartbeat_us = Some(next);
            }
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
            let armed = self.triggers.iter().filter(|t| t.fd.is_some()).count();
            let waiting = self.triggers.len() - armed;
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

    fn notification(&mut self, index: usize, now: u64) {
        match self.triggers[index].notification() {
            Notification::Crossing { reading, stall_us } => {
                let pacing = self.config.pacing;
                let trigger = &mut self.triggers[index];
                if trigger.episode.crossing(now, &reading, pacing) == Some(Action::Pressure) {
                    let line = message::pressure(&trigger.spec, &reading, stall_us);
                    self.sink.emit(Severity::LOG_WARNING, &line);
                }
            }
            Notification::Spurious => {}
            Notification::Unreadable { reason } => self.lose(index, &reason),
        }
    }

    fn log_action(&mut self, index: usize, action: Action) {
        let trigger = &self.triggers[index];
        let (severity, line): (Severity, Line) = match action {
            Action::Pressure => (
                Severity::LOG_WARNING,
                message::pressure(&trigger.spec, &trigger.last_reading, 0),
            ),
            Action::Ongoing {
                duration_us,
                crossings,
            } => (
                Severity::LOG_WARNING,
                message::ongoing(&trigger.spec, &trigger.last_reading, duration_us, crossings),
            ),
            Action::Recovered {
                duration_us,
                crossings,
                peak_avg10,
            } => (
                Severity::LOG_NOTICE,
                message::recovered(&trigger.spec, duration_us, crossings, peak_avg10),
            ),
        };
        self.sink.emit(severity, &line);
    }

    /// Closes a trigger whose descriptor failed; a cgroup trigger waits for its group.
    fn lose(&mut self, index: usize, reason: &str) {
        self.triggers[index].fd = None;
        if let Some(action) = self.triggers[index].episode.end() {
            self.log_action(index, action);
        }
        let line = message::lost(&self.triggers[index].spec, reason);
        self.sink.emit(Severity::LOG_ERR, &line);
        self.rearm_waiting();
    }

    /// Tries to arm every trigger without a descriptor: a system-wide one once more (its
    /// file does not come and go, so nothing watches it), a cgroup one whenever its group
    /// may have appeared. The watches are put in place before each round of attempts, so
    /// a group created at any moment is caught either by the attempt or by an inotify
    /// event; a round that arms something changes what is watched, so another round
    /// follows.
    fn rearm_waiting(&mut self) {
        loop {
            self.watch_waiting();
            let mut armed_any = false;
            for index in 0..self.triggers.len() {
                let trigger = &mut self.triggers[index];
                if trigger.fd.is_some() {
                    continue;
                }
                if trigger.rearm().is_ok() {
                    armed_any = true;
                    let line = message::rearmed(&trigger.spec);
                    self.sink.emit(Severity::LOG_NOTICE, &line);
                }
            }
            if !armed_any {
                return;
            }
        }
    }

    /// Keeps one inotify watch on the nearest existing ancestor of every awaited
    /// group, and no inotify descriptor at all when none is awaited. Re-created from
    /// scratch on each change: groups come and go rarely.
    fn watch_waiting(&mut self) {
        let waiting: Vec<_> = self
            .triggers
            .iter()
            .filter(|t| t.fd.is_none() && t.spec.cgroup.is_some())
            .filter_map(|t| t.path.parent().map(|p| p.to_path_buf()))
            .collect();
        self.watcher = None;
        if waiting.is_empty() {
            return;
        }
        match Watcher::new() {
            Ok(watcher) => {
                for dir in &waiting {
                    if let Err(e) = watcher.watch_for(dir) {
                        let mut line = Line::event("warning");
                        line.text(
                            "message",
                            &format!("cannot watch for {}: {e}", dir.display()),
                        );
                        self.sink.emit(Severity::LOG_WARNING, &line);
                    }
                }
                self.watcher = Some(watcher);
            }
            Err(e) => {
                let mut line = Line::event("warning");
                line.text(
                    "message",
                    &format!(
                        "cannot create an inotify instance: {e}; lost cgroups will not be re-armed"
                    ),
                );
                self.sink.emit(Severity::LOG_WARNING, &line);
            }
        }
    }

    /// SIGHUP: read the configuration again, arm the new set before closing the old.
    fn reload(&mut self) {
        if let Some(notifier) = &self.notifier {
            notifier.reloading();
        }
        self.apply_reload();
        // systemd waits for READY=1 after RELOADING=1, whether the reload worked or not.
        self.notify_ready();
    }

    fn apply_reload(&mut self) {
        let config = match config::load(&self.source) {
            Ok(config) => config,
            Err(error) => {
                self.sink
                    .emit(Severity::LOG_ERR, &message::reload_failed(&error.message));
                return;
            }
        };
        let old = std::mem::take(&mut self.triggers);
        match self.arm_set(&config, old) {
            Ok((triggers, kept)) => {
                self.triggers = triggers;
                self.sink.fit_queue(self.triggers.len());
                if config.heartbeat_us != self.config.heartbeat_us {
                    self.next_heartbeat_us = config.heartbeat_us.map(|us| sys::monotonic_us() + us);
                }
                self.config = config;
                let line = message::reload(self.triggers.len(), kept);
                self.sink.emit(Severity::LOG_INFO, &line);
                for trigger in self.triggers.iter().filter(|t| t.fd.is_none()) {
                    self.sink
                        .emit(Severity::LOG_NOTICE, &message::waiting(&trigger.spec));
                }
                self.rearm_waiting();
            }
            Err((error, old)) => {
                self.triggers = old;
                self.sink
                    .emit(Severity::LOG_ERR, &message::reload_failed(&error.message));
            }
        }
    }

    /// SIGUSR1: one line per trigger.
    fn status(&mut self) {
        let now = sys::monotonic_us();
        for trigger in &mut self.triggers {
            let state = match trigger.fd {
                None => "lost",
                Some(_) => trigger.episode.name(),
            };
            let reading = trigger.refresh();
            let line = message::status(
                &trigger.spec,
                state,
                reading.as_ref(),
                trigger.episode.duration_us(now),
            );
            self.sink.emit(Severity::LOG_INFO, &line);
        }
    }
}
