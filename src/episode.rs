//! Episodes: under sustained pressure the kernel notifies once per window, so a trigger
//! speaks in episodes instead: one line when trouble starts, a reminder while it lasts,
//! one line when it is over. Every decision here is a pure function of the state, the
//! time (CLOCK_MONOTONIC microseconds, injected) and the readings.

use crate::pressure::{Hundredths, Reading};

/// Unprivileged triggers are evaluated on the 2 s averaging tick, so consecutive
/// notifications of one sustained stall arrive 2 to 4 s apart (seen here: gaps of 2.0,
/// 2.0 and 4.0 s under a steady CPU overload on a 2 s window). Five windows, and never
/// less than 10 s, rides out that jitter without flapping.
pub const RECOVER_WINDOWS: u64 = 5;
pub const RECOVER_MIN_US: u64 = 10_000_000;

/// The quiet period after which an episode of a trigger with `window_us` is over.
pub fn default_recover_after_us(window_us: u32) -> u64 {
    (u64::from(window_us) * RECOVER_WINDOWS).max(RECOVER_MIN_US)
}

/// How episodes are paced; from `--repeat` and `--recover-after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// Interval between `event=ongoing` reminders; 0 logs every crossing instead.
    pub repeat_us: u64,
    /// Quiet period that ends an episode; `None` for the default of the window.
    pub recover_after_us: Option<u64>,
}

/// The state of one trigger's episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Episode {
    Idle,
    Active {
        started_us: u64,
        last_crossing_us: u64,
        crossings: u64,
        peak_avg10: Hundredths,
        /// When the next `event=ongoing` is due.
        next_reminder_us: u64,
    },
}

/// What the loop must log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `event=pressure`: an episode starts (or, with repeat 0, any crossing).
    Pressure,
    /// `event=ongoing`: the episode goes on.
    Ongoing { duration_us: u64, crossings: u64 },
    /// `event=recovered`: the episode is over.
    Recovered {
        duration_us: u64,
        crossings: u64,
        peak_avg10: Hundredths,
    },
}

impl Episode {
    /// A real crossing at `now_us`.
    pub fn crossing(&mut self, now_us: u64, reading: &Reading, pacing: Pacing) -> Option<Action> {
        match self {
            Episode::Idle => {
                *self = Episode::Active {
                    started_us: now_us,
                    last_crossing_us: now_us,
                    crossings: 1,
                    peak_avg10: reading.avg10,
                    next_reminder_us: now_us.saturating_add(pacing.repeat_us),
                };
                Some(Action::Pressure)
            }
            Episode::Active {
                last_crossing_us,
                crossings,
                peak_avg10,
                ..
            } => {
                *last_crossing_us = now_us;
                *crossings += 1;
                *peak_avg10 = (*peak_avg10).max(reading.avg10);
                (pacing.repeat_us == 0).then_some(Action::Pressure)
            }
        }
    }

    /// When this episode next needs the loop's attention, if ever.
    pub fn deadline_us(&self, window_us: u32, pacing: Pacing) -> Option<u64> {
        let Episode::Active {
            last_crossing_us,
            next_reminder_us,
            ..
        } = *self
        else {
            return None;
        };
        let recover_us = last_crossing_us.saturating_add(recover_after(window_us, pacing));
        if pacing.repeat_us == 0 {
            Some(recover_us)
        } else {
            Some(recover_us.min(next_reminder_us))
        }
    }

    /// The clock reached `now_us`: end the episode or remind, when due. The averages at
    /// the end of an episode count toward its peak.
    pub fn tick(&mut self, now_us: u64, window_us: u32, pacing: Pacing) -> Option<Action> {
        let Episode::Active {
            started_us,
            last_crossing_us,
            crossings,
            peak_avg10,
            next_reminder_us,
        } = self
        else {
            return None;
        };
        let duration_us = now_us.saturating_sub(*started_us);
        if now_us >= last_crossing_us.saturating_add(recover_after(window_us, pacing)) {
            let action = Action::Recovered {
                duration_us: last_crossing_us.saturating_sub(*started_us),
                crossings: *crossings,
                peak_avg10: *peak_avg10,
            };
            *self = Episode::Idle;
            return Some(action);
        }
        if pacing.repeat_us > 0 && now_us >= *next_reminder_us {
            // The next reminder is one interval on from this one, not from now, so a
            // late wake-up does not drift the cadence; skip any that were missed.
            while *next_reminder_us <= now_us {
                *next_reminder_us = next_reminder_us.saturating_add(pacing.repeat_us);
            }
            return Some(Action::Ongoing {
                duration_us,
                crossings: *crossings,
            });
        }
        None
    }

    /// Ends an active episode at once (its trigger is gone), so that every `pressure`
    /// an alert rule opened is closed by a `recovered`.
    pub fn end(&mut self) -> Option<Action> {
        let Episode::Active {
            started_us,
            last_crossing_us,
            crossings,
            peak_avg10,
            ..
        } = *self
        else {
            return None;
        };
        *self = Episode::Idle;
        Some(Action::Recovered {
            duration_us: last_crossing_us.saturating_sub(started_us),
            crossings,
            peak_avg10,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Episode::Idle => "idle",
            Episode::Active { .. } => "active",
        }
    }

    /// How long the episode has lasted at `now_us`; 0 when idle.
    pub fn duration_us(&self, now_us: u64) -> u64 {
        match *self {
            Episode::Idle => 0,
            Episode::Active { started_us, .. } => now_us.saturating_sub(started_us),
        }
    }
}

fn recover_after(window_us: u32, pacing: Pacing) -> u64 {
    pacing
        .recover_after_us
        .unwrap_or_else(|| default_recover_after_us(window_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    const WINDOW: u32 = 2_000_000;

    fn reading(avg10: u32) -> Reading {
        Reading {
            avg10: Hundredths(avg10),
            ..Reading::default()
        }
    }

    fn pacing(repeat_s: u64, recover_s: Option<u64>) -> Pacing {
        Pacing {
            repeat_us: repeat_s * S,
            recover_after_us: recover_s.map(|s| s * S),
        }
    }

    #[test]
    fn default_quiet_period_is_five_windows_and_at_least_ten_seconds() {
        assert_eq!(default_recover_after_us(2_000_000), 10 * S);
        assert_eq!(default_recover_after_us(100_000), 10 * S);
        assert_eq!(default_recover_after_us(4_000_000), 20 * S);
        assert_eq!(default_recover_after_us(10_000_000), 50 * S);
    }

    #[test]
    fn one_pressure_then_reminders_then_recovered() {
        let pacing = pacing(60, None);
        let mut episode = Episode::Idle;
        assert_eq!(episode.deadline_us(WINDOW, pacing), None);
        assert_eq!(
            episode.crossing(100 * S, &reading(1000), pacing),
            Some(Action::Pressure)
        );
        // Crossings every 2 s for two minutes: silence, except a reminder each minute.
        let mut log = Vec::new();
        for t in (102..=220).step_by(2) {
            let now = t * S;
            if episode
                .deadline_us(WINDOW, pacing)
                .is_some_and(|d| d <= now)
            {
                log.extend(episode.tick(now, WINDOW, pacing).map(|a| (t, a)));
            }
            log.extend(
                episode
                    .crossing(now, &reading(2000 + t as u32), pacing)
                    .map(|a| (t, a)),
            );
        }
        assert_eq!(
            log,
            [
                (
                    160,
                    Action::Ongoing {
                        duration_us: 60 * S,
                        crossings: 30
                    }
                ),
                (
                    220,
                    Action::Ongoing {
                        duration_us: 120 * S,
                        crossings: 60
                    }
                ),
            ]
        );
        // Quiet from 220 s: recovered 10 s after the last crossing, not before.
        assert_eq!(episode.deadline_us(WINDOW, pacing), Some(230 * S));
        assert_eq!(episode.tick(229 * S, WINDOW, pacing), None);
        assert_eq!(
            episode.tick(230 * S, WINDOW, pacing),
            Some(Action::Recovered {
                duration_us: 120 * S,
                crossings: 61,
                peak_avg10: Hundredths(2220)
            })
        );
        assert_eq!(episode, Episode::Idle);
        assert_eq!(episode.deadline_us(WINDOW, pacing), None);
    }

    #[test]
    fn jittery_unprivileged_notifications_do_not_flap() {
        let pacing = pacing(60, None);
        let mut episode = Episode::Idle;
        let mut actions = Vec::new();
        for t in [0u64, 2, 6, 8, 12, 14, 18] {
            while let Some(deadline) = episode.deadline_us(WINDOW, pacing).filter(|&d| d <= t * S) {
                actions.extend(episode.tick(deadline, WINDOW, pacing));
            }
            actions.extend(episode.crossing(t * S, &reading(500), pacing));
        }
        assert_eq!(actions, [Action::Pressure]);
    }

    #[test]
    fn repeat_zero_logs_every_crossing() {
        let pacing = pacing(0, Some(5));
        let mut episode = Episode::Idle;
        for t in 0..4 {
            assert_eq!(
                episode.crossing(t * S, &reading(1), pacing),
                Some(Action::Pressure)
            );
        }
        assert_eq!(episode.deadline_us(WINDOW, pacing), Some(8 * S));
        assert!(matches!(
            episode.tick(8 * S, WINDOW, pacing),
            Some(Action::Recovered { crossings: 4, .. })
        ));
    }

    #[test]
    fn a_late_wake_up_skips_missed_reminders_without_drift() {
        let pacing = pacing(10, Some(1000));
        let mut episode = Episode::Idle;
        episode.crossing(0, &reading(1), pacing);
        assert_eq!(episode.deadline_us(WINDOW, pacing), Some(10 * S));
        assert!(matches!(
            episode.tick(35 * S, WINDOW, pacing),
            Some(Action::Ongoing { .. })
        ));
        assert_eq!(episode.deadline_us(WINDOW, pacing), Some(40 * S));
        assert_eq!(episode.tick(39 * S, WINDOW, pacing), None);
    }

    #[test]
    fn a_new_episode_after_recovery_starts_with_pressure() {
        let pacing = pacing(60, Some(4));
        let mut episode = Episode::Idle;
        episode.crossing(0, &reading(1), pacing);
        assert!(matches!(
            episode.tick(4 * S, WINDOW, pacing),
            Some(Action::Recovered { .. })
        ));
        assert_eq!(
            episode.crossing(5 * S, &reading(1), pacing),
            Some(Action::Pressure)
        );
        assert_eq!(episode.duration_us(7 * S), 2 * S);
    }

    #[test]
    fn ending_closes_an_active_episode_only() {
        let pacing = pacing(60, None);
        let mut episode = Episode::Idle;
        assert_eq!(episode.end(), None);
        episode.crossing(S, &reading(700), pacing);
        episode.crossing(3 * S, &reading(900), pacing);
        assert_eq!(
            episode.end(),
            Some(Action::Recovered {
                duration_us: 2 * S,
                crossings: 2,
                peak_avg10: Hundredths(900)
            })
        );
        assert_eq!(episode, Episode::Idle);
    }
}
