//! The lines that wait while the receiver cannot take them: bounded, the oldest dropped
//! first, and counted, so the next line delivered says exactly how many were lost.

use std::collections::VecDeque;

use syslog::Severity;

use super::header::Entry;
use crate::logfmt::LINE_CAPACITY;

/// Lines kept while the receiver is away. At one line per trigger per 2 s window (the
/// worst case without episodes) and the three default triggers, 128 lines span 85 s of
/// continuous alerts, longer than any syslogd or journald takes to restart; a boot
/// without /dev/log keeps the first 128. Each slot is `LINE_CAPACITY` bytes, reserved
/// once and touched only when used (RSS grows only during an outage). With more triggers
/// than that the queue holds one line per trigger (`Queue::fit`): each trigger logs at
/// most one line per turn of the loop, so a burst of all of them at once still fits.
pub const QUEUE_LINES: usize = 128;

/// A line waiting in the queue.
struct Queued {
    seconds: i64,
    severity: Severity,
    len: usize,
    body: [u8; LINE_CAPACITY],
}

impl Queued {
    fn body(&self) -> &str {
        std::str::from_utf8(&self.body[..self.len]).unwrap_or("event=invalid")
    }
}

pub struct Queue {
    /// Oldest first; never longer than `limit`.
    lines: VecDeque<Queued>,
    /// `QUEUE_LINES`, or the number of triggers when that is larger.
    limit: usize,
    /// Lines dropped since the last delivered one: the next one delivered carries it.
    dropped: u64,
}

impl Queue {
    pub fn new() -> Queue {
        Queue {
            lines: VecDeque::with_capacity(QUEUE_LINES),
            limit: QUEUE_LINES,
            dropped: 0,
        }
    }

    /// Lets the queue hold one line per trigger when there are more than `QUEUE_LINES`.
    /// The room is reserved, not touched: memory is used only while lines wait.
    pub fn fit(&mut self, triggers: usize) {
        self.limit = triggers.max(QUEUE_LINES);
        let room = self.limit.saturating_sub(self.lines.len());
        self.lines.reserve(room);
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines dropped since the last one delivered.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Copies the line in; a full queue loses its oldest line first, or the one after it
    /// when the oldest is `in_flight` (half sent on a stream: dropping it would garble
    /// the frame). Returns whether a line was dropped.
    pub fn push(&mut self, seconds: i64, severity: Severity, body: &str, in_flight: bool) -> bool {
        let full = self.lines.len() >= self.limit;
        if full {
            self.lines.remove(usize::from(in_flight));
            self.dropped += 1;
        }
        let len = body.len().min(LINE_CAPACITY);
        let mut queued = Queued {
            seconds,
            severity,
            len,
            body: [0; LINE_CAPACITY],
        };
        queued.body[..len].copy_from_slice(&body.as_bytes()[..len]);
        self.lines.push_back(queued);
        full
    }

    /// The oldest line, as it goes out: its time, its severity, and the count of lines
    /// dropped before it.
    pub fn front(&self) -> Option<(Entry<'_>, Severity)> {
        let front = self.lines.front()?;
        let entry = Entry {
            seconds: front.seconds,
            body: front.body(),
            dropped: self.dropped,
        };
        Some((entry, front.severity))
    }

    /// The oldest line was delivered, carrying `carried` as its `dropped=`.
    pub fn delivered(&mut self, carried: u64) {
        self.lines.pop_front();
        self.dropped -= carried.min(self.dropped);
    }

    /// The oldest line can never be delivered (the receiver refused it); returns its body.
    pub fn discard_front(&mut self) -> Option<String> {
        self.lines.pop_front().map(|q| q.body().to_string())
    }

    /// A line went out directly, with `dropped` as its count.
    pub fn sent_directly(&mut self, carried: u64) {
        self.dropped -= carried.min(self.dropped);
    }

    /// The bodies still waiting, oldest first.
    pub fn bodies(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(Queued::body)
    }
}
