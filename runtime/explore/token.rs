//! The replay token: one line that names a schedule (EXPLORE-8).
//!
//! ```text
//! EVLOOP_REPLAY=v1:0.1.0:r:3=1,7=2:5e1d0c0b9a8f7e6d
//!               │  │     │ │       └ FNV-1a 64 of the run's timeline (checked on replay)
//!               │  │     │ └ deviations from FIFO: choice point #3 took option 1, #7 option 2
//!               │  │     │   (every other choice point took option 0); "-" for none
//!               │  │     └ mode: c = conformance, r = robustness
//!               │  └ evloop version that made it: choice points may change between versions
//!               └ token format
//! ```

use super::Mode;
use std::fmt;

/// The token format this build writes and reads.
pub(crate) const FORMAT: &str = "v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) mode: Mode,
    /// (choice point ordinal, option) for every non-FIFO answer, ordinals ascending.
    pub(crate) deviations: Vec<(usize, usize)>,
    pub(crate) timeline_hash: u64,
}

impl Token {
    /// The dense answer list a [`super::choice::PrefixChooser`] follows.
    pub(crate) fn prefix(&self) -> Vec<usize> {
        let len = self.deviations.last().map_or(0, |&(i, _)| i + 1);
        let mut v = vec![0; len];
        for &(i, c) in &self.deviations {
            v[i] = c;
        }
        v
    }

    pub(crate) fn parse(text: &str) -> Result<Token, String> {
        let text = text.trim();
        let text = text.strip_prefix("EVLOOP_REPLAY=").unwrap_or(text);
        let text = text.trim_matches(|c| c == '\'' || c == '"');
        let parts: Vec<&str> = text.split(':').collect();
        let bad = |why: &str| {
            format!(
                "evloop explore: `{text}` is not a replay token ({why}); expected \
                 `{FORMAT}:<evloop version>:<c|r>:<deviations>:<hash>` as printed by a failed \
                 exploration"
            )
        };
        if parts.first().is_some_and(|f| *f != FORMAT) && parts[0].starts_with('v') {
            return Err(format!(
                "evloop explore: the replay token `{text}` uses format {}, but this evloop \
                 ({}) reads only {FORMAT}: re-run the exploration with this version to get a \
                 new token",
                parts[0],
                env!("CARGO_PKG_VERSION")
            ));
        }
        if parts.len() != 5 {
            return Err(bad("it does not have five `:`-separated fields"));
        }
        if parts[1] != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "evloop explore: the replay token was made by evloop {}, but this is evloop {}; \
                 choice points can differ between versions, so replaying it could silently run \
                 a different schedule. Re-run the exploration with this version to get a new \
                 token",
                parts[1],
                env!("CARGO_PKG_VERSION")
            ));
        }
        let mode = match parts[2] {
            "c" => Mode::Conformance,
            "r" => Mode::Robustness,
            _ => return Err(bad("the mode is neither `c` nor `r`")),
        };
        let mut deviations = Vec::new();
        if parts[3] != "-" {
            for d in parts[3].split(',') {
                let (i, c) = d
                    .split_once('=')
                    .ok_or_else(|| bad("a deviation is not `point=option`"))?;
                let i: usize = i
                    .parse()
                    .map_err(|_| bad("a choice point is not a number"))?;
                let c: usize = c.parse().map_err(|_| bad("an option is not a number"))?;
                if c == 0 || deviations.last().is_some_and(|&(j, _)| j >= i) {
                    return Err(bad("deviations must be non-zero and in ascending order"));
                }
                deviations.push((i, c));
            }
        }
        let timeline_hash =
            u64::from_str_radix(parts[4], 16).map_err(|_| bad("the hash is not hexadecimal"))?;
        Ok(Token {
            mode,
            deviations,
            timeline_hash,
        })
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Conformance => "c",
            Mode::Robustness => "r",
        };
        write!(f, "{FORMAT}:{}:{mode}:", env!("CARGO_PKG_VERSION"))?;
        if self.deviations.is_empty() {
            f.write_str("-")?;
        }
        for (n, (i, c)) in self.deviations.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{i}={c}")?;
        }
        write!(f, ":{:016x}", self.timeline_hash)
    }
}
