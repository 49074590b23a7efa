//! Calendar spans for `--keep-within`, written like restic's durations.
//!
//! Format: one or more `<number><unit>` pairs, no spaces, each unit at most once, in any
//! order. Units: `y` years, `m` months (not minutes), `w` weeks, `d` days, `h` hours.
//! Examples: `90d`, `1w`, `2y5m7d3h`. restic has no `w`; here it is simply 7 days.
//! A span must not be zero: a zero `--keep-within` would keep nothing by itself.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, FixedOffset, Months, TimeDelta};

/// A calendar span: years and months are calendar months, days are calendar days, all
/// counted in the time zone of the instant they are subtracted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    years: u32,
    months: u32,
    weeks: u32,
    days: u32,
    hours: u32,
}

/// A `--keep-within` value that is not a span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {text:?}: {problem}; write numbers with units y (years), m (months), \
     w (weeks), d (days), h (hours), e.g. \"90d\" or \"1y6m\""
)]
pub struct ParseSpanError {
    pub text: String,
    pub problem: String,
}

impl Span {
    /// The instant `self` before `t`. Months are subtracted first and clamp to the end of
    /// a shorter month (one month before 31 March is 29 February or 28 February).
    /// `None` when the result is before the calendar's range, i.e. "since forever".
    pub fn before(&self, t: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        let months = self.years.checked_mul(12)?.checked_add(self.months)?;
        let days = u64::from(self.weeks) * 7 + u64::from(self.days);
        t.checked_sub_months(Months::new(months))?
            .checked_sub_days(Days::new(days))?
            .checked_sub_signed(TimeDelta::try_hours(i64::from(self.hours))?)
    }
}

impl FromStr for Span {
    type Err = ParseSpanError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |problem: String| ParseSpanError {
            text: text.to_string(),
            problem,
        };
        if text.is_empty() {
            return Err(fail("it is empty".into()));
        }
        let mut span = Span::default();
        let mut seen = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                return Err(fail(format!("expected a number at {rest:?}")));
            }
            let number: u32 = rest[..digits]
                .parse()
                .map_err(|_| fail(format!("{} is too large", &rest[..digits])))?;
            let unit = rest[digits..]
                .chars()
                .next()
                .ok_or_else(|| fail(format!("{number} has no unit")))?;
            let field = match unit {
                'y' => &mut span.years,
                'm' => &mut span.months,
                'w' => &mut span.weeks,
                'd' => &mut span.days,
                'h' => &mut span.hours,
                other => return Err(fail(format!("unknown unit {other:?}"))),
            };
            if seen.contains(unit) {
                return Err(fail(format!("unit {unit:?} is given twice")));
            }
            seen.push(unit);
            *field = number;
            rest = &rest[digits + unit.len_utf8()..];
        }
        if span == Span::default() {
            return Err(fail("it is zero".into()));
        }
        Ok(span)
    }
}

/// Canonical form, units in the order y m w d h (used in keep reasons: "within 90d").
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.weeks, 'w'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ];
        for (n, unit) in parts.into_iter().filter(|(n, _)| *n > 0) {
            write!(f, "{n}{unit}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(years: u32, months: u32, weeks: u32, days: u32, hours: u32) -> Span {
        Span {
            years,
            months,
            weeks,
            days,
            hours,
        }
    }

    #[test]
    fn parses_each_unit_and_combinations() {
        let cases = [
            ("90d", span(0, 0, 0, 90, 0)),
            ("1w", span(0, 0, 1, 0, 0)),
            ("3h", span(0, 0, 0, 0, 3)),
            ("6m", span(0, 6, 0, 0, 0)),
            ("1y", span(1, 0, 0, 0, 0)),
            ("2y5m7d3h", span(2, 5, 0, 7, 3)),
            ("3h1y", span(1, 0, 0, 0, 3)),
            ("1y2w0d", span(1, 0, 2, 0, 0)),
            ("007d", span(0, 0, 0, 7, 0)),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Span>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn displays_canonically() {
        let cases = [
            ("90d", "90d"),
            ("2y5m7d3h", "2y5m7d3h"),
            ("3h1y", "1y3h"),
            ("1y2w0d", "1y2w"),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Span>().unwrap().to_string(), want, "{text}");
        }
    }

    #[test]
    fn rejects_bad_text_and_names_it() {
        let cases = [
            ("", "it is empty"),
            ("90", "90 has no unit"),
            ("d", "expected a number at \"d\""),
            ("5x", "unknown unit 'x'"),
            ("5D", "unknown unit 'D'"),
            ("1d1d", "unit 'd' is given twice"),
            ("0d", "it is zero"),
            ("-1d", "expected a number at \"-1d\""),
            ("1.5d", "unknown unit '.'"),
            ("7 d", "unknown unit ' '"),
            ("99999999999d", "99999999999 is too large"),
        ];
        for (text, problem) in cases {
            let err = text.parse::<Span>().unwrap_err();
            assert_eq!(err.problem, problem, "{text:?}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("invalid duration {text:?}: {problem}")),
                "{message}"
            );
        }
    }

    #[test]
    fn subtracts_in_calendar_terms_in_the_given_zone() {
        let tz = FixedOffset::east_opt(2 * 3600).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        let t = at("2024-03-31T10:00:00+02:00");
        let cases = [
            ("1m", "2024-02-29T10:00:00+02:00"),
            ("1y1m", "2023-02-28T10:00:00+02:00"),
            ("1w", "2024-03-24T10:00:00+02:00"),
            ("1d11h", "2024-03-29T23:00:00+02:00"),
            ("2y5m7d3h", "2021-10-24T07:00:00+02:00"),
        ];
        for (text, want) in cases {
            let got = text.parse::<Span>().unwrap().before(t).unwrap();
            assert_eq!(got, at(want), "{text}");
            assert_eq!(got.offset(), &tz);
        }
        assert_eq!("4000000000y".parse::<Span>().unwrap().before(t), None);
    }
}
