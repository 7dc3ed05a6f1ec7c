//! The trigger set: every kernel trigger the daemon holds (system-wide, on a fixed
//! cgroup, and one per group that a cgroup pattern matches), the inotify watcher that
//! notices groups appear, arming at start, the reload diff, and what the event loop
//! needs from them: descriptors to poll, readiness to act on, and deadlines.
//!
//! Three kinds of trigger, by their cgroup:
//! - system-wide (`/proc/pressure/*`): armed at start, for good;
//! - a fixed group: armed at start (or awaited with --wait-for-cgroups); when the group
//!   goes the trigger is `lost`, and `rearmed` when the group comes back;
//! - a pattern: one *instance* per matching group. Groups come and go: a new one is
//!   `armed` as soon as it appears, a removed one is `removed`. Neither is an error.

use std::collections::HashSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use syslog::Severity;

use crate::cgroup::Watcher;
use crate::config::Config;
use crate::episode::{Action, Pacing};
use crate::error::{Error, Exit};
use crate::logfmt::Line;
use crate::message;
use crate::pattern::{Match, Pattern};
use crate::roots::{self, Roots};
use crate::sink::Sink;
use crate::spec::Spec;
use crate::sys;
use crate::trigger::{Notification, Refusal, Trigger};

/// A pattern that matches more groups than this with real-time triggers gets a warning:
/// the kernel runs one SCHED_FIFO `psimon` thread for every cgroup that has a trigger
/// armed with CAP_SYS_RESOURCE (kernel/sched/psi.c, `psi_rtpoll_worker`).
pub const REAL_TIME_WARN_GROUPS: usize = 32;

/// How often a rescan walks again at once when a directory vanished under it. A tree
/// torn down faster than that sends events on the watches that remain, and those
/// rescan again.
const SCAN_ATTEMPTS: usize = 4;

/// One configured spec.
struct Entry {
    spec: Rc<Spec>,
    /// Groups of a pattern the kernel refused a trigger on after start: said once each.
    refused: Vec<String>,
}

impl Entry {
    fn is_pattern(&self) -> bool {
        self.spec.is_pattern()
    }
}

/// Every trigger, and the watcher.
pub struct TriggerSet {
    entries: Vec<Entry>,
    /// Every trigger, instances of patterns among them; polled in this order.
    triggers: Vec<Trigger>,
    /// Present while some directory is watched: for a pattern, or an awaited group.
    watcher: Option<Watcher>,
    roots: Roots,
    wait_for_cgroups: bool,
    /// Whether this process holds CAP_SYS_RESOURCE: then its triggers are real-time.
    privileged: bool,
    /// The start line is out: instances armed from now on are announced.
    started: bool,
    /// Descriptors ran out in the last rescan: a matched group waits for one.
    starved: bool,
    /// The lack of descriptors was said; said again only after it ended.
    starvation_said: bool,
    /// The lack of an inotify instance was said.
    watcher_failure_said: bool,
    /// The soft descriptor limit was raised to the hard one already.
    raised_limit: bool,
    /// Lines for the log, said at the end of the operation that found them (after the
    /// start line, at start).
    pending: Vec<(Severity, Line)>,
}

/// What a successful reload did.
pub struct Reloaded {
    pub triggers: usize,
    pub kept: usize,
}

/// The arming plan of one spec during start or reload.
enum Slot {
    /// The old spec's triggers go on (an unchanged trigger).
    Keep(Rc<Spec>),
    New(Vec<Trigger>),
}

impl TriggerSet {
    /// Arms every trigger of `config`: each system-wide and fixed-cgroup trigger, and one
    /// per group that matches each pattern now. Nothing stays armed if one fails.
    pub fn start(config: &Config, roots: &Roots, privileged: bool) -> Result<TriggerSet, Error> {
        let mut set = TriggerSet {
            entries: Vec::new(),
            triggers: Vec::new(),
            watcher: None,
            roots: roots.clone(),
            wait_for_cgroups: config.wait_for_cgroups,
            privileged,
            started: false,
            starved: false,
            starvation_said: false,
            watcher_failure_said: false,
            raised_limit: false,
            pending: Vec::new(),
        };
        // The watcher first: when the triggers take every descriptor there is, it still
        // has its own, and a starved set still notices groups come and go.
        set.open_watcher(&config.triggers);
        let (entries, triggers, _) = set.arm_specs(&config.triggers, &mut Vec::new())?;
        set.entries = entries;
        set.triggers = triggers;
        set.warn_real_time();
        Ok(set)
    }

    /// After the start line, and after each reload's line: says which fixed groups are
    /// awaited and what arming found worth a warning, puts the watches in place, and
    /// from now on announces instances as they are armed. Groups made since the arming
    /// scan are found by this one (its watches go in before it lists) and announced:
    /// they were armed after the start.
    pub fn settle(&mut self, sink: &mut Sink) {
        self.say_waiting();
        self.started = true;
        self.rescan(sink);
    }

    /// Every trigger, in poll order.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Each spec with the triggers it has now and how many of them are armed.
    pub fn census(&self) -> Vec<(&Spec, usize, usize)> {
        self.entries
            .iter()
            .map(|entry| {
                let mine = self
                    .triggers
                    .iter()
                    .filter(|t| Rc::ptr_eq(&t.spec, &entry.spec));
                let (all, armed) = mine.fold((0, 0), |(all, armed), t| {
                    (all + 1, armed + usize::from(t.fd.is_some()))
                });
                (entry.spec.as_ref(), all, armed)
            })
            .collect()
    }

    /// Lines that arming found worth a warning and has not said yet (--check prints them).
    pub fn take_pending(&mut self) -> Vec<(Severity, Line)> {
        std::mem::take(&mut self.pending)
    }

    /// The descriptors to poll, in the order `dispatch` reads them back: one per trigger
    /// (-1, which poll skips, while it has none), then the watcher's. Triggers ask for
    /// POLLPRI only: psi_trigger_poll() always reports DEFAULT_POLLMASK (POLLIN among
    /// it), so POLLIN on a trigger would make poll return at once, forever.
    pub fn pollfds(&self, out: &mut Vec<libc::pollfd>) {
        let slot = |fd, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        for trigger in &self.triggers {
            let fd = trigger.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd());
            out.push(slot(fd, libc::POLLPRI));
        }
        if let Some(watcher) = &self.watcher {
            out.push(slot(watcher.raw_fd(), libc::POLLIN));
        }
    }

    /// Acts on what poll reported, `ready` laid out as `pollfds` made it: errors first
    /// (a descriptor in error, its cgroup removed, stays ready forever, so it is closed,
    /// or the loop would spin), then notifications, then the watcher.
    pub fn dispatch(
        &mut self,
        ready: &[libc::pollfd],
        now_us: u64,
        pacing: Pacing,
        sink: &mut Sink,
    ) {
        let mut closed = false;
        for index in 0..self.triggers.len() {
            let revents = ready.get(index).map_or(0, |slot| slot.revents);
            if revents & (libc::POLLERR | libc::POLLNVAL | libc::POLLHUP) != 0 {
                let reason = "the kernel reported an error on the trigger (cgroup removed?)";
                self.close(index, reason, sink);
                closed = true;
            } else if revents & libc::POLLPRI != 0 {
                closed |= self.notification(index, now_us, pacing, sink);
            }
        }
        let watcher_ready = self.watcher.is_some()
            && ready
                .get(self.triggers.len())
                .is_some_and(|slot| slot.revents != 0);
        if closed {
            self.triggers.retain(|t| t.fd.is_some() || !t.instance);
        }
        if let (true, Some(watcher)) = (watcher_ready, &mut self.watcher) {
            watcher.drain();
        }
        // A closed trigger frees a descriptor (a starved group can have it now), a lost
        // fixed group needs its watch, and a group removed and made again before its
        // removal was seen is armed again.
        if watcher_ready || closed {
            self.rescan(sink);
        }
    }

    /// The nearest deadline of an active episode.
    pub fn deadline_us(&self, pacing: Pacing) -> Option<u64> {
        self.triggers
            .iter()
            .filter_map(|t| t.episode.deadline_us(t.spec.window_us, pacing))
            .min()
    }

    /// Ends episodes and sends reminders that are due at `now_us`.
    pub fn tick(&mut self, now_us: u64, pacing: Pacing, sink: &mut Sink) {
        for trigger in &mut self.triggers {
            let window_us = trigger.spec.window_us;
            let due = trigger
                .episode
                .deadline_us(window_us, pacing)
                .is_some_and(|deadline| deadline <= now_us);
            if let Some(action) = due
                .then(|| trigger.episode.tick(now_us, window_us, pacing))
                .flatten()
            {
                log_action(trigger, action, sink);
            }
        }
    }

    /// How many triggers are in an episode now.
    pub fn active(&self, pacing: Pacing) -> usize {
        self.triggers
            .iter()
            .filter(|t| t.episode.deadline_us(t.spec.window_us, pacing).is_some())
            .count()
    }

    /// SIGUSR1: one `event=status` line per trigger, with fresh averages.
    pub fn status(&mut self, now_us: u64, sink: &mut Sink) {
        for trigger in &mut self.triggers {
            let state = match (&trigger.fd, &trigger.spec.cgroup) {
                (Some(_), _) => trigger.episode.name(),
                (None, Some(_)) => "waiting",
                (None, None) => "lost",
            };
            let reading = trigger.refresh();
            let duration_us = trigger.episode.duration_us(now_us);
            let line = message::status(trigger, state, reading.as_ref(), duration_us);
            sink.emit(Severity::LOG_INFO, &line);
        }
    }

    /// SIGHUP: arms what is new in `config`, keeps every trigger whose kernel trigger is
    /// unchanged (its episode goes on; a new severity or name applies at once), and only
    /// then closes the rest, ending their episodes. On an error nothing changes. The
    /// caller says so, then calls `settle`.
    pub fn reload(&mut self, config: &Config, sink: &mut Sink) -> Result<Reloaded, Error> {
        let previous = std::mem::replace(&mut self.wait_for_cgroups, config.wait_for_cgroups);
        self.open_watcher(&config.triggers);
        let mut old = std::mem::take(&mut self.triggers);
        let (entries, triggers, kept) = match self.arm_specs(&config.triggers, &mut old) {
            Ok(armed) => armed,
            Err(error) => {
                self.wait_for_cgroups = previous;
                self.triggers = old;
                self.pending.clear();
                return Err(error);
            }
        };
        for mut trigger in old {
            if let Some(action) = trigger.episode.end() {
                log_action(&trigger, action, sink);
            }
            trigger.fd = None;
        }
        self.entries = entries;
        self.triggers = triggers;
        self.warn_real_time();
        Ok(Reloaded {
            triggers: self.triggers.len(),
            kept,
        })
    }

    /// Arms `specs`, taking from `old` the triggers of each spec that asks for the same
    /// kernel trigger (those left in `old` are to be closed). Returns the entries, the
    /// triggers in spec order and how many specs were kept. On an error what it armed
    /// is closed and `old` is as it was.
    #[allow(clippy::type_complexity)]
    fn arm_specs(
        &mut self,
        specs: &[Spec],
        old: &mut Vec<Trigger>,
    ) -> Result<(Vec<Entry>, Vec<Trigger>, usize), Error> {
        self.starved = false;
        let mut unclaimed: Vec<Option<Rc<Spec>>> = self
            .entries
            .iter()
            .map(|entry| Some(Rc::clone(&entry.spec)))
            .collect();
        let mut plan = Vec::with_capacity(specs.len());
        for spec in specs {
            let new = Rc::new(spec.clone());
            // An awaited fixed group is kept only while waiting is allowed; otherwise the
            // missing group fails the reload, as it fails a start.
            let waiting = |candidate: &Rc<Spec>| {
                old.iter()
                    .any(|t| Rc::ptr_eq(&t.spec, candidate) && t.fd.is_none() && !t.instance)
            };
            let claimed = unclaimed
                .iter_mut()
                .find(|slot| {
                    slot.as_ref().is_some_and(|candidate| {
                        candidate.same_trigger(spec)
                            && (self.wait_for_cgroups || !waiting(candidate))
                    })
                })
                .and_then(Option::take);
            let slot = match claimed {
                Some(candidate) => Slot::Keep(candidate),
                None => Slot::New(self.arm_spec(&new)?),
            };
            plan.push((new, slot));
        }
        let mut entries = Vec::with_capacity(plan.len());
        let mut triggers = Vec::new();
        let mut kept = 0;
        for (spec, slot) in plan {
            match slot {
                Slot::Keep(candidate) => {
                    kept += 1;
                    let (mine, others): (Vec<Trigger>, Vec<Trigger>) = std::mem::take(old)
                        .into_iter()
                        .partition(|t| Rc::ptr_eq(&t.spec, &candidate));
                    *old = others;
                    for mut trigger in mine {
                        trigger.spec = Rc::clone(&spec);
                        triggers.push(trigger);
                    }
                }
                Slot::New(armed) => triggers.extend(armed),
            }
            entries.push(Entry {
                spec,
                refused: Vec::new(),
            });
        }
        Ok((entries, triggers, kept))
    }

    /// Arms one new spec: its system-wide or fixed-group trigger, or one per group its
    /// pattern matches now.
    fn arm_spec(&mut self, spec: &Rc<Spec>) -> Result<Vec<Trigger>, Error> {
        let Some(pattern) = &spec.cgroup else {
            let path = self.roots.system_pressure(spec.resource);
            let trigger = self.arm_with_room(Rc::clone(spec), "/".into(), path);
            return Ok(vec![trigger.map_err(|refusal| refusal.error)?]);
        };
        let mount = self.mount()?;
        if let Some(group) = pattern.fixed_group() {
            let path = roots::group_pressure(&roots::group_dir(&mount, &group), spec.resource);
            return match self.arm_with_room(Rc::clone(spec), group.clone(), path.clone()) {
                Ok(trigger) => Ok(vec![trigger]),
                Err(refusal)
                    if self.wait_for_cgroups && refusal.error.exit == Exit::Unavailable =>
                {
                    Ok(vec![Trigger::waiting(Rc::clone(spec), group, path)])
                }
                Err(refusal) => Err(refusal.error),
            };
        }
        let matches = pattern
            .matches(&mount)
            .map_err(|e| scan_error(spec, &mount, &e))?;
        let mut triggers = Vec::with_capacity(matches.len());
        for found in matches {
            if self.starved {
                break;
            }
            if let Some(trigger) = self.arm_instance(spec, found).map_err(|r| r.error)? {
                triggers.push(trigger);
            }
        }
        Ok(triggers)
    }

    /// Arms an instance of a pattern's spec on the group `found`. `Ok(None)`: the group
    /// vanished meanwhile, or descriptors ran out (the set is then starved, and says so
    /// once).
    fn arm_instance(&mut self, spec: &Rc<Spec>, found: Match) -> Result<Option<Trigger>, Refusal> {
        let path = roots::group_pressure(&found.dir, spec.resource);
        let cgroup = found.cgroup;
        match self.arm_with_room(Rc::clone(spec), cgroup.clone(), path) {
            Ok(mut trigger) => {
                trigger.instance = true;
                Ok(Some(trigger))
            }
            Err(refusal)
                if matches!(
                    refusal.errno,
                    Some(libc::ENOENT | libc::ENODEV | libc::ENOTDIR)
                ) =>
            {
                Ok(None)
            }
            Err(refusal) if matches!(refusal.errno, Some(libc::EMFILE | libc::ENFILE)) => {
                self.starving(spec, cgroup, &refusal.error.message);
                Ok(None)
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Arms a trigger. When descriptors run out, raises the soft limit to the hard one
    /// (once: systemd gives services a soft limit of 1024 under a hard one of 524288)
    /// and tries again.
    fn arm_with_room(
        &mut self,
        spec: Rc<Spec>,
        cgroup: String,
        path: PathBuf,
    ) -> Result<Trigger, Refusal> {
        let mut trigger = Trigger::waiting(spec, cgroup, path);
        match trigger.rearm() {
            Ok(()) => Ok(trigger),
            Err(refusal) if refusal.errno == Some(libc::EMFILE) && !self.raised_limit => {
                self.raised_limit = true;
                match sys::raise_descriptor_limit() {
                    Ok(Some((soft, hard))) => {
                        let text = format!(
                            "the soft descriptor limit (RLIMIT_NOFILE) of {soft} is too low \
                             for the triggers: raised to the hard limit, {hard}; set systemd \
                             LimitNOFILE= (or ulimit -n) to say so yourself"
                        );
                        self.pending
                            .push((Severity::LOG_WARNING, message::warning(&text)));
                        trigger.rearm().map(|()| trigger)
                    }
                    _ => Err(refusal),
                }
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Looks at the cgroup tree again: arms every group a pattern matches that has no
    /// trigger yet and every awaited fixed group that exists, and watches where others
    /// can appear (and nothing else). Runs after start, after a reload, on every watcher
    /// event, and when a trigger closed. Then says what it found.
    fn rescan(&mut self, sink: &mut Sink) {
        self.starved = false;
        for _ in 0..SCAN_ATTEMPTS {
            if self.rescan_once(sink) {
                break;
            }
        }
        if !self.starved {
            self.starvation_said = false;
        }
        for (severity, line) in self.pending.drain(..) {
            sink.emit(severity, &line);
        }
        sink.fit_queue(self.triggers.len());
    }

    /// One walk of every pattern and awaited group; false when a directory vanished
    /// under it.
    fn rescan_once(&mut self, sink: &mut Sink) -> bool {
        let awaited = |t: &Trigger| t.fd.is_none() && t.spec.cgroup.is_some() && !t.instance;
        let needed =
            self.entries.iter().any(Entry::is_pattern) || self.triggers.iter().any(awaited);
        if !needed {
            self.watcher = None;
            return true;
        }
        let mut watcher = match self.watcher.take().map_or_else(Watcher::new, Ok) {
            Ok(watcher) => watcher,
            Err(e) => {
                if !self.watcher_failure_said {
                    self.watcher_failure_said = true;
                    let text = format!(
                        "cannot create an inotify instance ({e}): groups that appear are not \
                         armed until a trigger closes or the configuration is reloaded"
                    );
                    self.pending
                        .push((Severity::LOG_WARNING, message::warning(&text)));
                }
                return true;
            }
        };
        self.watcher_failure_said = false;
        // Found when the configuration that asked for cgroups was loaded.
        let Ok(mount) = self.mount() else {
            return true;
        };
        watcher.begin();
        let mut complete = true;
        for index in 0..self.entries.len() {
            let spec = Rc::clone(&self.entries[index].spec);
            let Some(pattern) = &spec.cgroup else {
                continue;
            };
            if pattern.is_fixed() {
                let awaited = self
                    .triggers
                    .iter()
                    .position(|t| Rc::ptr_eq(&t.spec, &spec) && t.fd.is_none());
                if let Some(trigger) = awaited {
                    complete &= self.look_for_group(trigger, pattern, &mount, &mut watcher, sink);
                }
                continue;
            }
            let scan = pattern.scan(&mount, &mut |dir| watcher.watch(dir));
            match scan {
                Ok(scan) => {
                    complete &= scan.complete;
                    self.arm_new_matches(index, scan.matches, sink);
                }
                // Listing a directory takes a descriptor too.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    let why = scan_error(&spec, &mount, &e).message;
                    self.starving(&spec, pattern_text(&spec), &why);
                }
                Err(e) => {
                    let error = scan_error(&spec, &mount, &e);
                    let text = format!("{error}; groups that appear there are not armed");
                    self.pending
                        .push((Severity::LOG_WARNING, message::warning(&text)));
                }
            }
        }
        watcher.finish();
        self.watcher = (!watcher.is_empty()).then_some(watcher);
        complete
    }

    /// An awaited fixed group: watched for, and armed when it exists.
    fn look_for_group(
        &mut self,
        index: usize,
        pattern: &Pattern,
        mount: &Path,
        watcher: &mut Watcher,
        sink: &mut Sink,
    ) -> bool {
        let scan = match pattern.scan(mount, &mut |dir| watcher.watch(dir)) {
            Ok(scan) => scan,
            Err(_) => return true,
        };
        if scan.matches.is_empty() {
            return scan.complete;
        }
        let trigger = &mut self.triggers[index];
        match trigger.rearm() {
            Ok(()) => {
                let line = message::trigger_event("rearmed", trigger);
                sink.emit(Severity::LOG_NOTICE, &line);
                scan.complete
            }
            // Gone again: the next walk watches its parent.
            Err(refusal) if matches!(refusal.errno, Some(libc::ENOENT | libc::ENODEV)) => false,
            Err(refusal) => {
                let line = message::unarmed(trigger, &refusal.error.message);
                sink.emit(Severity::LOG_WARNING, &line);
                true
            }
        }
    }

    /// Arms the groups among `matches` that entry `index` has no trigger on yet.
    fn arm_new_matches(&mut self, index: usize, matches: Vec<Match>, sink: &mut Sink) {
        let spec = Rc::clone(&self.entries[index].spec);
        let fresh: Vec<Match> = {
            let existing: HashSet<&str> = self
                .triggers
                .iter()
                .filter(|t| Rc::ptr_eq(&t.spec, &spec))
                .map(|t| t.cgroup.as_str())
                .collect();
            let refused = &mut self.entries[index].refused;
            // A refused group that is gone may come back as a new one.
            refused.retain(|group| matches.iter().any(|m| m.cgroup == *group));
            matches
                .into_iter()
                .filter(|m| !existing.contains(m.cgroup.as_str()) && !refused.contains(&m.cgroup))
                .collect()
        };
        for found in fresh {
            if self.starved {
                return;
            }
            let group = found.cgroup.clone();
            match self.arm_instance(&spec, found) {
                Ok(Some(trigger)) => {
                    if self.started {
                        let line = message::trigger_event("armed", &trigger);
                        sink.emit(Severity::LOG_INFO, &line);
                    }
                    self.triggers.push(trigger);
                }
                Ok(None) => {}
                Err(refusal) => {
                    let probe = Trigger::waiting(Rc::clone(&spec), group.clone(), PathBuf::new());
                    let line = message::unarmed(&probe, &refusal.error.message);
                    sink.emit(Severity::LOG_WARNING, &line);
                    self.entries[index].refused.push(group);
                }
            }
        }
    }

    /// Closes trigger `index`, whose descriptor failed: an instance is removed, a fixed
    /// group's trigger waits for its group, a system-wide one is armed again if it can
    /// be. An active episode ends first, so that every alert `pressure` opened is closed.
    fn close(&mut self, index: usize, reason: &str, sink: &mut Sink) {
        let trigger = &mut self.triggers[index];
        trigger.fd = None;
        if let Some(action) = trigger.episode.end() {
            log_action(trigger, action, sink);
        }
        if trigger.instance {
            let line = message::trigger_event("removed", trigger);
            sink.emit(Severity::LOG_INFO, &line);
            return;
        }
        sink.emit(Severity::LOG_ERR, &message::lost(trigger, reason));
        // A system-wide file does not come and go, so nothing watches it: one more try.
        if trigger.spec.cgroup.is_none() && trigger.rearm().is_ok() {
            let line = message::trigger_event("rearmed", trigger);
            sink.emit(Severity::LOG_NOTICE, &line);
        }
    }

    /// Reads trigger `index` after a POLLPRI; returns whether it was closed.
    fn notification(&mut self, index: usize, now_us: u64, pacing: Pacing, sink: &mut Sink) -> bool {
        let trigger = &mut self.triggers[index];
        match trigger.notification() {
            Notification::Crossing { reading, stall_us } => {
                if trigger.episode.crossing(now_us, &reading, pacing) == Some(Action::Pressure) {
                    let line = message::pressure(trigger, &reading, stall_us);
                    sink.emit(trigger.spec.severity.severity(), &line);
                }
                false
            }
            Notification::Spurious => false,
            Notification::Unreadable { reason } => {
                self.close(index, &reason, sink);
                true
            }
        }
    }

    /// The cgroup2 mount, which the configuration found when a trigger named a cgroup.
    fn mount(&self) -> Result<PathBuf, Error> {
        let mount = self.roots.cgroup2().map_err(|why| {
            Error::new(
                Exit::Unavailable,
                format!("cannot watch cgroup triggers: {why}"),
            )
        })?;
        Ok(mount.to_path_buf())
    }

    /// Makes the inotify instance if some spec has a cgroup and there is none yet; a
    /// failure is said by the rescan that needs it.
    fn open_watcher(&mut self, specs: &[Spec]) {
        if self.watcher.is_none() && specs.iter().any(|spec| spec.cgroup.is_some()) {
            self.watcher = Watcher::new().ok();
        }
    }

    /// Says, once until it ends, that descriptors ran out.
    fn starving(&mut self, spec: &Rc<Spec>, cgroup: String, why: &str) {
        self.starved = true;
        if self.starvation_said {
            return;
        }
        self.starvation_said = true;
        let reason = format!(
            "{why}; this group, and any other that finds no descriptor, is armed as soon as \
             one frees"
        );
        let group = Trigger::waiting(Rc::clone(spec), cgroup, PathBuf::new());
        self.pending
            .push((Severity::LOG_WARNING, message::unarmed(&group, &reason)));
    }

    /// `event=waiting` for every fixed group that is awaited.
    fn say_waiting(&mut self) {
        for trigger in self
            .triggers
            .iter()
            .filter(|t| t.fd.is_none() && !t.instance)
        {
            let line = message::trigger_event("waiting", trigger);
            self.pending.push((Severity::LOG_NOTICE, line));
        }
    }

    /// A warning for each pattern that matches many groups with real-time triggers.
    fn warn_real_time(&mut self) {
        if !self.privileged {
            return;
        }
        for entry in self.entries.iter().filter(|e| e.is_pattern()) {
            let groups = self
                .triggers
                .iter()
                .filter(|t| Rc::ptr_eq(&t.spec, &entry.spec))
                .count();
            if groups > REAL_TIME_WARN_GROUPS {
                let text = format!(
                    "trigger {} matches {groups} groups, and with CAP_SYS_RESOURCE its triggers \
                     are real-time: the kernel runs a SCHED_FIFO psimon thread in each group; \
                     where the kernel allows unprivileged triggers (Linux 6.5, Debian's 6.1), \
                     run without CAP_SYS_RESOURCE and with a window of a multiple of 2s",
                    entry.spec
                );
                self.pending
                    .push((Severity::LOG_WARNING, message::warning(&text)));
            }
        }
    }
}

/// Logs what an episode decided.
fn log_action(trigger: &Trigger, action: Action, sink: &mut Sink) {
    let (severity, line) = match action {
        Action::Pressure => (
            trigger.spec.severity.severity(),
            message::pressure(trigger, &trigger.last_reading, 0),
        ),
        Action::Ongoing {
            duration_us,
            crossings,
        } => (
            trigger.spec.severity.severity(),
            message::ongoing(trigger, duration_us, crossings),
        ),
        Action::Recovered {
            duration_us,
            crossings,
            peak_avg10,
        } => (
            Severity::LOG_NOTICE,
            message::recovered(trigger, duration_us, crossings, peak_avg10),
        ),
    };
    sink.emit(severity, &line);
}

/// The pattern as written, for a line that is about no single group.
fn pattern_text(spec: &Spec) -> String {
    spec.cgroup
        .as_ref()
        .map_or_else(|| "/".into(), ToString::to_string)
}

/// A pattern's directories could not be listed.
fn scan_error(spec: &Spec, mount: &Path, error: &std::io::Error) -> Error {
    let exit = match error.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Exit::NoPermission,
        _ => Exit::OsError,
    };
    Error::new(
        exit,
        format!(
            "cannot look for the groups of trigger {spec} under {}: {error}",
            mount.display()
        ),
    )
}
