//! What the full parser's budget counts of anchors and aliases, as the
//! event path counts it while it builds aliased values.
//!
//! serde-saphyr counts anchors, aliases, the events an alias replays and the
//! events copied into anchors' buffers over the whole stream, and refuses a
//! stream past any of its limits. The event path builds aliases itself (a copy
//! of the anchored value) and answers only where the full parser could not
//! refuse: every count here is at least serde-saphyr's, and must stay within
//! half its limit. Anywhere near a limit, the full parser decides, with its
//! own counts and message.

use super::Limits;

/// serde-saphyr's `Budget::default()` limits that rewind leaves as they are.
const MAX_ALIASES: u64 = 50_000;
const MAX_ANCHORS: u64 = 50_000;
const MAX_RECORDED_BYTES: u64 = 64 << 20;
/// Its alias-to-anchor ratio check: from this many aliases, more than
/// [`RATIO`] per anchor is refused.
const RATIO_FROM: u64 = 100;
const RATIO: u64 = 10;

/// Counts of a text's (or a stream's) anchors and aliases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Aliases {
    /// Anchors defined: a redefined name counts again, as it does there.
    pub anchors: u64,
    /// Alias nodes.
    pub aliases: u64,
    /// Events the aliases replay: the anchored nodes' events, each time.
    pub replayed: u64,
    /// Events inside anchored nodes, once for each anchored node open around them.
    pub recorded: u64,
    /// Scalar bytes inside anchored nodes, counted as [`Aliases::recorded`].
    pub recorded_bytes: u64,
    /// Scalar bytes the aliases copy: not the full parser's count, but what
    /// bounds the memory the copies take here.
    pub replayed_bytes: u64,
}

impl Aliases {
    /// Whether nothing was anchored.
    pub fn is_empty(&self) -> bool {
        self.anchors == 0 && self.aliases == 0
    }

    /// Both counts together: two texts of one stream.
    #[must_use]
    pub fn add(self, other: Aliases) -> Aliases {
        Aliases {
            anchors: self.anchors + other.anchors,
            aliases: self.aliases + other.aliases,
            replayed: self.replayed + other.replayed,
            recorded: self.recorded + other.recorded,
            recorded_bytes: self.recorded_bytes + other.recorded_bytes,
            replayed_bytes: self.replayed_bytes + other.replayed_bytes,
        }
    }

    /// Whether a stream with these counts is surely within the full
    /// parser's budget under `limits`: each count at most half its limit
    /// (rewind's `max_alias_events` limits both the replayed and the recorded
    /// events), and no more than half the aliases per anchor that it allows;
    /// and the copies' bytes under the largest file's.
    pub fn within(&self, limits: &Limits) -> bool {
        let half = |limit: u64| limit / 2;
        let events = half(limits.max_alias_events as u64);
        self.anchors <= half(MAX_ANCHORS)
            && self.aliases <= half(MAX_ALIASES)
            && self.replayed <= events
            && self.recorded <= events
            && self.recorded_bytes <= half(MAX_RECORDED_BYTES)
            && self.replayed_bytes < limits.max_file_bytes
            && (self.aliases < RATIO_FROM || self.aliases <= half(RATIO) * self.anchors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_half_of_each_limit() {
        let limits = Limits::default();
        let some =
            Aliases { anchors: 2, aliases: 3, replayed: 30, recorded: 20, recorded_bytes: 100, replayed_bytes: 50 };
        assert!(some.within(&limits) && !some.is_empty() && Aliases::default().is_empty());
        let twice =
            Aliases { anchors: 4, aliases: 6, replayed: 60, recorded: 40, recorded_bytes: 200, replayed_bytes: 100 };
        assert_eq!(some.add(some), twice);
        let half = limits.max_alias_events as u64 / 2;
        for over in [
            Aliases { replayed: half + 1, ..some },
            Aliases { recorded: half + 1, ..some },
            Aliases { recorded_bytes: (32 << 20) + 1, ..some },
            Aliases { replayed_bytes: limits.max_file_bytes, ..some },
            Aliases { anchors: 25_001, aliases: 0, ..some },
            // 100 aliases of 10 anchors: under serde-saphyr's ratio, not under half of it.
            Aliases { anchors: 10, aliases: 100, ..some },
        ] {
            assert!(!over.within(&limits), "{over:?}");
        }
        assert!(Aliases { anchors: 20, aliases: 100, ..some }.within(&limits));
        assert!(Aliases { anchors: 1, aliases: 99, ..some }.within(&limits));
    }
}
