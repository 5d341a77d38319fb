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
//!
//! A token is text from outside (the environment, a bug report), so parsing it never panics, and
//! what it costs is bounded by its length, never by the numbers in it: the deviations stay
//! sparse, and no ordinal or option above [`MAX_NUMBER`] is accepted (EXPLORE-17, EXPLORE-19).
//! Every token this build prints parses back to itself (EXPLORE-19).
//!
//! Spec ids: EXPLORE-8, EXPLORE-17, EXPLORE-19.

use super::config::Mode;
use std::fmt;

/// The token format this build writes and reads.
pub(crate) const FORMAT: &str = "v1";

/// The largest choice-point ordinal or option a token may name. Each choice point of a run is
/// followed within a step or two by a timeline line (the item it picked, the job it delivered),
/// so a run that reached this ordinal would have recorded gigabytes of timeline first: a larger
/// number did not come from a run.
pub(crate) const MAX_NUMBER: usize = 1_000_000_000;

/// What a token looks like, for error messages.
const SHAPE: &str = "`v1:<evloop version>:<c|r>:<deviations>:<hash>` (e.g. \
                     `v1:0.1.0:r:3=1,7=2:5e1d0c0b9a8f7e6d`), as a failed exploration prints it";

/// Where a token came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Env,
    Config,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) mode: Mode,
    /// (choice point ordinal, option) for every non-FIFO answer, ordinals ascending.
    pub(crate) deviations: Vec<(usize, usize)>,
    pub(crate) timeline_hash: u64,
}

/// `value` as an error message shows it: quoted, escaped, and cut short if it is long.
fn shown(value: &str) -> String {
    const MAX: usize = 120;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", value.chars().count())
    }
}

/// The setting that held `raw`, named as a user would write it.
fn setting(origin: Origin, raw: &str) -> String {
    match origin {
        Origin::Env => format!("EVLOOP_REPLAY={}", shown(raw)),
        Origin::Config => format!("Config::replay({})", shown(raw)),
    }
}

/// A decimal number of at most [`MAX_NUMBER`]; `what` names it in the error.
fn number(text: &str, what: &str) -> Result<usize, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{text}` is not a decimal number"));
    }
    // At most ten significant digits fit under MAX_NUMBER: a longer run is refused unparsed.
    let n = if text.trim_start_matches('0').len() <= 10 {
        text.parse().ok()
    } else {
        None
    };
    n.filter(|n| *n <= MAX_NUMBER)
        .ok_or_else(|| format!("{what} {text} is above {MAX_NUMBER}, more than any run reaches"))
}

impl Token {
    /// Parses a token as printed (with or without the `EVLOOP_REPLAY=` prefix and its quotes).
    /// Every refusal is one message that names the setting, the value, and what to do.
    pub(crate) fn parse(raw: &str, origin: Origin) -> Result<Token, String> {
        let text = raw.trim();
        let text = text.strip_prefix("EVLOOP_REPLAY=").unwrap_or(text);
        let text = text.trim_matches(|c| c == '\'' || c == '"').trim();
        let malformed = |why: String| {
            format!(
                "evloop explore: {} is not a replay token ({why}); expected {SHAPE}",
                setting(origin, raw)
            )
        };
        if text.is_empty() {
            let what = match (raw.is_empty(), raw.trim().is_empty()) {
                (true, _) => "empty",
                (false, true) => "blank",
                (false, false) => "empty once its prefix and quotes are taken off",
            };
            let todo = match origin {
                Origin::Env => "unset it to explore as configured, or set it to",
                Origin::Config => "pass",
            };
            return Err(format!(
                "evloop explore: {} is {what}: {todo} a replay token; expected {SHAPE}",
                setting(origin, raw)
            ));
        }
        if let Some(line) = evloop_model::tokens::harness_replay_token(text) {
            return Err(format!("evloop explore: {}: {line}", setting(origin, raw)));
        }
        let parts: Vec<&str> = text.split(':').collect();
        let format = parts[0];
        if format != FORMAT {
            let versioned = format.len() > 1
                && format.starts_with('v')
                && format[1..].bytes().all(|b| b.is_ascii_digit());
            if versioned {
                return Err(format!(
                    "evloop explore: {} uses token format {format}, but this evloop ({}) reads \
                     only {FORMAT}: re-run the exploration with this version to get a new token",
                    setting(origin, raw),
                    env!("CARGO_PKG_VERSION")
                ));
            }
            return Err(malformed(format!(
                "it starts with `{}`, not the format `{FORMAT}`",
                format.chars().take(20).collect::<String>()
            )));
        }
        if parts.len() != 5 {
            return Err(malformed(format!(
                "it has {} `:`-separated field(s), not 5",
                parts.len()
            )));
        }
        if parts[1] != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "evloop explore: {} was made by evloop {}, but this is evloop {}; choice points \
                 can differ between versions, so replaying it could silently run a different \
                 schedule. Re-run the exploration with this version to get a new token",
                setting(origin, raw),
                parts[1].chars().take(40).collect::<String>(),
                env!("CARGO_PKG_VERSION")
            ));
        }
        let mode = match parts[2] {
            "c" => Mode::Conformance,
            "r" => Mode::Robustness,
            _ => return Err(malformed("the mode is neither `c` nor `r`".to_owned())),
        };
        let mut deviations = Vec::new();
        if parts[3] != "-" {
            for d in parts[3].split(',') {
                let (i, c) = d.split_once('=').ok_or_else(|| {
                    malformed(format!(
                        "deviation `{}` is not `point=option`, and `-` means none",
                        d.chars().take(40).collect::<String>()
                    ))
                })?;
                let i = number(i, "choice point").map_err(&malformed)?;
                let c = number(c, "option").map_err(&malformed)?;
                if c == 0 {
                    return Err(malformed(format!(
                        "deviation `{i}=0` takes option 0, which is FIFO and never listed"
                    )));
                }
                if deviations.last().is_some_and(|&(j, _)| j >= i) {
                    return Err(malformed(format!(
                        "choice point {i} does not come after the one before it"
                    )));
                }
                deviations.push((i, c));
            }
        }
        let hash = parts[4];
        if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(
                "the hash is not 16 hexadecimal digits".to_owned(),
            ));
        }
        let timeline_hash = u64::from_str_radix(hash, 16).map_err(|e| malformed(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn token() -> impl Strategy<Value = Token> {
        let deviation = (0..=MAX_NUMBER, 1..=MAX_NUMBER);
        (
            any::<bool>(),
            proptest::collection::btree_map(deviation.0, deviation.1, 0..8),
            any::<u64>(),
        )
            .prop_map(|(robust, devs, timeline_hash)| Token {
                mode: if robust {
                    Mode::Robustness
                } else {
                    Mode::Conformance
                },
                deviations: devs.into_iter().collect(),
                timeline_hash,
            })
    }

    /// Text near a token: its pieces shuffled, repeated, cut, with stray characters, so the
    /// parser is driven past its first check.
    fn near_token() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("v1".to_owned()),
            Just(env!("CARGO_PKG_VERSION").to_owned()),
            Just("c".to_owned()),
            Just("r".to_owned()),
            Just("-".to_owned()),
            Just(":".to_owned()),
            Just(",".to_owned()),
            Just("=".to_owned()),
            Just("'".to_owned()),
            Just("EVLOOP_REPLAY=".to_owned()),
            Just("18446744073709551615".to_owned()),
            Just("99999999999999".to_owned()),
            "[0-9]{1,12}",
            "[0-9a-fA-F]{0,20}",
            any::<String>(),
        ];
        proptest::collection::vec(piece, 0..14).prop_map(|p| p.concat())
    }

    proptest! {
        /// EXPLORE-19: arbitrary text is refused with a message, never a panic or an abort.
        #[test]
        fn arbitrary_text_never_panics(text in prop_oneof![any::<String>(), near_token()]) {
            for origin in [Origin::Env, Origin::Config] {
                if let Err(e) = Token::parse(&text, origin) {
                    prop_assert!(e.starts_with("evloop explore: "), "{e}");
                }
            }
        }

        /// EXPLORE-19: every token as printed parses back to itself, also as the line a failure
        /// prints and as the shell command's quoted word.
        #[test]
        fn printed_tokens_parse_back_to_themselves(t in token()) {
            let printed = t.to_string();
            for text in [
                printed.clone(),
                format!("EVLOOP_REPLAY={printed}"),
                format!("EVLOOP_REPLAY='{printed}'"),
                format!("'{printed}'"),
                format!("\"{printed}\""),
                format!("  {printed}\n"),
            ] {
                prop_assert_eq!(Token::parse(&text, Origin::Env), Ok(t.clone()));
            }
        }
    }

    #[test]
    fn tokens_round_trip() {
        let t = Token {
            mode: Mode::Robustness,
            deviations: vec![(3, 1), (7, 2)],
            timeline_hash: 0xdead_beef,
        };
        assert_eq!(Token::parse(&t.to_string(), Origin::Env), Ok(t.clone()));
        let line = format!("EVLOOP_REPLAY={t}");
        assert_eq!(Token::parse(&line, Origin::Env), Ok(t));
    }

    #[test]
    fn numbers_above_the_bound_are_refused_without_allocating() {
        let v = env!("CARGO_PKG_VERSION");
        for n in ["99999999999999", "18446744073709551615", "1000000001"] {
            let e = Token::parse(&format!("v1:{v}:r:{n}=1:0000000000000000"), Origin::Config)
                .unwrap_err();
            assert!(e.contains("more than any run reaches"), "{e}");
        }
        let ok = format!("v1:{v}:r:{MAX_NUMBER}={MAX_NUMBER}:0000000000000000");
        assert!(Token::parse(&ok, Origin::Config).is_ok());
    }
}
