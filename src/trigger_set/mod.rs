//! The trigger set: every kernel trigger the daemon holds, in poll order, and what the
//! event loop needs from them: descriptors to poll, readiness to act on, deadlines. It
//! decides and returns what to say (`Event`s, pushed on the caller's list); it never
//! logs. Its rescans are rescan.rs's; discovery of groups is discovery.rs's, the
//! descriptor policy arming.rs's, the reload plan reload.rs's.
//!
//! A trigger's `Scope` comes from its spec's cgroup:
//! - system-wide (`/proc/pressure/*`): armed at start, for good;
//! - a fixed group: armed at start (or awaited with --wait-for-cgroups); when the group
//!   goes the trigger is `lost`, then waits, and is `rearmed` when the group comes back;
//! - a pattern: one *instance* per matching group. Groups come and go: a new one is
//!   `armed` as soon as it appears, a removed one is `removed`. Neither is an error.

mod rescan;

use std::path::PathBuf;
use std::rc::Rc;

use crate::arming::Arming;
use crate::config::Config;
use crate::discovery::Discovery;
use crate::episode::{Action, Pacing};
use crate::error::{Error, Exit};
use crate::message::Event;
use crate::refusal;
use crate::reload::{self, Old};
use crate::roots::{self, Roots};
use crate::spec::Spec;
use crate::trigger::{Notification, Scope, State, Subject, Trigger};

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

/// Every trigger, and how groups are found.
pub struct TriggerSet {
    entries: Vec<Entry>,
    /// Every trigger, instances of patterns among them; polled in this order.
    triggers: Vec<Trigger>,
    discovery: Discovery,
    arming: Arming,
    roots: Roots,
    wait_for_cgroups: bool,
    /// Whether this process holds CAP_SYS_RESOURCE: then its triggers are real-time.
    privileged: bool,
    /// The start line is out: instances armed from now on are announced.
    started: bool,
    /// What arming found worth saying (warnings, awaited groups): said at the end of the
    /// next rescan, so after the start or reload line (`settle`), or printed by --check.
    notes: Vec<Event>,
}

/// What a successful reload did.
pub struct Reloaded {
    pub triggers: usize,
    pub kept: usize,
}

/// One spec, its triggers now and how many of them are armed.
pub struct Census<'a> {
    pub spec: &'a Spec,
    pub triggers: usize,
    pub armed: usize,
}

impl TriggerSet {
    /// Arms every trigger of `config`: each system-wide and fixed-cgroup trigger, and one
    /// per group that matches each pattern now. Nothing stays armed if one fails.
    pub fn start(config: &Config, roots: &Roots, privileged: bool) -> Result<TriggerSet, Error> {
        let mut set = TriggerSet {
            entries: Vec::new(),
            triggers: Vec::new(),
            discovery: Discovery::default(),
            arming: Arming::default(),
            roots: roots.clone(),
            wait_for_cgroups: config.wait_for_cgroups,
            privileged,
            started: false,
            notes: Vec::new(),
        };
        set.reload(config, &mut Vec::new())?;
        Ok(set)
    }

    /// After the start line, and after each reload's line: says which fixed groups are
    /// awaited and what arming found worth a warning, puts the watches in place, and
    /// from now on announces instances as they are armed. Groups made since the arming
    /// scan are found by this one (its watches go in before it lists) and announced:
    /// they were armed after the start.
    pub fn settle(&mut self, out: &mut Vec<Event>) {
        for trigger in &self.triggers {
            if !trigger.is_armed() && trigger.scope != Scope::Instance {
                self.notes.push(Event::Waiting(trigger.subject()));
            }
        }
        self.started = true;
        self.rescan(out);
    }

    /// Every trigger, in poll order.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// Each spec with the triggers it has now and how many of them are armed.
    pub fn census(&self) -> Vec<Census<'_>> {
        let mut census = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let mine = self
                .triggers
                .iter()
                .filter(|t| Rc::ptr_eq(&t.spec, &entry.spec));
            let (triggers, armed) = mine.fold((0, 0), |(all, armed), t| {
                (all + 1, armed + usize::from(t.is_armed()))
            });
            census.push(Census {
                spec: &entry.spec,
                triggers,
                armed,
            });
        }
        census
    }

    /// What arming found worth saying and has not said yet (--check prints it).
    pub fn take_notes(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.notes)
    }

    /// The descriptors to poll, in the order `dispatch` reads them back: one per trigger
    /// (-1, which poll skips, while it has none), then the watcher's. Triggers ask for
    /// POLLPRI only: psi_trigger_poll() always reports DEFAULT_POLLMASK (POLLIN among
    /// it), so POLLIN on a trigger would make poll return at once, forever.
    pub fn pollfds(&self, out: &mut Vec<libc::pollfd>) {
        out.extend(self.triggers.iter().map(|trigger| libc::pollfd {
            fd: trigger.raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        }));
        out.extend(self.discovery.pollfd());
    }

    /// Acts on what poll reported, `ready` laid out as `pollfds` made it: errors first
    /// (a descriptor in error, its cgroup removed, stays ready forever, so it is closed,
    /// or the loop would spin), then notifications, then the watcher.
    pub fn dispatch(
        &mut self,
        ready: &[libc::pollfd],
        now_us: u64,
        pacing: Pacing,
        out: &mut Vec<Event>,
    ) {
        let mut closed = false;
        for index in 0..self.triggers.len() {
            let revents = ready.get(index).map_or(0, |slot| slot.revents);
            if revents & (libc::POLLERR | libc::POLLNVAL | libc::POLLHUP) != 0 {
                let reason = "the kernel reported an error on the trigger (cgroup removed?)";
                self.close(index, reason, out);
                closed = true;
            } else if revents & libc::POLLPRI != 0 {
                closed |= self.notification(index, now_us, pacing, out);
            }
        }
        let watcher_ready = self.discovery.pollfd().is_some()
            && ready
                .get(self.triggers.len())
                .is_some_and(|slot| slot.revents != 0);
        if closed {
            self.triggers
                .retain(|t| t.is_armed() || t.scope != Scope::Instance);
        }
        if watcher_ready {
            self.discovery.drain();
        }
        // A closed trigger frees a descriptor (a starved group can have it now), a lost
        // fixed group needs its watch, and a group removed and made again before its
        // removal was seen is armed again.
        if watcher_ready || closed {
            self.rescan(out);
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
    pub fn tick(&mut self, now_us: u64, pacing: Pacing, out: &mut Vec<Event>) {
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
                out.push(trigger.said(action));
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

    /// SIGUSR1: one `event=status` per trigger, with fresh averages.
    pub fn status(&mut self, now_us: u64, out: &mut Vec<Event>) {
        for trigger in &mut self.triggers {
            let state = match trigger.state {
                State::Armed { .. } => trigger.episode.name(),
                State::Waiting => "waiting",
                State::Lost => "lost",
            };
            out.push(Event::Status {
                subject: trigger.subject(),
                state,
                reading: trigger.refresh(),
                duration_us: trigger.episode.duration_us(now_us),
            });
        }
    }

    /// SIGHUP (and the start, from an empty set): arms what is new in `config`, keeps
    /// every trigger whose kernel trigger is unchanged (its episode goes on; a new
    /// severity or name applies at once), and only then closes the rest, ending their
    /// episodes. On an error nothing changes. The caller says so, then calls `settle`.
    pub fn reload(&mut self, config: &Config, out: &mut Vec<Event>) -> Result<Reloaded, Error> {
        let old: Vec<Old> = self
            .entries
            .iter()
            .map(|entry| Old {
                spec: &entry.spec,
                unarmed: self.triggers.iter().any(|t| {
                    Rc::ptr_eq(&t.spec, &entry.spec) && !t.is_armed() && t.scope != Scope::Instance
                }),
            })
            .collect();
        let plan = reload::plan(&old, &config.triggers, config.wait_for_cgroups);
        let previous = std::mem::replace(&mut self.wait_for_cgroups, config.wait_for_cgroups);
        // The watcher first: when the triggers take every descriptor there is, it still
        // has its own, and a starved set still notices groups come and go.
        let cgroups = config.triggers.iter().any(|spec| spec.cgroup.is_some());
        self.discovery.prepare(cgroups);
        self.arming.begin();
        let specs: Vec<Rc<Spec>> = config.triggers.iter().cloned().map(Rc::new).collect();
        let mut armed = Vec::new();
        for index in plan.added() {
            match self.arm_spec(&specs[index]) {
                Ok(triggers) => armed.push(triggers),
                Err(error) => {
                    // What was armed closes as `armed` drops.
                    self.wait_for_cgroups = previous;
                    self.notes.clear();
                    return Err(error);
                }
            }
        }
        let old_specs: Vec<Rc<Spec>> = self.entries.iter().map(|e| Rc::clone(&e.spec)).collect();
        let old = std::mem::take(&mut self.triggers);
        let (triggers, closed) = reload::apply(&plan, &old_specs, old, &specs, armed);
        for mut trigger in closed {
            if let Some(action) = trigger.episode.end() {
                out.push(trigger.said(action));
            }
        }
        self.triggers = triggers;
        self.entries = specs
            .into_iter()
            .map(|spec| Entry {
                spec,
                refused: Vec::new(),
            })
            .collect();
        self.warn_real_time();
        Ok(Reloaded {
            triggers: self.triggers.len(),
            kept: plan.kept.iter().flatten().count(),
        })
    }

    /// Arms one new spec: its system-wide or fixed-group trigger, or one per group its
    /// pattern matches now.
    fn arm_spec(&mut self, spec: &Rc<Spec>) -> Result<Vec<Trigger>, Error> {
        let subject = |group: &str| Subject {
            spec: Rc::clone(spec),
            group: group.into(),
        };
        let Some(pattern) = &spec.cgroup else {
            let path = self.roots.system_pressure(spec.resource);
            let trigger = self
                .arming
                .arm(subject("/"), Scope::SystemWide, path, &mut self.notes);
            return Ok(vec![trigger.map_err(|refusal| refusal.error)?]);
        };
        let mount = self.mount()?;
        if let Some(group) = pattern.fixed_group() {
            let path = roots::group_pressure(&roots::group_dir(&mount, &group), spec.resource);
            let armed =
                self.arming
                    .arm(subject(&group), Scope::Fixed, path.clone(), &mut self.notes);
            return match armed {
                Ok(trigger) => Ok(vec![trigger]),
                Err(refusal)
                    if self.wait_for_cgroups && refusal.error.exit == Exit::Unavailable =>
                {
                    let state = State::Waiting;
                    let waiting = Trigger::unarmed(subject(&group), Scope::Fixed, path, state);
                    Ok(vec![waiting])
                }
                Err(refusal) => Err(refusal.error),
            };
        }
        let matches = pattern
            .matches(&mount)
            .map_err(|e| refusal::scan_error(spec, &mount, &e))?;
        let mut triggers = Vec::with_capacity(matches.len());
        for found in matches {
            if self.arming.starved() {
                break;
            }
            let armed = self.arming.arm_instance(spec, found, &mut self.notes);
            triggers.extend(armed.map_err(|refusal| refusal.error)?);
        }
        Ok(triggers)
    }

    /// Closes trigger `index`, whose descriptor failed: an instance is removed, a fixed
    /// group's trigger waits for its group, a system-wide one is armed again if it can
    /// be. An active episode ends first, so that every alert `pressure` opened is closed.
    fn close(&mut self, index: usize, reason: &str, out: &mut Vec<Event>) {
        let trigger = &mut self.triggers[index];
        trigger.disarm();
        if let Some(action) = trigger.episode.end() {
            out.push(trigger.said(action));
        }
        let subject = trigger.subject();
        match trigger.scope {
            Scope::Instance => out.push(Event::Removed(subject)),
            Scope::Fixed => out.push(Event::Lost {
                subject,
                reason: reason.into(),
            }),
            Scope::SystemWide => {
                out.push(Event::Lost {
                    subject: subject.clone(),
                    reason: reason.into(),
                });
                // The file does not come and go, so nothing watches it: one more try.
                if trigger.rearm().is_ok() {
                    out.push(Event::Rearmed(subject));
                }
            }
        }
    }

    /// Reads trigger `index` after a POLLPRI; returns whether it was closed.
    fn notification(
        &mut self,
        index: usize,
        now_us: u64,
        pacing: Pacing,
        out: &mut Vec<Event>,
    ) -> bool {
        let trigger = &mut self.triggers[index];
        match trigger.notification() {
            Notification::Crossing { reading, stall_us } => {
                if trigger.episode.crossing(now_us, &reading, pacing) == Some(Action::Pressure) {
                    out.push(Event::Pressure {
                        subject: trigger.subject(),
                        reading,
                        stall_us,
                    });
                }
                false
            }
            Notification::Spurious => false,
            Notification::Unreadable { reason } => {
                self.close(index, &reason, out);
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

    /// A warning for each pattern that matches many groups with real-time triggers.
    fn warn_real_time(&mut self) {
        if !self.privileged {
            return;
        }
        for entry in self.entries.iter().filter(|e| e.spec.is_pattern()) {
            let groups = self
                .triggers
                .iter()
                .filter(|t| Rc::ptr_eq(&t.spec, &entry.spec))
                .count();
            if groups > REAL_TIME_WARN_GROUPS {
                self.notes.push(Event::Warning(format!(
                    "trigger {} matches {groups} groups, and with CAP_SYS_RESOURCE its \
                     triggers are real-time: the kernel runs a SCHED_FIFO psimon thread in \
                     each group; where the kernel allows unprivileged triggers (Linux 6.5, \
                     Debian's 6.1), run without CAP_SYS_RESOURCE and with a window of a \
                     multiple of 2s",
                    entry.spec
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests;
