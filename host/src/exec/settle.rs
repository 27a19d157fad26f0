//! Waiting a moment for a wall's reset time. Agents often print the limit
//! and its reset on separate lines, or in separate writes ("Usage limit
//! reached." then "Access resets at 3:45 PM."). Acting on the first line
//! alone would wall the account for the cooldown instead of until the real
//! reset, and wall it again at every cooldown's end. So a wall without a
//! reset is held for [`SETTLE`] (in `exec`) or one more read (in `wall
//! --from-output`), while detection goes on over the following output,
//! which the plugin sees with the earlier lines as context. Pure.

use std::time::Duration;

use crate::plugin::Wall;

/// How long `exec` waits for a reset after a wall without one.
pub const SETTLE: Duration = Duration::from_secs(1);

/// A wall found without a reset, waiting for one.
#[derive(Default)]
pub struct Settle {
    pending: Option<Wall>,
}

impl Settle {
    /// What detection found in the latest output. Returns the wall to act on
    /// now: one with a reset time; else nothing yet (a wall without a reset
    /// is kept, see [`Settle::take`]).
    pub fn found(&mut self, wall: Option<Wall>) -> Option<Wall> {
        match wall {
            Some(wall) if wall.resets_at.is_some() => {
                self.pending = None;
                Some(wall)
            }
            Some(wall) => {
                self.pending.get_or_insert(wall);
                None
            }
            None => None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Drop the wall kept waiting: the agent said it retries by itself.
    /// Returns whether one was kept.
    pub fn withdraw(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// The wall kept waiting, when no reset came in time.
    pub fn take(&mut self) -> Option<Wall> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::untrusted::Untrusted;

    fn wall(resets_at: Option<i64>, text: &str) -> Wall {
        Wall { resets_at, matched: Untrusted::new(text) }
    }

    #[test]
    fn a_reset_that_follows_wins() {
        let mut settle = Settle::default();
        assert_eq!(settle.found(None), None);
        assert_eq!(settle.found(Some(wall(None, "limit reached"))), None);
        assert!(settle.is_pending());
        assert_eq!(settle.found(Some(wall(None, "limit reached again"))), None);
        assert_eq!(settle.found(Some(wall(Some(9), "resets 3pm"))), Some(wall(Some(9), "resets 3pm")));
        assert!(!settle.is_pending());
    }

    #[test]
    fn a_wall_the_agent_retries_past_is_withdrawn() {
        let mut settle = Settle::default();
        settle.found(Some(wall(None, "rate limited")));
        assert!(settle.withdraw());
        assert_eq!(settle.take(), None);
        assert!(!settle.withdraw(), "nothing held");
    }

    #[test]
    fn without_a_reset_the_first_wall_is_taken() {
        let mut settle = Settle::default();
        settle.found(Some(wall(None, "first")));
        settle.found(Some(wall(None, "second")));
        assert_eq!(settle.take(), Some(wall(None, "first")));
        assert_eq!(settle.take(), None);
    }
}
