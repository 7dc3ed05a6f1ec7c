//! Rescans: the cgroup tree looked at again (after start, after a reload, on every
//! watcher event, and when a trigger closed), and what they arm: every group a pattern
//! matches that has no trigger yet, and every awaited fixed group that exists. What
//! discovery found is compared with what the set holds; what to say is returned.

use std::collections::HashSet;
use std::rc::Rc;

use super::{SCAN_ATTEMPTS, TriggerSet};
use crate::discovery;
use crate::message::Event;
use crate::pattern::{Match, Pattern, Scan};
use crate::refusal;
use crate::spec::Spec;
use crate::trigger::{State, Subject, Trigger};

impl TriggerSet {
    /// Looks at the cgroup tree again: arms every group a pattern matches that has no
    /// trigger yet and every awaited fixed group that exists, and watches where others
    /// can appear (and nothing else). Runs after start, after a reload, on every watcher
    /// event, and when a trigger closed. Then says what it found.
    pub(super) fn rescan(&mut self, out: &mut Vec<Event>) {
        self.arming.begin();
        for _ in 0..SCAN_ATTEMPTS {
            if self.rescan_once(out) {
                break;
            }
        }
        self.arming.end();
        out.append(&mut self.notes);
    }

    /// One walk of every pattern and awaited fixed group; false when a directory
    /// vanished under it.
    fn rescan_once(&mut self, out: &mut Vec<Event>) -> bool {
        // What to look for: each pattern, and each fixed group with a trigger waiting.
        let wanted: Vec<(usize, Rc<Spec>)> = (self.entries.iter().enumerate())
            .filter(|(_, entry)| {
                entry.spec.is_pattern()
                    || (entry.spec.cgroup.is_some()
                        && self.triggers.iter().any(|t| {
                            Rc::ptr_eq(&t.spec, &entry.spec) && matches!(t.state, State::Waiting)
                        }))
            })
            .map(|(index, entry)| (index, Rc::clone(&entry.spec)))
            .collect();
        // Found when the configuration that asked for cgroups was loaded.
        let (false, Ok(mount)) = (wanted.is_empty(), self.mount()) else {
            self.discovery.stop();
            return true;
        };
        let patterns: Vec<&Pattern> = wanted
            .iter()
            .filter_map(|(_, s)| s.cgroup.as_deref())
            .collect();
        let found = match self.discovery.look(&mount, &patterns) {
            Ok(found) => found,
            Err(unwatched) => {
                if unwatched.first {
                    self.notes.push(Event::Warning(format!(
                        "cannot create an inotify instance ({}): groups that appear are not \
                         armed until a trigger closes or the configuration is reloaded",
                        unwatched.error
                    )));
                }
                return true;
            }
        };
        let mut complete = true;
        for ((index, spec), found) in wanted.iter().zip(found) {
            complete &= match found {
                Ok(scan) if spec.is_pattern() => {
                    self.arm_new_matches(*index, scan.matches, out);
                    scan.complete
                }
                Ok(scan) => self.rearm_awaited(spec, scan, out),
                // An awaited group's parents that cannot be listed: it is not there.
                Err(_) if !spec.is_pattern() => true,
                // Listing a directory takes a descriptor too.
                Err(e) if e.raw_os_error().is_some_and(refusal::is_out_of_descriptors) => {
                    let why = refusal::scan_error(spec, &mount, &e).message;
                    let pattern = spec.cgroup.as_deref().map_or("/", Pattern::as_str);
                    let subject = Subject {
                        spec: Rc::clone(spec),
                        group: pattern.into(),
                    };
                    self.arming.starving(subject, &why, &mut self.notes);
                    true
                }
                Err(e) => {
                    let error = refusal::scan_error(spec, &mount, &e);
                    let text = format!("{error}; groups that appear there are not armed");
                    self.notes.push(Event::Warning(text));
                    true
                }
            };
        }
        complete
    }

    /// An awaited fixed group that `scan` found exists: armed again. Returns whether the
    /// scan stands (false: the group went again, and the next walk watches its parent).
    fn rearm_awaited(&mut self, spec: &Rc<Spec>, scan: Scan, out: &mut Vec<Event>) -> bool {
        let waiting = |t: &Trigger| Rc::ptr_eq(&t.spec, spec) && matches!(t.state, State::Waiting);
        let Some(trigger) = self.triggers.iter_mut().find(|t| waiting(t)) else {
            return scan.complete;
        };
        if scan.matches.is_empty() {
            return scan.complete;
        }
        match trigger.rearm() {
            Ok(()) => {
                out.push(Event::Rearmed(trigger.subject()));
                scan.complete
            }
            Err(refusal) if refusal.is_gone() => false,
            Err(refusal) => {
                out.push(Event::Unarmed {
                    subject: trigger.subject(),
                    reason: refusal.error.message,
                });
                true
            }
        }
    }

    /// Arms the groups among `matches` that entry `index` has no trigger on yet.
    fn arm_new_matches(&mut self, index: usize, matches: Vec<Match>, out: &mut Vec<Event>) {
        let spec = Rc::clone(&self.entries[index].spec);
        let refused = &mut self.entries[index].refused;
        // A refused group that is gone may come back as a new one.
        refused.retain(|group| matches.iter().any(|m| m.cgroup == *group));
        // A set, as a pattern can match thousands of groups and this runs on every
        // watcher event.
        let held: HashSet<&str> = (self.triggers.iter())
            .filter(|t| Rc::ptr_eq(&t.spec, &spec))
            .map(|t| &*t.group)
            .collect();
        let fresh = discovery::appeared(matches, |group| {
            held.contains(group) || refused.iter().any(|r| r == group)
        });
        for found in fresh {
            if self.arming.starved() {
                return;
            }
            let group = found.cgroup.clone();
            match self.arming.arm_instance(&spec, found, &mut self.notes) {
                Ok(Some(trigger)) => {
                    if self.started {
                        out.push(Event::Armed(trigger.subject()));
                    }
                    self.triggers.push(trigger);
                }
                Ok(None) => {}
                Err(refusal) => {
                    let subject = Subject {
                        spec: Rc::clone(&spec),
                        group: group.as_str().into(),
                    };
                    let reason = refusal.error.message;
                    out.push(Event::Unarmed { subject, reason });
                    self.entries[index].refused.push(group);
                }
            }
        }
    }
}
