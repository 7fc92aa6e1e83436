//! The filter's counters, kept per worker and handed to the host once per tick.
//!
//! Each `proxy_increment_metric` is a call out of the VM; a cached-token request counted two
//! events (`allowed`, `token_cache_hits`), which were two of its five host calls. Counted here
//! instead, every event reaches the host's counter exactly, at the root context's next tick (every
//! second, [`crate::gateway::Worker::on_tick`]), as one addition per counter that moved.

use alloc::vec::Vec;

use super::Host;

/// Events counted since the last flush, per `dpop_gate_<group><name>` counter.
#[derive(Debug, Default)]
pub struct Counts {
    /// (group, name, events not yet handed over). Few distinct counters move between two ticks
    /// (two on the hot path), so a short list searched in order beats a map; entries stay, at 0,
    /// so a counter seen once costs no allocation again.
    pending: Vec<(&'static str, &'static str, u64)>,
}

impl Counts {
    /// Counts one `dpop_gate_<group><name>` event.
    pub fn add(&mut self, group: &'static str, name: &'static str) {
        self.add_n(group, name, 1);
    }

    /// Counts `n` events.
    pub fn add_n(&mut self, group: &'static str, name: &'static str, n: u64) {
        match self.pending.iter_mut().find(|(g, m, _)| *m == name && *g == group) {
            Some((_, _, count)) => *count = count.saturating_add(n),
            None => self.pending.push((group, name, n)),
        }
    }

    /// Events counted and not yet handed to the host, for `dpop_gate_<group><name>`.
    pub fn pending(&self, group: &str, name: &str) -> u64 {
        self.pending.iter().find(|(g, m, _)| *g == group && *m == name).map_or(0, |e| e.2)
    }

    /// Hands every counted event to the host, one call per counter that moved.
    pub fn flush(&mut self, host: &mut dyn Host) {
        for (group, name, count) in self.pending.iter_mut().filter(|e| e.2 > 0) {
            host.count(group, name, *count);
            *count = 0;
        }
    }
}
